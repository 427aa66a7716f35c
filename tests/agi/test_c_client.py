"""The FastAGI server against bench/agi_client.c, a C client that reads commands through a real
stdio buffer (fdopen, setlinebuf, poll, fgets) as Asterisk's run_agi does, where
fake_asterisk.py models that buffer in Python. Needs a C compiler, as the benchmark does."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agi.server import start_agi_server
from tests.agi.test_server import FakeService, allow_answered_env

SOURCE = Path(__file__).resolve().parents[2] / "bench" / "agi_client.c"
COMPILER = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
DEADLINE_MS = 1000  # a command stuck in the stdio buffer would hold its call this long

pytestmark = pytest.mark.skipif(
    COMPILER is None, reason="building bench/agi_client.c needs a C compiler (cc, gcc or $CC)"
)


@pytest.fixture(name="c_client", scope="module")
def _c_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert COMPILER is not None
    binary = tmp_path_factory.mktemp("c-client") / "agi_client"
    subprocess.run([COMPILER, "-O2", "-pthread", "-o", str(binary), str(SOURCE)], check=True)
    return binary


def env_template(port: int) -> str:
    """The recorded environment as agi_client.c takes it: markers for the number it dials and
    the call's uniqueid."""
    markers = {
        "agi_arg_1": "@NUMBER@",
        "agi_uniqueid": "@UNIQUEID@",
        "agi_request": f"agi://127.0.0.1:{port}/check",
        "agi_network_script": "check",
    }
    lines = []
    for line in allow_answered_env():
        name = line.split(": ", 1)[0]
        lines.append(f"{name}: {markers[name]}\n" if name in markers else line)
    return "".join(lines)


async def run_c_client(binary: Path, port: int, template: Path, *args: str) -> list[str]:
    template.write_text(env_template(port))
    proc = await asyncio.create_subprocess_exec(
        binary, str(port), str(template), *args, stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    return out.decode().splitlines()


async def test_calls_from_a_c_stdio_client_end_with_their_verdict_at_once(
    c_client: Path, tmp_path: Path
) -> None:
    service = FakeService()
    server = await start_agi_server("127.0.0.1", 0, service, deadline_ms=DEADLINE_MS)
    try:
        # Four threads calling back to back for 0.3 s, each number +61 4xx xxx xxx.
        args = ["closed", "4", "0.3", "7", "61400000000", "100000000", "acme", "spring"]
        lines = await run_c_client(c_client, server.port, tmp_path / "env.txt", *args)
    finally:
        await server.shutdown()
    assert "errors 0" in lines
    calls = [line.split(" ") for line in lines if line.startswith("call ")]
    assert len(calls) >= 8
    assert {(verdict, rule) for _, _, verdict, rule, _ in calls} == {("ALLOW", "-")}
    # Every command ran as soon as it arrived: none waited in the stdio buffer.
    assert max(float(latency) for _, latency, *_ in calls) < DEADLINE_MS / 1000 / 2
    assert len(service.checked) == len(calls)
    assert {a.campaign for a in service.checked} == {"spring"}  # read through GET FULL VARIABLE
    assert {a.tenant for a in service.checked} == {"acme"}
