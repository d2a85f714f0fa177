"""Hostile review: re-run a security review's probes against the real app, as an attacker would.

    .venv/bin/python bench/probe.py [--quick] [--members 50000] [--database sqlite|postgres]

The hub runs in this process (`hub.app.create_app`: SQLite in a temp dir or a fresh PostgreSQL
database, the sandbox on, Telegram in webhook mode and WhatsApp against the tests' fake Bot API
and fake Graph API on loopback), served on 127.0.0.1 and driven over HTTP. Nothing leaves
loopback: the tests' network guard is installed first. The sender and the scheduler do not run,
so the database changes only by the probes.

Families (see bench/README.md): 1 authorization (tests/test_permissions.py's tables for staff
and an official of kelurahan A against B's objects), 2 dashboard attacks (CSRF, open redirect,
XSS, sessions), 3 webhooks, 4 generated requests, 5 parallel login guesses, 6 scale. For each:
attempts, wrongly accepted, 5xx (or no answer), lost/stored (something changed, was stored or
was locked out that must not be). It is a report, not a test: the exit status is 0 unless the
harness itself fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from bench._probe_access import (  # noqa: E402
    probe_api_authorization,
    probe_csrf,
    probe_open_redirect,
    probe_page_authorization,
    probe_sessions,
    probe_xss,
)
from bench._probe_input import (  # noqa: E402
    probe_generated_api,
    probe_generated_dashboard,
    probe_login,
    probe_webhooks,
)
from bench._probe_scale import (  # noqa: E402
    probe_scale,
    scale_report,
    seed_scale,
)
from bench._probe_site import (  # noqa: E402
    OWNER_PASSWORD,
    CountingHasher,
    Tally,
    database,
    fakes_running,
    guard_network,
    hub_config,
    running_site,
    setup_logging,
)

MAX_FINDINGS = 25  # kinds of findings printed per family


async def run_world(
    args: argparse.Namespace, work: Path, fakes: dict[str, Any], hasher: CountingHasher
) -> list[Tally]:
    """Families 1 to 5, on one database with tests/test_permissions.py's world."""
    from hub.access.auth import create_user
    from models import UserRole
    from tests.factories import make_area
    from tests.test_permissions import A, build_world

    rng = random.Random(args.seed)
    per_route = 30 if args.quick else 300
    per_page = 16 if args.quick else 120
    tallies: list[Tally] = []
    async with database(args.database, "world", work) as url:
        async with running_site(hub_config(url, work, fakes)) as site:
            site.world = await build_world(site.client)
            await create_user("pemilik", OWNER_PASSWORD, UserRole.STAFF, [await make_area(A)])
            steps: list[tuple[str, Callable[[], Awaitable[Tally]]]] = [
                ("authorization (API)", lambda: probe_api_authorization(site)),
                ("authorization (dashboard)", lambda: probe_page_authorization(site)),
                ("CSRF", lambda: probe_csrf(site)),
                ("open redirect", lambda: probe_open_redirect(site)),
                ("XSS", lambda: probe_xss(site)),
                ("sessions", lambda: probe_sessions(site)),
                ("webhooks", lambda: probe_webhooks(site)),
                ("login", lambda: probe_login(site, hasher)),
                ("generated API requests", lambda: probe_generated_api(site, rng, per_route)),
                (
                    "generated dashboard requests",
                    lambda: probe_generated_dashboard(site, rng, per_page),
                ),
            ]
            for name, step in steps:
                started = time.perf_counter()
                tally = await step()
                tally.notes.append(f"took {time.perf_counter() - started:.1f} s")
                tallies.append(tally)
                print(f"  {name}: {tally.attempts} attempts", file=sys.stderr, flush=True)
    return sorted(tallies, key=lambda t: t.family)  # run in another order: 4 changes the world


async def run_scale(
    args: argparse.Namespace, work: Path, fakes: dict[str, Any], hasher: CountingHasher
) -> dict[str, Any]:
    """Family 6, on a database of its own with --members RT heads."""
    async with database(args.database, "scale", work) as url:
        seeded = await seed_scale(args.members)
        print(f"  seeded {args.members} members in {seeded['seconds']:.1f} s", file=sys.stderr)
        async with running_site(hub_config(url, work, fakes)) as site:
            figures = await probe_scale(site, seeded, hasher)
    figures["seeded"] = seeded
    return figures


async def main_async(args: argparse.Namespace, work: Path) -> None:
    import hub.access.auth

    guard_network()
    setup_logging(work)
    hasher = CountingHasher(hub.auth._hasher)
    hub.auth._hasher = hasher  # type: ignore[assignment]  # counted, not changed
    started = time.perf_counter()
    async with fakes_running() as fakes:
        print("families 1-5 ...", file=sys.stderr, flush=True)
        tallies = await run_world(args, work, fakes, hasher)
        print(f"family 6: {args.members} members ...", file=sys.stderr, flush=True)
        scale = await run_scale(args, work, fakes, hasher)
    print(report(args, tallies, scale, time.perf_counter() - started))


def report(
    args: argparse.Namespace, tallies: list[Tally], scale: dict[str, Any], seconds: float
) -> str:
    """The table, the examples of what went wrong, the notes and the scale figures."""
    lines = [
        f"Hostile review of the hub: {args.database}, {'quick' if args.quick else 'full'} run, "
        f"seed {args.seed}, {dt.date.today()}, {os.cpu_count()} cores, {seconds:.0f} s",
        "",
        "| family | attempts | wrongly accepted | 5xx | lost/stored |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in tallies:
        lines.append(f"| {t.family} | {t.attempts} | {t.accepted} | {t.server_errors} | {t.lost} |")
    total = Tally("total")
    for t in tallies:
        total.attempts += t.attempts
        total.accepted += t.accepted
        total.server_errors += t.server_errors
        total.lost += t.lost
    lines.append(
        f"| **total** | {total.attempts} | {total.accepted} | {total.server_errors} | "
        f"{total.lost} |"
    )
    for t in tallies:
        if not (t.findings or t.notes):
            continue
        lines += ["", f"{t.family}:"]
        lines += [f"  - {note}" for note in t.notes]
        for key, examples in list(t.findings.items())[:MAX_FINDINGS]:
            lines.append(f"  ! [{key.split(':', 1)[0]}] ×{len(examples)}, e.g. {examples[0]}")
        if len(t.findings) > MAX_FINDINGS:
            lines.append(f"  ... {len(t.findings) - MAX_FINDINGS} more kinds of findings")
    lines += scale_report(args, scale)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help="RT heads seeded for the scale part (50000; 2000 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer generated requests")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="of the generated requests")
    args = parser.parse_args(argv)
    if args.members is None:
        args.members = 2000 if args.quick else 50_000
    return args


def main() -> None:
    args = parse_args()
    # The server parses hostile multipart headers: its warnings about them are expected.
    warnings.filterwarnings("ignore", module="aiohttp.multipart")
    work = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    try:
        asyncio.run(main_async(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
