"""Caller-ID honesty (issue 4). The foundation checks: present, and a valid number."""

from __future__ import annotations

from collections.abc import Iterable

from rules.context import RuleContext
from rules.models import Finding, FindingVerdict, presentation_allowed

CLI_CITATION = (
    "47 CFR 64.1601(e) and 16 CFR 310.4(a)(8): transmit caller ID; PECR reg 21(A1); "
    "AU Industry Standard 2017: CLI must be enabled"
)


def presented(ctx: RuleContext) -> Iterable[Finding]:
    attempt = ctx.attempt
    if not attempt.caller_id or attempt.caller_id.strip().lower() in ("", "unknown", "anonymous"):
        yield Finding(
            "callerid.missing", FindingVerdict.BLOCK, "no caller ID is presented", CLI_CITATION
        )
        return
    if not presentation_allowed(attempt.caller_id_presentation):
        yield Finding(
            "callerid.withheld",
            FindingVerdict.BLOCK,
            f"the caller ID {attempt.caller_id} is withheld "
            f"(presentation {attempt.caller_id_presentation})",
            CLI_CITATION,
        )
        return
    cid = ctx.caller_id
    if cid is None or cid.e164 is None or not cid.valid:
        problem = cid.problem if cid is not None else "is missing"
        yield Finding(
            "callerid.invalid",
            FindingVerdict.BLOCK,
            f"the caller ID {attempt.caller_id!r} {problem}",
            CLI_CITATION,
        )
        return
    yield Finding(
        "callerid.valid",
        FindingVerdict.ALLOW,
        f"caller ID {cid.e164} is presented and valid",
        CLI_CITATION,
    )


CHECKS = (presented,)
