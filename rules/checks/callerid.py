"""Caller-ID honesty (issue 4): every outbound call's caller ID, checked before it is dialled.

Which jurisdiction's rules apply:
- presentation, length, dialability and the FR/UK/DE/AU rules follow the callee's country
  (the network the call lands on enforces them);
- premium-rate and inbound-only ranges follow the caller ID's own numbering plan;
- ownership, neighbour spoofing, same-as-callee and do-not-originate apply everywhere.

Ownership applies to a person dialling as much as to a dialler: deceptive caller identity is
prohibited for everyone (47 CFR 64.1604; regulations.md 6.6). A person's emergency call is
decided before these rules run, so it is never blocked by them.

Each rule yields exactly one finding; a rule that cannot apply (no readable caller ID, wrong
jurisdiction or purpose) yields SKIP, so the audit record shows every rule consulted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import phonenumbers

from rules.callerid import FR_CITATION, PREMIUM_TYPE_CITATION
from rules.context import RuleContext
from rules.location import law_country
from rules.models import Finding, FindingVerdict, Purpose, presentation_allowed

CLI_CITATION = (
    "47 CFR 64.1601(e) and 16 CFR 310.4(a)(8): transmit caller ID; PECR reg 21(A1); "
    "AU Industry Standard 2017: CLI must be enabled"
)
INVALID_CITATION = (
    "FCC 2017 call-blocking order and 47 CFR 64.1200(o): invalid, unallocated or unassigned "
    "caller IDs are blocked; Ofcom GC C6: valid, dialable CLI; TNV §11 (DE): unassigned numbers"
)
OWNERSHIP_CITATION = (
    "47 U.S.C. 227(e) and 47 CFR 64.1604 (Truth in Caller ID); TDDDG §15(2): the number "
    "assigned to the caller; regulations.md 6.6: assigned to or authorised for the caller"
)
SAME_CITATION = (
    "FCC consumer guide 'Caller ID spoofing': calls showing the called party's own number; "
    "47 CFR 64.1604"
)
NEIGHBOUR_CITATION = (
    "FCC consumer guide 'Caller ID spoofing' (neighbor spoofing: same area code and first three "
    "digits); FCC Cox/Jones/Sumco order 2022; 47 CFR 64.1604"
)
DNO_CITATION = "47 CFR 64.1200(o) (FCC 25-15); Ofcom CLI guidance: DNO list"
AU_LENGTH_CITATION = (
    "Communications Alliance C661:2020: an AU CLI is 11 digits in E.164; CLIs of 7 or fewer or "
    "13 or more digits are blocked (voipline.net.au notice)"
)
UK_CITATION = (
    "Ofcom General Condition C6 and CLI guidance: a valid, dialable UK CLI of 10 or 11 digits "
    "(statement 2022, in force 15 May 2023)"
)
DE_CITATION = (
    "TDDDG §15(2): advertising calls must transmit the number assigned to the caller; TNV §11 "
    "(use of unassigned numbers)"
)
AU_CALLBACK_CITATION = (
    "Telecommunications (Telemarketing and Research Calls) Industry Standard 2017: the CLI must "
    "be a number the recipient can call back for at least 30 days (donotcall.gov.au)"
)

_ANONYMOUS = frozenset({"", "unknown", "anonymous", "<unknown>", "restricted", "private"})
_NOT_CALLABLE_TYPES = frozenset({"pager", "voicemail"})


@lru_cache(maxsize=1024)
def _skip(rule: str, reason: str) -> Finding:
    # One finding per distinct skip: it says nothing about the call beyond its words.
    return Finding(rule, FindingVerdict.SKIP, reason)


# A constant: this finding does not depend on the call.
_DIFFERS = Finding(
    "callerid.same_as_callee",
    FindingVerdict.ALLOW,
    "the caller ID differs from the callee",
    SAME_CITATION,
)


def _usable_cid(ctx: RuleContext) -> str | None:
    """The caller ID in E.164 when it is present and valid, else None."""
    cid = ctx.caller_id
    return cid.e164 if cid is not None and cid.e164 is not None and cid.valid else None


def _is_missing(raw: str | None) -> bool:
    return raw is None or raw.strip().lower() in _ANONYMOUS


def _e164_digits(ctx: RuleContext) -> str | None:
    """The presented caller ID as E.164 digits, even when phonenumbers calls it impossible."""
    cid = ctx.caller_id
    if cid is None:
        return None
    if cid.digits is not None:
        return cid.digits
    raw = (ctx.attempt.caller_id or "").strip()
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else ctx.region)
    except phonenumbers.NumberParseException:
        return None
    return f"{number.country_code}{number.national_number}"


def presented(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.missing`, `callerid.withheld`: a caller ID is sent and shown where required."""
    attempt = ctx.attempt
    if _is_missing(attempt.caller_id):
        yield Finding(
            "callerid.missing",
            FindingVerdict.BLOCK,
            "no caller ID is presented: set the caller ID number on the outbound channel",
            CLI_CITATION,
        )
        return
    pres = attempt.caller_id_presentation
    if presentation_allowed(pres):
        yield Finding(
            "callerid.presented",
            FindingVerdict.ALLOW,
            f"the caller ID {attempt.caller_id} is presented (agi_callingpres {pres})",
            CLI_CITATION,
        )
        return
    policy = ctx.policy.callerid
    country = ctx.location.country
    rule = policy.presentation_rules.get(country) if country else None
    shown = "restricted" if pres & 0x60 == 0x20 else "unavailable"
    if rule is not None and attempt.purpose in rule.purposes:
        yield Finding(
            "callerid.withheld",
            FindingVerdict.BLOCK,
            f"the caller ID {attempt.caller_id} is withheld (agi_callingpres {pres}: {shown}) "
            f"and {rule.label}",
            rule.citation,
            rule.unverified,
        )
    elif policy.always_require_presentation:
        yield Finding(
            "callerid.withheld",
            FindingVerdict.BLOCK,
            f"the caller ID {attempt.caller_id} is withheld (agi_callingpres {pres}: {shown}) "
            "and this PBX requires every call to show its caller ID",
            "dialguard.toml [callerid] always_require_presentation",
        )
    else:
        yield Finding(
            "callerid.withheld",
            FindingVerdict.ALLOW,
            f"the caller ID is withheld (agi_callingpres {pres}), which {country or 'the callee'}"
            f" allows for {attempt.purpose.value} calls",
            CLI_CITATION,
        )


