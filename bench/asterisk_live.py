"""The inline check as a live Asterisk sees it: how long `AGI(agi://.../check)` holds the call.

Needs a running Asterisk (20 or 22) with dialguard's `asterisk-conf/` samples, an AMI user
allowed to originate and to read `dialplan` and `agi` events (not dialguard's read-only
user), and this test context in extensions.conf, which starts each call the way a dialler
would and then runs the sample's `[outbound]` route:

    [dg-start]
    exten => _X.,1,Set(CALLERID(num)=${DG_CID})
     same => n,Set(DIALGUARD_TENANT=${DG_TENANT})
     same => n,Set(DIALGUARD_CAMPAIGN=${DG_CAMPAIGN})
     same => n,Goto(outbound,${EXTEN},1)

    [dg-park]
    exten => s,1,Answer()
     same => n,Wait(5)
     same => n,Hangup()

with the globals DG_CID, DG_TENANT and DG_CAMPAIGN set (`dialplan set global ...`), the
trunk in `[outbound-checked]` replaced by a context that answers (e.g. `Dial(Local/${EXTEN}@callee)`),
and `dialguard serve` running. It originates calls to consecutive numbers at a fixed rate and
times each AGI from the `Newexten` event of its priority to that of the next one (the
`Timestamp` headers of `timestampevents = yes`, in microseconds): connecting, the
environment, `GET FULL VARIABLE`, the decision, the three `SET VARIABLE`s and the end of the
session, as the call waits for them. Figures, not pass/fail. Example:

    python bench/asterisk_live.py --calls 100 --rate 10 --first 12127365100 \\
        --user admin --secret-file /etc/dialguard/ami-admin-secret
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ami", default="127.0.0.1:5038")
    parser.add_argument("--user", required=True)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="calls originated a second")
    parser.add_argument("--first", type=int, required=True, help="first number dialled")
    parser.add_argument("--context", default="dg-start")
    args = parser.parse_args()

    host, _, port = args.ami.rpartition(":")
    ami = socket.create_connection((host, int(port)))
    ami.settimeout(0.05)
    received = bytearray()

    def read_for(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                chunk = ami.recv(1 << 20)
            except TimeoutError:
                continue
            if not chunk:
                return
            received.extend(chunk)

    secret = args.secret_file.read_text().strip()
    ami.sendall(
        f"Action: Login\r\nUsername: {args.user}\r\nSecret: {secret}\r\n"
        "Events: dialplan\r\n\r\n".encode()
    )
    read_for(0.3)
    if b"Authentication accepted" not in received:
        raise SystemExit(f"AMI login as {args.user} failed")
    start = time.monotonic()
    for i in range(args.calls):
        ami.sendall(
            f"Action: Originate\r\nChannel: Local/{args.first + i}@{args.context}\r\n"
            "Context: dg-park\r\nExten: s\r\nPriority: 1\r\nAsync: true\r\n"
            f"ActionID: bench-{i}\r\n\r\n".encode()
        )
        read_for(max(0.0, start + (i + 1) / args.rate - time.monotonic()))
    read_for(5.0)

    began: dict[str, float] = {}
    took: list[float] = []
    for message in received.decode(errors="replace").split("\r\n\r\n"):
        headers = dict(line.split(": ", 1) for line in message.split("\r\n") if ": " in line)
        if headers.get("Event") != "Newexten" or "Timestamp" not in headers:
            continue
        channel, at = headers.get("Channel", ""), float(headers["Timestamp"])
        if headers.get("Application") == "AGI" and "/check" in headers.get("AppData", ""):
            began[channel] = at
        elif channel in began:
            took.append((at - began.pop(channel)) * 1000)
    if not took:
        raise SystemExit("no AGI(check) was seen: is the dialplan as described above?")
    took.sort()
    print(
        f"{len(took)} checks at {args.rate:g}/s, AGI as Asterisk saw it:"
        f" p50 {statistics.median(took):.2f} ms, p99 {took[max(0, int(len(took) * 0.99) - 1)]:.2f}"
        f" ms, max {took[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
