"""Roster import benchmark: a large generated CSV imported while other writers use the database.

    .venv/bin/python bench/roster_import.py [--rows 50000] [--database sqlite|postgres] [--once]
                                            [--no-other-process] [--keep]

Writes a roster CSV of `--rows` RT heads (kecamatan of 10 kelurahan of 10 RW of 50 RT, one head per
RT, preferred channel blank, telegram or whatsapp in turn), applies the migrations to a fresh
database and imports the file with `hub.roster.importer.import_roster`, as `hub roster import` does;
then, unless `--once`, imports the same file again (every row unchanged: the path a re-run after a
crash takes). While each import runs, two writers do one small transaction every 20 ms on the same
database, a read then an insert (the shape of `POST /api/v1/broadcasts`):

- **in-process**: a task on the importing process's event loop, through the same Tortoise
  connection; on SQLite it waits for Tortoise's connection lock while an import transaction
  holds it;
- **other process** (left out with `--no-other-process`): the situation of `hub run` next to
  `hub roster import`, a process with its own connection and the hub's Tortoise configuration; on
  SQLite it waits in SQLite's busy handler and fails with "database is locked" when the busy
  timeout runs out (or at once, without `models/sqlite.py`'s BEGIN IMMEDIATE, when a transaction
  that has read wants to write while another connection writes).

Prints the import time (or how it failed), rows a second, the importing process's CPU time (all its
threads, SQLite's included, the in-process writer's too: less sensitive to a busy machine than the
wall clock), where the import has batches the time to the first (reading and checking the file
included) and the longest of the others, and per writer the writes done, failed and the longest wait
(a write's whole duration, the wait for the database included). Goals: no failed write, and the
longest wait well under a second (about one batch), not the import's length.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere
from bench._database import database  # noqa: E402

HEADER = ("kecamatan", "kelurahan", "rw", "rt", "name", "phone", "preferred_channel")
RT_PER_RW, RW_PER_KELURAHAN, KELURAHAN_PER_KECAMATAN = 50, 10, 10
WRITE_INTERVAL = 0.02  # seconds between two writes of a writer
GOAL_FAILED = 0
GOAL_LONGEST_WAIT = 1.0  # seconds


def write_roster(path: Path, rows: int) -> None:
    """A roster of `rows` RT heads, each in an RT of their own."""
    channels = ("", "telegram", "whatsapp")
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for i in range(rows):
            rt = i % RT_PER_RW + 1
            rw = i // RT_PER_RW % RW_PER_KELURAHAN + 1
            kelurahan = i // (RT_PER_RW * RW_PER_KELURAHAN) % KELURAHAN_PER_KECAMATAN + 1
            kecamatan = i // (RT_PER_RW * RW_PER_KELURAHAN * KELURAHAN_PER_KECAMATAN) + 1
            writer.writerow(
                (
                    f"Kecamatan {kecamatan:03d}",
                    f"Kelurahan {kelurahan:02d}",
                    rw,
                    rt,
                    f"Ketua RT {i + 1}",
                    f"0812{i:08d}",
                    channels[i % 3],
                )
            )


# Writers ------------------------------------------------------------------------------------


async def write_loop(stop: Callable[[], bool], label: str) -> dict[str, Any]:
    """Small read-then-insert transactions until `stop()`; their count, failures, longest wait."""
    from tortoise.transactions import in_transaction

    from models import Area, AreaKind, AuditLog

    waits: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    while not stop():
        started = time.perf_counter()
        try:
            async with in_transaction():
                await Area.filter(kind=AreaKind.KECAMATAN).count()
                await AuditLog.create(actor="bench", action="bench.write", target=label, detail={})
        except Exception as exc:
            errors[f"{type(exc).__name__}: {exc}"] += 1
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(WRITE_INTERVAL)
    return {
        "writes": len(waits),
        "failed": sum(errors.values()),
        "longest": max(waits, default=0.0),
        "errors": dict(errors),
    }


async def _other_process_writer(url: str, stop_file: Path) -> None:
    from hub.core.db import close_database, open_database

    await open_database(url, migrate_first=False)
    try:
        print("ready", flush=True)
        stats = await write_loop(stop_file.exists, "other-process")
    finally:
        await close_database()
    print(json.dumps(stats), flush=True)


@contextlib.contextmanager
def other_process_writer(url: str, work: Path, results: dict[str, Any]) -> Iterator[None]:
    """Run the other-process writer for the duration of the block; its figures into results."""
    stop_file = work / "stop-writer"
    stop_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, __file__, "--writer", url, str(stop_file)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the writer process did not start")
    try:
        yield
    finally:
        stop_file.touch()
        out, _ = process.communicate(timeout=60)
        results.update(json.loads(out.strip().splitlines()[-1]))


# The import ---------------------------------------------------------------------------------


async def timed_import(url: str, roster: Path, work: Path, other_process: bool) -> dict[str, Any]:
    """Import the roster with the writers running; the figures of the run."""
    from hub.core.db import close_database, open_database
    from hub.roster.importer import import_roster

    batches: list[float] = []
    last = 0.0

    async def on_batch(done: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        batches.append(now - last)
        last = now

    # The code before batches had no on_batch; the benchmark measures it too.
    batched = "on_batch" in inspect.signature(import_roster).parameters
    await open_database(url, migrate_first=False)
    try:
        done = False
        in_process = asyncio.create_task(write_loop(lambda: done, "in-process"))
        other: dict[str, Any] = {}
        writer = (
            other_process_writer(url, work, other) if other_process else contextlib.nullcontext()
        )
        with writer:
            await asyncio.sleep(0.2)  # both writers going before the import starts
            started = last = time.perf_counter()
            cpu = time.process_time()
            try:
                if batched:
                    report = await import_roster(roster, on_batch=on_batch)
                else:
                    report = await import_roster(roster)
                summary = report.summary()
            except Exception as exc:  # before batches, a write of the other process could fail it
                summary = f"FAILED: {type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            await asyncio.sleep(0.2)
            done = True
            inside = await in_process
    finally:
        await close_database()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "batches": batches,
        "summary": summary,
        "in-process": inside,
        "other process": other,
    }


def show(title: str, rows: int, run: dict[str, Any]) -> str:
    lines = [
        f"\n{title}: {run['summary']}",
        f"{'figure':<44} {'measured':>12}   goal",
        "-" * 72,
        f"{'import time, s':<44} {run['seconds']:>12.1f}",
        f"{'rows a second':<44} {rows / run['seconds']:>12.0f}",
        f"{'CPU of the importing process, s':<44} {run['cpu']:>12.1f}",
    ]
    if run["batches"]:
        first, *rest = run["batches"]
        lines += [
            f"{'batches':<44} {len(run['batches']):>12}",
            f"{'  reading, checking the file, first batch, s':<44} {first:>12.3f}",
            f"{'  longest other (with the pause before it), s':<44} {max(rest, default=0):>12.3f}",
        ]
    for name in ("in-process", "other process"):
        writer = run[name]
        if not writer:
            continue
        lines += [
            f"{f'{name} writer: writes done':<44} {writer['writes']:>12}",
            f"{'  failed':<44} {writer['failed']:>12}   {GOAL_FAILED}",
            f"{'  longest wait, s':<44} {writer['longest']:>12.3f}   < {GOAL_LONGEST_WAIT}",
        ]
        for error, count in writer["errors"].items():
            lines.append(f"    {count} × {error}")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--writer"]:
        asyncio.run(_other_process_writer(sys.argv[2], Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--once", action="store_true", help="skip the second import")
    parser.add_argument(
        "--no-other-process", action="store_true", help="only the in-process writer"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and temp dir")
    args = parser.parse_args()

    from hub.core.db import apply_migrations

    with database(args.database, args.keep, "roster") as (url, work):
        roster = work / "roster.csv"
        write_roster(roster, args.rows)
        asyncio.run(apply_migrations(url))
        print(f"… importing {args.rows} rows ({args.database})", file=sys.stderr, flush=True)
        first = asyncio.run(timed_import(url, roster, work, not args.no_other_process))
        print(show("first import", args.rows, first), flush=True)
        if not args.once:
            print("… importing the same file again", file=sys.stderr, flush=True)
            again = asyncio.run(timed_import(url, roster, work, not args.no_other_process))
            print(show("same file again", args.rows, again), flush=True)


if __name__ == "__main__":
    main()
