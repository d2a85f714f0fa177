"""Poll votes benchmark: 1,000 RT heads answer a poll within a minute on mixed channels.

    .venv/bin/python bench/poll_votes.py                    # SQLite, votes spread over 60 s
    .venv/bin/python bench/poll_votes.py --postgres         # the same on PostgreSQL
    .venv/bin/python bench/poll_votes.py --seconds 20       # compressed
    .venv/bin/python bench/poll_votes.py --seconds 0        # all at once: the hub's ceiling

A fresh database gets a roster of `--voters` RT heads (half on Telegram, half on WhatsApp) and one
poll with four options sent to all of them (marked sent as the sender would leave it: every
Telegram delivery with its native poll's id). `hub run` then starts against the fake Bot API
and Graph API (each in a process of its own) and the benchmark posts one vote per RT head at
the rate they would arrive: Telegram `poll_answer` updates to POST /webhooks/telegram (with the
secret header), WhatsApp list replies to POST /webhooks/whatsapp signed with the app secret.
It waits until every stored event is processed and every thank-you reply has left, then
checks from the database that each vote counts exactly once (votes == voters, per option
counts == what was sent) and prints the figures: votes applied per second, webhook latency
p50/p99, and the hub process's CPU time (utime + stime from /proc) per inbound message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from bench._database import database  # noqa: E402
from bench._fakes import start_fakes  # noqa: E402
from bench._roster import is_whatsapp, kecamatan_paths, seed_roster  # noqa: E402
from bench.whatsapp_ingest import cpu_seconds, free_port, wait_for_port  # noqa: E402
from tests.fake_graph import (  # noqa: E402
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    notification,
    sign,
)
from tests.fake_telegram import TOKEN as TELEGRAM_TOKEN  # noqa: E402

OPTIONS = ["Setuju", "Tidak setuju", "Ragu-ragu", "Tidak tahu"]
WEBHOOK_SECRET = "bench-webhook-secret-7f3a"
PYTHON = sys.executable
DRAIN_TIMEOUT = 120.0


def choice(i: int) -> int:
    """The option RT head i votes for: uneven, so that the counts tell options apart."""
    return (i * 7) % 10 % len(OPTIONS)


async def seed(db_url: str, voters: int) -> tuple[int, dict[int, str]]:
    """The roster and the poll, marked sent; (poll id, Telegram poll ref by member index)."""
    from tortoise import Tortoise

    from channels import channel_class
    from hub.access.auth import Scope
    from hub.core.config import Config
    from hub.core.db import apply_migrations
    from hub.feedback.polls.service import PollRequest, create_poll
    from models import Broadcast, BroadcastStatus, Delivery, OutboundMessage
    from models.config import tortoise_config

    await apply_migrations(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    try:
        await seed_roster(voters, 0.5)
        now = dt.datetime.now(dt.UTC)
        poll = await create_poll(
            Config(),
            PollRequest(
                question="Setujukah jadwal kerja bakti dipindah ke hari Sabtu pagi?",
                options=OPTIONS,
                areas=kecamatan_paths(voters),
                closes_at=now + dt.timedelta(hours=2),
            ),
            user=None,
            scope=Scope(None, None),
            enabled_channels={n: channel_class(n) for n in ("telegram", "whatsapp")},
            now=now,
        )
        # As the sender leaves them: sent, each Telegram one with its native poll's id.
        deliveries = await Delivery.filter(broadcast_id=poll.broadcast_id).values_list(
            "id", "member_id", "channel"
        )
        refs: dict[int, str] = {}
        for delivery_id, member_id, channel in deliveries:
            ref = f"5{delivery_id:018d}" if channel == "telegram" else None
            if ref is not None:
                refs[member_id - 1] = ref
            await Delivery.filter(id=delivery_id).update(
                status="sent", sent_at=now, external_id=f"wamid.bench{delivery_id}", poll_ref=ref
            )
        await OutboundMessage.all().update(state="sent", sent_at=now)
        await Broadcast.filter(id=poll.broadcast_id).update(status=BroadcastStatus.SENT)
        return poll.id, refs
    finally:
        await Tortoise.close_connections()


def requests_for(poll_id: int, voters: int, refs: dict[int, str]) -> list[tuple[str, bytes, dict]]:
    """(path, body, headers) of each RT head's vote, in the order they are sent."""
    from bench._roster import telegram_chat, whatsapp_number

    out = []
    for i in range(voters):
        option = choice(i)
        if is_whatsapp(i, 0.5):
            wa_id = whatsapp_number(i).removeprefix("+")
            message = {
                "from": wa_id,
                "id": f"wamid.vote{i:08d}",
                "timestamp": str(int(time.time())),
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": f"poll:{poll_id}:{option}", "title": OPTIONS[option]},
                },
            }
            contacts = [{"profile": {"name": f"Ketua RT {i + 1}"}, "wa_id": wa_id}]
            body = json.dumps(notification({"contacts": contacts, "messages": [message]})).encode()
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
            out.append(("/webhooks/whatsapp", body, headers))
        else:
            user = {"id": telegram_chat(i), "is_bot": False, "first_name": f"RT {i + 1}"}
            answer = {"poll_id": refs[i], "user": user, "option_ids": [option]}
            body = json.dumps({"update_id": 10_000 + i, "poll_answer": answer}).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            }
            out.append(("/webhooks/telegram", body, headers))
    return out


