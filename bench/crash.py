"""Crash test: kill -9 a broadcasting `hub run` at random moments, restart it, count what arrived.

    .venv/bin/python bench/crash.py [--recipients 5000] [--kills 5] [--seed N] [--lease 5]

One broadcast to `--recipients` RT heads (60 % Telegram, 40 % WhatsApp) is fanned out with the
hub's own create_broadcast() into a fresh SQLite database; then the real `hub run` sends it at
the platforms' rates (30/s, 80/s) to a fake Bot API and a fake Graph API in this process, which
count every message they accept per chat and per number. At `--kills` moments drawn at random
(seeded) from the broadcast's progress, the fake that just accepted a message kills the hub with
SIGKILL before answering, with up to `concurrency` (16) requests in flight; the hub is started
again at once and picks up where the database says it was. The claim lease is shortened to
`--lease` seconds (`[broadcast] claim_lease_seconds`; 120 by default) so that the messages a
dead hub held go out after seconds rather than two minutes. When the broadcast is sent and no
message is queued or claimed, the last hub is stopped with SIGTERM.

Goals: nobody gets nothing; duplicates stay within the documented bound, the sender's
concurrency (16) per kill. See bench/_crash.py for the machinery (tests/test_crash.py runs the
same at small scale).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from bench._crash import CONCURRENCY, CrashRun


def kill_points(recipients: int, kills: int, seed: int) -> list[int]:
    """`kills` distinct message counts between 5 % and 95 % of the broadcast, ascending."""
    rng = random.Random(seed)
    low, high = max(1, recipients // 20), max(2, recipients * 19 // 20)
    return sorted(rng.sample(range(low, high), kills))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, help="for the kill moments (default: random)")
    parser.add_argument("--lease", type=int, default=5, help="claim lease, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, logs)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    points = kill_points(args.recipients, args.kills, seed)
    work = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    started = time.monotonic()
    run = CrashRun(
        work,
        args.recipients,
        points,
        lease_seconds=args.lease,
        timeout=args.recipients / 20 + 600,
        log=lambda line: print(f"… {time.monotonic() - started:6.1f} s  {line}", file=sys.stderr),
    )
    try:
        verdict = asyncio.run(run.run())
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.monotonic() - started
    ok_nothing = "ok" if not verdict.nothing else "MISSED"
    ok_duplicates = "ok" if verdict.duplicates <= verdict.bound else "OVER"
    print(
        f"\n{verdict.recipients} recipients, {verdict.kills} kills (SIGKILL) at "
        f"{', '.join(map(str, points))} messages received; seed {seed}; claim lease "
        f"{args.lease} s; {wall:.0f} s in all\n"
    )
    print(f"{'figure':<44} {'measured':>10}   goal")
    print("-" * 72)
    print(f"{'recipients who got nothing':<44} {len(verdict.nothing):>10}   0  {ok_nothing}")
    print(
        f"{'duplicates (messages beyond the first)':<44} {verdict.duplicates:>10}   "
        f"≤ {verdict.bound} ({CONCURRENCY} per kill)  {ok_duplicates}"
    )
    print(f"{'recipients who got a message twice':<44} {verdict.doubled:>10}")
    print(f"{'messages the fakes accepted':<44} {verdict.received:>10}")
    print(f"{'messages taken back from dead claims':<44} {verdict.requeued:>10}")
    print(f"{'hub exit codes':<44} {' '.join(map(str, run.exit_codes)):>10}")
    if verdict.nothing:
        print(f"\nnothing reached: {', '.join(verdict.nothing[:20])}")
    for trouble in verdict.troubles:
        print(f"! {trouble}")


if __name__ == "__main__":
    main()
