"""Broadcast benchmark: one broadcast to N RT heads on Telegram and WhatsApp, at the limits.

    .venv/bin/python bench/broadcast_send.py [--recipients 10000] [--database sqlite|postgres]
                                             [--rate-scale 1] [--whatsapp-share 0.4]

A fake Bot API and a fake Graph API run in a process of their own (their CPU is not the hub's),
each enforcing its platform's limit in a sliding one-second window: Telegram 30 sendMessage a
second per bot (429 with retry_after), WhatsApp 80 messages a second per number (error 130429).
A roster of N members, 60 % on Telegram and 40 % on WhatsApp, interleaved, is seeded with bulk
inserts by another process. Then, in a third process that is the hub and nothing else, the real
path: `create_broadcast()` fans the broadcast out (deliveries and outbox rows), and the hub's
Sender with the real channels (pointed at the fakes through api_base_url) sends it at the
configured rates. `--rate-scale K` multiplies both the fakes' limits and the hub's configured
rates, so that a large roster finishes in minutes (the output says so).

Figures, next to the goals:
- time to the last send: from the call of create_broadcast() to the last message a fake accepted,
  against the ideal the limits set, max(n_telegram / rate, n_whatsapp / rate);
- 429s: answers of the fakes refusing a message for the rate (goal 0);
- hub CPU per delivery: the hub process's CPU time (all threads; on SQLite the database runs in
  it) from the start of the fan-out until the broadcast is seen sent, divided by N. On PostgreSQL
  the CPU of the database's backends over the same span is given separately (from /proc);
- peak RSS of the hub process (ru_maxrss), and its RSS before the fan-out.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from bench._database import database  # noqa: E402
from bench._fakes import fake_stats, start_fakes  # noqa: E402
from bench._roster import is_whatsapp, kecamatan_paths, seed_roster  # noqa: E402

TELEGRAM_RATE = 30  # sendMessage a second per bot
WHATSAPP_RATE = 80  # messages a second per number
GOAL_OVER_IDEAL = 3.0  # percent
GOAL_429 = 0
GOAL_CPU_MS = 1.0
GOAL_RSS_MB = 200.0
TITLE = "Kerja bakti serentak"
TEXT = (
    "Kepada Bapak/Ibu Ketua RT, hari Minggu 12 Oktober pukul 07.00 WITA diadakan kerja bakti "
    "serentak membersihkan saluran air di setiap RT. Mohon warga membawa cangkul dan karung. "
    "Laporkan hasilnya kepada kelurahan paling lambat Senin siang."
)


# The hub process ----------------------------------------------------------------------------


def bench_config(db_url: str, urls: dict[str, str], scale: int, data_dir: str) -> Any:
    from hub.core.config import Config
    from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN
    from tests.fake_graph import TOKEN as GRAPH_TOKEN
    from tests.fake_telegram import TOKEN as BOT_TOKEN

    config = Config()
    config = config.replace(
        "hub", public_url="https://bench.invalid", data_dir=data_dir, run_scheduler=False
    )
    config = config.replace("database", url=db_url)
    config = config.replace("sandbox", enabled=False)
    config = config.replace(
        "telegram",
        enabled=True,
        mode="webhook",
        api_base_url=urls["telegram"],
        messages_per_second=TELEGRAM_RATE * scale,
        token=BOT_TOKEN,
        webhook_secret="bench-webhook-secret-7f3a",
    )
    return config.replace(
        "whatsapp",
        enabled=True,
        api_base_url=urls["whatsapp"],
        phone_number_id=PHONE_NUMBER_ID,
        messages_per_second=WHATSAPP_RATE * scale,
        access_token=GRAPH_TOKEN,
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
    )


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of a process from /proc, in seconds; None if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _threads_cpu() -> dict[str, float]:
    """CPU seconds so far of the event loop's thread and of the others together (from /proc)."""
    found: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        name = "event loop" if int(task.name) == os.getpid() else "other threads"
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        found[name] = found.get(name, 0.0) + cpu
    return found


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} in /proc/self/status")


async def _backends() -> dict[int, float | None]:
    """CPU seconds so far of this database's PostgreSQL backends, by pid."""
    from tortoise import Tortoise

    connection = Tortoise.get_connection("default")
    _, rows = await connection.execute_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    return {row["pid"]: _proc_cpu(row["pid"]) for row in rows}