def start_hub(work: Path, db_url: str, urls: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = work / "config.toml"
    config.write_text(
        f"""[hub]
public_url = "http://127.0.0.1:{port}"
data_dir = "{work}/data"
run_scheduler = false

[database]
url = "{db_url}"

[web]
host = "127.0.0.1"
port = {port}

[sandbox]
enabled = false

[telegram]
enabled = true
mode = "webhook"
api_base_url = "{urls["telegram"]}"
bot_username = "balaiwarga_bench_bot"

[whatsapp]
enabled = true
api_base_url = "{urls["whatsapp"]}"
phone_number_id = "{PHONE_NUMBER_ID}"
"""
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # this checkout's hub, wherever the command runs
        "HUB_CONFIG": str(config),
        "HUB_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "HUB_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HUB_WHATSAPP_ACCESS_TOKEN": TOKEN,
        "HUB_WHATSAPP_APP_SECRET": APP_SECRET,
        "HUB_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
    }
    log = (work / "hub.log").open("wb")
    process = subprocess.Popen(
        [PYTHON, "-m", "hub", "run"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_for_port(port, process)
    return process, port


async def send_votes(
    port: int, requests: list[tuple[str, bytes, dict]], seconds: float
) -> tuple[list[float], float, float]:
    """Post each vote at its time; (latencies in ms, first send, last answer) on the monotonic
    clock."""
    from aiohttp import ClientSession, TCPConnector

    latencies: list[float] = []
    gap = seconds / len(requests)
    async with ClientSession(connector=TCPConnector(limit=64)) as session:
        start = time.monotonic()

        async def one(n: int, path: str, body: bytes, headers: dict) -> None:
            delay = start + n * gap - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.monotonic()
            async with session.post(
                f"http://127.0.0.1:{port}{path}", data=body, headers=headers
            ) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"{path} answered {r.status}")
            latencies.append((time.monotonic() - sent) * 1000)

        await asyncio.gather(*(one(n, *r) for n, r in enumerate(requests)))
    return latencies, start, time.monotonic()


async def settled(db_url: str, poll_id: int, voters: int, wait: float) -> float | None:
    """Monotonic time at which every event was processed and every reply left; None if never."""
    from tortoise import Tortoise

    from models.config import tortoise_config

    await Tortoise.init(config=tortoise_config(db_url))
    connection = Tortoise.get_connection("default")
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            _, rows = await connection.execute_query(
                "SELECT (SELECT count(*) FROM inbound_event WHERE processed_at IS NULL) AS left_, "
                "(SELECT count(*) FROM outbound_message "
                "WHERE state IN ('queued', 'sending')) AS out_, "
                f"(SELECT count(*) FROM poll_vote WHERE poll_id = {int(poll_id)}) AS votes"
            )
            row = dict(rows[0])
            if row["left_"] == 0 and row["out_"] == 0 and row["votes"] >= voters:
                return time.monotonic()
            await asyncio.sleep(0.05)
        return None
    finally:
        await Tortoise.close_connections()


async def counted(db_url: str, poll_id: int) -> tuple[int, dict[int, int], int, int]:
    """(votes, per option, stored inbound events, processing errors) from the database."""
    from tortoise import Tortoise

    from models import InboundEvent, PollVote
    from models.config import tortoise_config

    await Tortoise.init(config=tortoise_config(db_url))
    try:
        options = await PollVote.filter(poll_id=poll_id).values_list("option", flat=True)
        events = await InboundEvent.all().count()
        errors = await InboundEvent.filter(error__isnull=False).count()
        return len(options), dict(Counter(options)), events, errors
    finally:
        await Tortoise.close_connections()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="spread the votes over")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and database")
    args = parser.parse_args()
    kind = "postgres" if args.postgres else "sqlite"
    with database(kind, args.keep, "polls") as (db_url, work):
        poll_id, refs = asyncio.run(seed(db_url, args.voters))
        requests = requests_for(poll_id, args.voters, refs)
        fakes = start_fakes(None, None)
        process, port = start_hub(work, db_url, fakes.urls)
        try:
            time.sleep(1.0)  # the channels' start (setWebhook) is not the votes' work
            cpu_before = cpu_seconds(process.pid)
            latencies, first, last = asyncio.run(send_votes(port, requests, args.seconds))
            done = asyncio.run(settled(db_url, poll_id, args.voters, DRAIN_TIMEOUT))
            cpu = cpu_seconds(process.pid) - cpu_before
        finally:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
            fakes.terminate()
        votes, by_option, events, errors = asyncio.run(counted(db_url, poll_id))
    expected = dict(Counter(choice(i) for i in range(args.voters)))
    telegram = sum(1 for i in range(args.voters) if not is_whatsapp(i, 0.5))
    applied = f"{args.voters / (done - first):.1f}" if done else "not all within the timeout"
    exact = votes == args.voters and by_option == expected and events == args.voters
    print(f"poll votes on {kind}: {args.voters} RT heads ({telegram} Telegram poll answers, "
          f"{args.voters - telegram} WhatsApp list replies) over {args.seconds:g} s")  # fmt: skip
    rows = [
        ("offered votes/s", f"{args.voters / max(last - first, 1e-9):.1f}"),
        ("votes applied/s (first request to last vote and reply settled)", applied),
        ("settled after the last answer, s", f"{done - last:.2f}" if done else "-"),
        ("webhook latency p50 ms", f"{statistics.median(latencies):.1f}"),
        ("webhook latency p99 ms", f"{percentile(latencies, 0.99):.1f}"),
        ("hub CPU ms per inbound message", f"{cpu * 1000 / args.voters:.2f}"),
        ("votes in the database", f"{votes} (expected {args.voters})"),
        (
            "per option",
            f"{dict(sorted(by_option.items()))} (sent {dict(sorted(expected.items()))})",
        ),
        ("stored events / processing errors", f"{events} / {errors}"),
        ("every vote counted exactly once", "yes" if exact and not errors else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if not exact or errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