def number_plan(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.length`, `callerid.invalid`: a possible, assigned number of the right length."""
    if _is_missing(ctx.attempt.caller_id):
        yield _skip("callerid.invalid", "no caller ID to check")
        return
    raw = ctx.attempt.caller_id
    digits = _e164_digits(ctx)
    if digits is not None:
        length = _au_length_problem(digits, ctx.location.country == "AU")
        if length is not None:
            yield Finding(
                "callerid.length",
                FindingVerdict.BLOCK,
                f"the caller ID {raw} has {len(digits)} digits in E.164 and {length}",
                AU_LENGTH_CITATION,
                unverified=True,
            )
            return
    cid = ctx.caller_id
    if cid is None or cid.e164 is None or not cid.valid:
        problem = cid.problem if cid is not None else "cannot be read"
        yield Finding(
            "callerid.invalid",
            FindingVerdict.BLOCK,
            f"the caller ID {raw!r} {problem}, so carriers block the call as invalid or unassigned",
            INVALID_CITATION,
        )
        return
    yield Finding(
        "callerid.valid",
        FindingVerdict.ALLOW,
        f"the caller ID {cid.e164} is a valid {cid.country} {cid.number_type} number",
        INVALID_CITATION,
    )


def _au_length_problem(digits: str, callee_in_au: bool) -> str | None:
    if digits.startswith("61") and len(digits) != 11:
        return "an Australian caller ID must have 11 (61 and 9 digits)"
    if callee_in_au and (len(digits) <= 7 or len(digits) >= 13):
        return "Australian carriers block caller IDs of 7 or fewer or 13 or more digits"
    return None


def forbidden_range(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.premium`, `callerid.inbound_only`: ranges that may never be presented."""
    cid = ctx.caller_id
    if cid is None or cid.e164 is None:
        yield _skip("callerid.premium", "no readable caller ID to check")
        return
    hit = ctx.policy.callerid.forbidden_range_for(cid.e164)
    if hit is not None:
        yield Finding(
            f"callerid.{hit.kind}",
            FindingVerdict.BLOCK,
            f"the caller ID {cid.e164} is {hit.label}, which may not be presented as caller ID",
            hit.citation,
            hit.unverified,
        )
        return
    if cid.number_type == "premium_rate":
        yield Finding(
            "callerid.premium",
            FindingVerdict.BLOCK,
            f"the caller ID {cid.e164} is a premium-rate number in {cid.country}, which may not "
            "be presented as caller ID",
            "ITU-T E.164 numbering plan (phonenumbers: PREMIUM_RATE); " + PREMIUM_TYPE_CITATION,
            unverified=True,
        )
        return
    yield Finding(
        "callerid.premium",
        FindingVerdict.ALLOW,
        f"the caller ID {cid.e164} is not a premium-rate or inbound-only number",
        PREMIUM_TYPE_CITATION,
    )


def same_as_callee(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.same_as_callee`: a call must not show the callee their own number."""
    cid, dest = _usable_cid(ctx), ctx.destination.e164
    if cid is None or dest is None:
        yield _skip("callerid.same_as_callee", "no valid caller ID and destination to compare")
        return
    if cid == dest:
        yield Finding(
            "callerid.same_as_callee",
            FindingVerdict.BLOCK,
            f"the caller ID {cid} is the called number itself: a call must not show the callee "
            "their own number",
            SAME_CITATION,
        )
        return
    yield _DIFFERS


def do_not_originate(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.dno`: the caller ID is on a do-not-originate list."""
    cid = _usable_cid(ctx)
    if cid is None:
        yield _skip("callerid.dno", "no valid caller ID to look up")
        return
    hits = ctx.facts.caller_id_register_hits
    if not hits:
        names = ", ".join(s.name for s in ctx.policy.caller_id_registers()) or "none configured"
        yield Finding(
            "callerid.dno",
            FindingVerdict.ALLOW,
            f"the caller ID {cid} is on no do-not-originate list ({names})",
            DNO_CITATION,
        )
        return
    for name in sorted(hits):
        spec = ctx.policy.registers.get(name)
        label = spec.label if spec is not None and spec.label else name
        yield Finding(
            "callerid.dno",
            FindingVerdict.BLOCK,
            f"the caller ID {cid} is on the {label} ({name}): carriers block calls claiming to "
            "come from it",
            spec.citation if spec is not None else DNO_CITATION,
            spec.unverified if spec is not None else False,
            details={"register": name},
        )


def _tenant_owns(ctx: RuleContext, cid: str) -> bool:
    tenant = ctx.attempt.tenant
    return any(r.tenant == tenant and r.number == cid for r in ctx.facts.caller_id_records)


def ownership(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.not_owned`: the tenant owns or is authorised to present the caller ID."""
    cid = _usable_cid(ctx)
    tenant = ctx.attempt.tenant
    if cid is None:
        yield _skip("callerid.not_owned", "no valid caller ID to look up in the inventory")
        return
    records = [r for r in ctx.facts.caller_id_records if r.number == cid]
    mine = [r for r in records if r.tenant == tenant]
    if mine:
        pool = f" (pool {mine[0].pool})" if mine[0].pool else ""
        yield Finding(
            "callerid.not_owned",
            FindingVerdict.ALLOW,
            f"the caller ID {cid} is in tenant {tenant}'s inventory{pool}",
            OWNERSHIP_CITATION,
            details={"pool": mine[0].pool} if mine[0].pool else {},
        )
        return
    others = sorted({r.tenant for r in records})
    elsewhere = f"; it is registered to tenant {', '.join(others)}" if others else ""
    if not ctx.facts.tenant_has_inventory:
        if not ctx.policy.callerid.require_inventory:
            yield _skip(
                "callerid.not_owned",
                f"tenant {tenant} has no caller-ID inventory and [callerid] require_inventory "
                "is false, so ownership is not checked",
            )
            return
        yield Finding(
            "callerid.not_owned",
            FindingVerdict.BLOCK,
            f"tenant {tenant} has no caller-ID inventory, so {cid} cannot be shown to be its "
            f"number{elsewhere}: add it with `dialguard callerid add {cid} --tenant {tenant}`",
            OWNERSHIP_CITATION,
        )
        return
    yield Finding(
        "callerid.not_owned",
        FindingVerdict.BLOCK,
        f"the caller ID {cid} is not in tenant {tenant}'s inventory of numbers it may "
        f"present{elsewhere}",
        OWNERSHIP_CITATION,
    )


def neighbour_spoof(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.neighbour_spoof`: a caller ID that mimics the callee's local exchange."""
    n = ctx.policy.callerid.neighbour_digits
    cid, dest = ctx.caller_id, ctx.destination
    if n == 0:
        yield _skip("callerid.neighbour_spoof", "neighbour-spoof check is off (neighbour_digits 0)")
        return
    cid_e164 = _usable_cid(ctx)
    if cid is None or cid_e164 is None or dest.e164 is None or cid_e164 == dest.e164:
        yield _skip("callerid.neighbour_spoof", "no distinct valid caller ID and callee to compare")
        return
    cid_cc, dest_cc = cid.country_code, dest.country_code
    shared = cid_cc == dest_cc and (cid.national or "")[:n] == (dest.national or "")[:n]
    if not shared or len(dest.national or "") <= n:
        yield Finding(
            "callerid.neighbour_spoof",
            FindingVerdict.ALLOW,
            f"the caller ID {cid_e164} does not share the callee's first {n} national digits",
            NEIGHBOUR_CITATION,
        )
        return
    prefix = f"+{cid_cc} {(dest.national or '')[:n]}"
    what = "area code and exchange (NPA-NXX)" if cid_cc == 1 and n == 6 else "leading digits"
    if _tenant_owns(ctx, cid_e164):
        yield Finding(
            "callerid.neighbour_spoof",
            FindingVerdict.ALLOW,
            f"the caller ID {cid_e164} shares the callee's {what} {prefix} but is tenant "
            f"{ctx.attempt.tenant}'s own number",
            NEIGHBOUR_CITATION,
        )
        return
    yield Finding(
        "callerid.neighbour_spoof",
        FindingVerdict.BLOCK,
        f"the caller ID {cid_e164} shares the callee's {what} {prefix} and is not tenant "
        f"{ctx.attempt.tenant}'s number: this is neighbour spoofing",
        NEIGHBOUR_CITATION,
    )


def uk_dialable(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.uk_not_dialable`: calls to the UK present a valid, dialable CLI."""
    rule = "callerid.uk_not_dialable"
    if ctx.location.country != "GB":
        yield _skip(rule, "the callee is not in the UK")
        return
    cid = _usable_cid(ctx)
    if cid is None or ctx.caller_id is None:
        yield _skip(rule, "no valid caller ID to check")
        return
    parsed = ctx.caller_id
    problem: str | None = None
    if parsed.country == "GB" and len(parsed.national or "") + 1 not in (10, 11):
        problem = (
            f"has {len(parsed.national or '') + 1} digits, and a UK caller ID must have 10 or 11"
        )
    elif not _internationally_dialable(cid) and parsed.country != "GB":
        problem = "cannot be dialled from the UK"
    elif parsed.number_type in _NOT_CALLABLE_TYPES:
        problem = f"is a {parsed.number_type} number, which cannot be called back"
    if problem is not None:
        yield Finding(
            rule,
            FindingVerdict.BLOCK,
            f"the caller ID {cid} {problem}: UK networks block calls without a valid, dialable "
            "caller ID",
            UK_CITATION,
            unverified=True,
        )
        return
    yield Finding(
        rule,
        FindingVerdict.ALLOW,
        f"the caller ID {cid} is valid and dialable in the UK",
        UK_CITATION,
    )


def fr_canvassing(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.fr_mobile`, `callerid.fr_canvassing_range`: ARCEP ranges for canvassing."""
    if ctx.location.country != "FR":
        yield _skip("callerid.fr_canvassing_range", "the callee is not in France")
        return
    cid, parsed = _usable_cid(ctx), ctx.caller_id
    if cid is None or parsed is None:
        yield _skip("callerid.fr_canvassing_range", "no valid caller ID to check")
        return
    policy = ctx.policy.callerid
    canvassing = ctx.attempt.purpose is Purpose.TELEMARKETING
    national = parsed.national or ""
    # A number of French law: the overseas departments' (+262, +590...) are written and
    # allocated in France's plan too (ARCEP's 09475-09479 are theirs).
    is_fr = law_country(parsed) == "FR"
    mobile = is_fr and national.startswith(policy.fr_mobile_prefixes)
    if mobile and (canvassing or ctx.attempt.is_machine):
        yield Finding(
            "callerid.fr_mobile",
            FindingVerdict.BLOCK,
            f"the caller ID {cid} is a French 06/07 mobile number, which may not be used "
            "for commercial or automated calls",
            FR_CITATION,
            unverified=True,
        )
        return
    if not canvassing:
        yield _skip(
            "callerid.fr_canvassing_range",
            f"the ARCEP canvassing ranges apply to telemarketing, not {ctx.attempt.purpose.value}",
        )
        return
    if is_fr and national.startswith(policy.fr_canvassing_ranges):
        yield Finding(
            "callerid.fr_canvassing_range",
            FindingVerdict.ALLOW,
            f"the caller ID {cid} is in an ARCEP canvassing range",
            FR_CITATION,
            unverified=True,
        )
        return
    ranges = ", ".join("0" + p for p in policy.fr_canvassing_ranges)
    yield Finding(
        "callerid.fr_canvassing_range",
        FindingVerdict.BLOCK,
        f"the caller ID {cid} is not in the ARCEP canvassing ranges ({ranges}), which "
        "telemarketing calls to France must use",
        FR_CITATION,
        unverified=True,
    )


def de_assigned(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.de_not_assigned`: German advertising calls send the caller's assigned number."""
    rule = "callerid.de_not_assigned"
    if ctx.location.country != "DE" or ctx.attempt.purpose is not Purpose.TELEMARKETING:
        yield _skip(rule, "applies to advertising calls to Germany only")
        return
    cid = _usable_cid(ctx)
    if cid is None:
        yield _skip(rule, "no valid caller ID to check")
        return
    if _tenant_owns(ctx, cid):
        yield Finding(
            rule,
            FindingVerdict.ALLOW,
            f"the caller ID {cid} is assigned to the tenant",
            DE_CITATION,
        )
        return
    # Stricter than require_inventory: the German rule needs the assigned number, so an empty
    # inventory is no excuse here.
    yield Finding(
        rule,
        FindingVerdict.BLOCK,
        f"the caller ID {cid} is not recorded as assigned to tenant {ctx.attempt.tenant}, and "
        "German advertising calls must transmit the caller's assigned number",
        DE_CITATION,
    )


def au_callable(ctx: RuleContext) -> Iterable[Finding]:
    """`callerid.au_not_callable`: calls to Australia show a number the callee can call back."""
    rule = "callerid.au_not_callable"
    if ctx.location.country != "AU":
        yield _skip(rule, "the callee is not in Australia")
        return
    cid, parsed = _usable_cid(ctx), ctx.caller_id
    if cid is None or parsed is None:
        yield _skip(rule, "no valid caller ID to check")
        return
    problem: str | None = None
    if parsed.number_type in _NOT_CALLABLE_TYPES:
        problem = f"is a {parsed.number_type} number"
    elif parsed.country != "AU" and not _internationally_dialable(cid):
        problem = "cannot be dialled from outside its country"
    if problem is not None:
        yield Finding(
            rule,
            FindingVerdict.BLOCK,
            f"the caller ID {cid} {problem}, so the callee cannot call it back as Australian "
            "rules require",
            AU_CALLBACK_CITATION,
        )
        return
    yield Finding(
        rule, FindingVerdict.ALLOW, f"the caller ID {cid} can be called back", AU_CALLBACK_CITATION
    )


@lru_cache(maxsize=4096)
def _internationally_dialable(e164: str) -> bool:
    # Cached: it parses the number again, and caller IDs repeat all day.
    try:
        return bool(phonenumbers.can_be_internationally_dialled(phonenumbers.parse(e164, None)))
    except phonenumbers.NumberParseException:
        return False


# Every check but same_as_callee and neighbour_spoof reads only what `_shared_key` holds, not
# the callee's number: a dialler's calls from one caller ID share their findings.
_BEFORE_SAME = (presented, number_plan, forbidden_range)
_BEFORE_NEIGHBOUR = (do_not_originate,)
_AFTER_NEIGHBOUR = (ownership, uk_dialable, fr_canvassing, de_assigned, au_callable)

CHECKS = (
    *_BEFORE_SAME,
    same_as_callee,
    *_BEFORE_NEIGHBOUR,
    neighbour_spoof,
    *_AFTER_NEIGHBOUR,
)

_SHARED_MAX = 4096  # distinct keys kept per policy before the memo starts over

_Shared = tuple[tuple[Finding, ...], tuple[Finding, ...], tuple[Finding, ...]]


def family(ctx: RuleContext) -> Iterable[Finding]:
    """Every check in CHECKS, in order, with the number-independent findings memoised."""
    before_same, before_neighbour, after_neighbour = _shared(ctx)
    yield from before_same
    yield from same_as_callee(ctx)
    yield from before_neighbour
    yield from neighbour_spoof(ctx)
    yield from after_neighbour


def _shared_key(ctx: RuleContext) -> tuple[object, ...]:
    """Everything the memoised checks read, apart from the policy (the memo is the policy's)."""
    attempt, facts = ctx.attempt, ctx.facts
    return (
        attempt.caller_id,
        attempt.caller_id_presentation,
        attempt.purpose,
        attempt.tenant,
        attempt.is_machine,
        ctx.region,
        ctx.caller_id,
        ctx.location.country,
        facts.caller_id_records,
        facts.tenant_has_inventory,
        frozenset(facts.caller_id_register_hits.items()),
    )


def _shared(ctx: RuleContext) -> _Shared:
    key = _shared_key(ctx)
    try:
        hash(key)
    except TypeError:  # facts built with lists rather than tuples: no memo, same findings
        return _run_shared(ctx)
    memo = ctx.policy.memo("callerid")
    found: _Shared | None = memo.get(key)
    if found is None:
        if len(memo) >= _SHARED_MAX:
            memo.clear()
        found = memo[key] = _run_shared(ctx)
    return found


def _run_shared(ctx: RuleContext) -> _Shared:
    def run(checks: tuple[Callable[[RuleContext], Iterable[Finding]], ...]) -> tuple[Finding, ...]:
        return tuple(f for check in checks for f in check(ctx))

    return run(_BEFORE_SAME), run(_BEFORE_NEIGHBOUR), run(_AFTER_NEIGHBOUR)