class _WakeCounter:
    """Counts the event loop's waits for the outside world (selects that may block).

    On this kind of virtual machine each wake-up of a sleeping process costs 60 to 200 µs of
    CPU, the work of about one send: this figure tells how much of the CPU went to waking up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.waits = 0
        selector = loop._selector  # type: ignore[attr-defined]  # a benchmark's look inside
        select = selector.select

        def counting_select(timeout: float | None = None) -> Any:
            if timeout is None or timeout > 0:
                self.waits += 1
            return select(timeout)

        selector.select = counting_select


async def run_hub(db_url: str, urls: dict[str, str], scale: int, data_dir: str) -> dict[str, Any]:
    """Fan out and send one broadcast to the whole roster; the figures measured in this process."""
    from hub.access.auth import Scope
    from hub.app import Hub
    from hub.broadcast.queries import delivery_counts
    from hub.broadcast.service import BroadcastRequest, create_broadcast
    from hub.core.db import close_database, open_database
    from models import Broadcast, BroadcastStatus

    config = bench_config(db_url, urls, scale, data_dir)
    hub = Hub(config)
    await open_database(db_url, migrate_first=False)
    postgres = db_url.startswith("postgres")
    try:
        await hub.start_channels()
        for channel in hub.channels.values():
            for _ in range(100):
                if await channel.ready() is None:
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"{channel.name} not ready: {await channel.ready()}")
        hub.tasks.start(hub.sender.run(), name="sender")
        areas = kecamatan_paths(await _count_members())
        backends_before = await _backends() if postgres else {}
        rss_before = _memory_mb("VmRSS")
        threads_start = _threads_cpu()
        times_start = os.times()
        cpu_start = time.process_time()
        wakes = _WakeCounter(asyncio.get_running_loop())
        start = time.monotonic()
        broadcast = await create_broadcast(
            config,
            BroadcastRequest(title=TITLE, text=TEXT, areas=areas),
            user=None,
            scope=Scope(None, None),
            enabled_channels=hub.enabled_channels,
            now=dt.datetime.now(dt.UTC),
        )
        fanned_out = time.monotonic()
        cpu_fan_out = time.process_time() - cpu_start
        hub.sender.wake()
        # A cheap look once a second, as a dashboard would: its CPU is counted too. The time to
        # the last send comes from the fakes, so looking more often would only cost CPU.
        sending = Broadcast.filter(id=broadcast.id, status=BroadcastStatus.SENDING)
        while await sending.exists():  # noqa: ASYNC110 (the database says when it is done)
            await asyncio.sleep(1.0)
        done = time.monotonic()
        cpu = time.process_time() - cpu_start
        waits = wakes.waits
        threads_cpu = _threads_cpu()
        times_end = os.times()
        backends_after = await _backends() if postgres else {}
        counts = await delivery_counts(broadcast.id)
        errors = {
            "/".join(sample.labels.values()): int(sample.value)
            for metric in hub.metrics.send_errors.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        }
    finally:
        await hub.tasks.cancel_all()
        for channel in hub.channels.values():
            await channel.stop()
        await close_database()
    db_cpu: float | None = None
    if postgres:
        readable = [cpu for cpu in backends_after.values() if cpu is not None]
        if readable:
            db_cpu = sum(
                cpu - (backends_before.get(pid) or 0.0)
                for pid, cpu in backends_after.items()
                if cpu is not None
            )
    return {
        "start": start,
        "fanned_out": fanned_out,
        "done": done,
        "cpu": cpu,
        "cpu_fan_out": cpu_fan_out,
        "loop_waits": waits,
        "cpu_threads": {
            name: cpu - threads_start.get(name, 0.0) for name, cpu in threads_cpu.items()
        },
        "cpu_user": times_end.user - times_start.user,
        "cpu_system": times_end.system - times_start.system,
        "db_cpu": db_cpu,
        "rss_before_mb": rss_before,
        "rss_peak_mb": _memory_mb("VmHWM"),
        "counts": counts,
        "errors": errors,
    }


async def _count_members() -> int:
    from models import Member

    return await Member.all().count()


def hub_process(
    out: Any, db_url: str, urls: dict[str, str], scale: int, data_dir: str, profile: str | None
) -> None:
    """Process target: the hub alone, so its CPU and memory are what is measured."""
    logging.basicConfig(level=logging.WARNING, format="hub %(levelname)s %(name)s: %(message)s")
    if profile:
        profiler = cProfile.Profile(time.thread_time)  # CPU of the event loop, not waits
        result = profiler.runcall(asyncio.run, run_hub(db_url, urls, scale, data_dir))
        profiler.dump_stats(profile)
    else:
        result = asyncio.run(run_hub(db_url, urls, scale, data_dir))
    out.put(result)


# Setting up ---------------------------------------------------------------------------------


async def _seed(db_url: str, members: int, whatsapp_share: float) -> tuple[int, int]:
    from tortoise import Tortoise

    from hub.core.db import apply_migrations
    from models.config import tortoise_config

    await apply_migrations(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    try:
        return await seed_roster(members, whatsapp_share)
    finally:
        await Tortoise.close_connections()


def seed_process(out: Any, db_url: str, members: int, whatsapp_share: float) -> None:
    """Process target: the schema and the roster (kept out of the hub process's memory)."""
    out.put(asyncio.run(_seed(db_url, members, whatsapp_share)))


def in_process(target: Any, *args: Any, timeout: float) -> Any:
    """Run target(queue, *args) in a spawned process; its one result."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=target, args=(out, *args))
    process.start()
    try:
        return out.get(timeout=timeout)
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()


# Report -------------------------------------------------------------------------------------


def report(args: argparse.Namespace, tg: int, wa: int, hub: dict[str, Any], stats: dict) -> str:
    scale = args.rate_scale
    tg_rate, wa_rate = TELEGRAM_RATE * scale, WHATSAPP_RATE * scale
    ideal = max(tg / tg_rate, wa / wa_rate)
    last = max(s["last_sent"] or 0.0 for s in stats.values())
    first = min(s["first_sent"] or last for s in stats.values())
    wall = last - hub["start"]
    over = 100.0 * (wall - ideal) / ideal
    n = tg + wa
    answered_429 = sum(s["answered_429"] for s in stats.values())
    accepted = sum(s["sent"] for s in stats.values())
    cpu_ms = 1000.0 * hub["cpu"] / n
    lines = [
        f"\n{n} recipients ({tg} Telegram, {wa} WhatsApp), {args.database}; limits "
        f"{tg_rate}/s Telegram, {wa_rate}/s WhatsApp"
        + (f" (real limits × {scale}: --rate-scale)" if scale != 1 else ""),
        "",
        f"{'figure':<44} {'measured':>12}   goal",
        "-" * 72,
        f"{'ideal (the limits), s':<44} {ideal:>12.1f}",
        f"{'time to the last send, s':<44} {wall:>12.1f}",
        f"{'  over the ideal, %':<44} {over:>12.2f}   ≤ {GOAL_OVER_IDEAL}",
        f"{'  of which fan-out (create_broadcast), s':<44} "
        f"{hub['fanned_out'] - hub['start']:>12.2f}",
        f"{'  first send to last send, s':<44} {last - first:>12.1f}",
        f"{'429s received':<44} {answered_429:>12}   {GOAL_429}",
        f"{'hub CPU per delivery, ms':<44} {cpu_ms:>12.3f}   ≤ {GOAL_CPU_MS}"
        + ("  (database included)" if args.database == "sqlite" else "  (hub process only)"),
        f"{'  of which fan-out, ms':<44} {1000.0 * hub['cpu_fan_out'] / n:>12.3f}",
        f"{'  user / system, ms':<44} "
        f"{1000.0 * hub['cpu_user'] / n:>6.3f} / {1000.0 * hub['cpu_system'] / n:.3f}",
        f"{'  by thread, ms':<44} "
        + ", ".join(
            f"{name} {1000.0 * cpu / n:.3f}"
            for name, cpu in sorted(hub["cpu_threads"].items(), key=lambda kv: -kv[1])
            if cpu > 0
        ),
    ]
    lines.append(f"{'  event loop waits per delivery':<44} {hub['loop_waits'] / n:>12.2f}")
    if args.database == "postgres":
        db_cpu = hub["db_cpu"]
        shown = f"{1000.0 * db_cpu / n:>12.3f}" if db_cpu is not None else f"{'n/a':>12}"
        lines.append(f"{'PostgreSQL backends CPU per delivery, ms':<44} {shown}")
        if db_cpu is not None:
            total = 1000.0 * (hub["cpu"] + db_cpu) / n
            lines.append(
                f"{'  hub + backends per delivery, ms':<44} {total:>12.3f}   ≤ {GOAL_CPU_MS}"
            )
    lines += [
        f"{'hub RSS before the fan-out, MB':<44} {hub['rss_before_mb']:>12.1f}",
        f"{'hub peak RSS, MB':<44} {hub['rss_peak_mb']:>12.1f}   ≤ {GOAL_RSS_MB:.0f}",
        f"{'messages accepted by the fakes':<44} {accepted:>12}   {n} (each once)",
        f"{'deliveries sent / failed / pending':<44} "
        f"{hub['counts']['sent']:>4} / {hub['counts']['failed']} / {hub['counts']['pending']}",
    ]
    if hub["errors"]:
        lines.append(f"{'send errors the hub saw (channel/reason)':<44} {hub['errors']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--rate-scale", type=int, default=1, help="multiply the fakes' limits and the hub's rates"
    )
    parser.add_argument("--whatsapp-share", type=float, default=0.4)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the hub process into FILE")
    parser.add_argument("--keep", action="store_true", help="keep the database and temp dir")
    args = parser.parse_args()
    scale = args.rate_scale
    fakes = start_fakes(TELEGRAM_RATE * scale, WHATSAPP_RATE * scale)
    urls = fakes.urls
    try:
        with database(args.database, args.keep, "broadcast") as (db_url, work):
            print(f"… seeding {args.recipients} members", file=sys.stderr, flush=True)
            tg, wa = in_process(
                seed_process, db_url, args.recipients, args.whatsapp_share, timeout=1800
            )
            assert wa == sum(is_whatsapp(i, args.whatsapp_share) for i in range(args.recipients))
            ideal = max(tg / (TELEGRAM_RATE * scale), wa / (WHATSAPP_RATE * scale))
            print(f"… broadcasting (ideal {ideal:.0f} s)", file=sys.stderr, flush=True)
            hub = in_process(
                hub_process,
                db_url,
                urls,
                scale,
                str(work / "data"),
                args.profile,
                timeout=ideal * 3 + 600,
            )
        stats = {name: asyncio.run(fake_stats(url)) for name, url in urls.items()}
    finally:
        fakes.terminate()
    print(report(args, tg, wa, hub, stats))


if __name__ == "__main__":
    main()
