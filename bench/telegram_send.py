"""Telegram send benchmark: our channel against plain python-telegram-bot 22, under a strict limit.

    .venv/bin/python bench/telegram_send.py [--messages 3000] [--rates 30,1000] [--concurrency 64]

For each rate N, a fake Bot API in its own process (so its CPU is not counted) answers 429
whenever accepting a sendMessage would put more than N of them into any one-second window. Both
contenders send the same broadcast (bold title, one inline button) to distinct chats, at most
`--concurrency` in flight:

- channel: TelegramChannel.send (aiohttp), paced by channels.pacing.RateLimiter(N) as
  hub/messaging/sender.py does; a THROTTLED answer pauses the limiter for retry_after and is
  sent again.
- ptb: ExtBot with its default HTTPXRequest and AIORateLimiter(overall_max_rate=N,
  max_retries=0), so every 429 reaches us (counted, slept for retry_after, sent again).
  At 1000/s both send with allow_paid_broadcast, which AIORateLimiter paces at 1000/s.

The clock runs from the first send to the last answer; CPU is time.process_time() of this process
over the same span.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import aiohttp
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from channels.base import Button, Event, Outgoing, SendError, SendErrorReason
from channels.pacing import RateLimiter
from channels.telegram import PAID_BROADCAST_RATE, TelegramChannel, to_telegram_html
from hub.core.config import TelegramSection
from tests.fake_telegram import TOKEN, serve_in_process

TEXT = (
    "📢 *Kerja bakti RT 03*\n\nMinggu pagi jam 07.00 kita kerja bakti membersihkan selokan "
    "di gang 4 & gang 5. Mohon bawa cangkul <bila ada>.\n\n— Kelurahan Loa Bakung"
)
FIRST_CHAT = 700_000_000  # distinct private chats: FIRST_CHAT + i

GOAL_SHARE = 97.0
GOAL_429 = 0
GOAL_CPU_MS = 1.0


@dataclass
class Outcome:
    contender: str
    rate: int
    messages: int
    wall: float  # seconds from the first send to the last answer
    cpu: float  # seconds of this process's CPU over the same span
    answered_429: int  # counted by the fake Bot API
    failed: int  # sends that failed for another reason

    @property
    def achieved(self) -> float:
        """messages / (wall seconds × rate), in percent."""
        return 100.0 * self.messages / (self.wall * self.rate)

    @property
    def capacity(self) -> float:
        """Share of what a sliding one-second window allows in that span (a full first burst)."""
        return 100.0 * self.messages / ((self.wall + 1.0) * self.rate)

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu / self.messages


async def _nothing(events: list[Event]) -> None:
    """The channel's event sink: no updates arrive in this benchmark."""


async def timed(
    count: int, concurrency: int, send: Callable[[int], Awaitable[None]]
) -> tuple[float, float]:
    """Run send(0..count-1) with bounded concurrency; (wall seconds, CPU seconds)."""
    semaphore = asyncio.Semaphore(concurrency)
    last = 0.0

    async def one(i: int) -> None:
        nonlocal last
        async with semaphore:
            await send(i)
        last = max(last, time.perf_counter())

    cpu_start = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return last - start, time.process_time() - cpu_start


async def run_channel(
    url: str, rate: int, count: int, concurrency: int
) -> tuple[float, float, int]:
    """Our path: RateLimiter(rate) then TelegramChannel.send, as the hub's sender does."""
    settings = TelegramSection(
        enabled=True,
        mode="webhook",
        api_base_url=url,
        messages_per_second=rate,
        paid_broadcast=rate >= PAID_BROADCAST_RATE,
        token=TOKEN,
        webhook_secret="bench-webhook-secret",
    )
    channel = TelegramChannel(settings, _nothing, public_url="https://bench.invalid")
    await channel.start()
    if reason := await channel.ready():
        raise SystemExit(f"channel not ready: {reason}")
    limiter = RateLimiter(max(1, round(channel.messages_per_second)))
    failed = 0

    async def send(i: int) -> None:
        nonlocal failed
        outgoing = Outgoing(
            key=str(i),
            address=str(FIRST_CHAT + i),
            text=TEXT,
            buttons=(Button("Sudah dibaca ✅", f"ack:{i}"),),
        )
        while True:
            await limiter.acquire()
            try:
                await channel.send(outgoing)
                return
            except SendError as exc:
                if exc.reason != SendErrorReason.THROTTLED:
                    failed += 1
                    return
                limiter.pause(exc.retry_after or 1.0)

    try:
        wall, cpu = await timed(count, concurrency, send)
    finally:
        await channel.stop()
    return wall, cpu, failed


async def run_ptb(url: str, rate: int, count: int, concurrency: int) -> tuple[float, float, int]:
    """Plain PTB 22: ExtBot, default HTTPXRequest, AIORateLimiter with no retries of its own."""
    paid = rate >= PAID_BROADCAST_RATE
    bot = ExtBot(
        TOKEN,
        base_url=f"{url}/bot",
        rate_limiter=AIORateLimiter(overall_max_rate=rate, overall_time_period=1, max_retries=0),
    )
    await bot.initialize()
    text = to_telegram_html(TEXT)
    failed = 0

    async def send(i: int) -> None:
        nonlocal failed
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Sudah dibaca ✅", callback_data=f"ack:{i}")]]
        )
        while True:
            try:
                await bot.send_message(
                    FIRST_CHAT + i,
                    text,
                    parse_mode="HTML",
                    reply_markup=markup,
                    allow_paid_broadcast=True if paid else None,
                )
                return
            except RetryAfter as exc:
                await asyncio.sleep(exc._retry_after.total_seconds())
            except Exception:
                failed += 1
                return

    try:
        wall, cpu = await timed(count, concurrency, send)
    finally:
        await bot.shutdown()
    return wall, cpu, failed


async def fake_stats(url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/_fake/stats") as response:
        return await response.json()


def measure(contender: str, rate: int, count: int, concurrency: int) -> Outcome:
    """One run against a fresh fake Bot API process enforcing `rate`."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=serve_in_process, args=(ready, rate), daemon=True)
    server.start()
    try:
        url = ready.get(timeout=30)
        run = run_channel if contender == "channel" else run_ptb
        wall, cpu, failed = asyncio.run(run(url, rate, count, concurrency))
        stats = asyncio.run(fake_stats(url))
    finally:
        server.terminate()
        server.join()
    return Outcome(contender, rate, count, wall, cpu, stats["answered_429"], failed)


NAMES = {"channel": "Balai Warga channel", "ptb": "PTB 22 + AIORateLimiter"}


def table(outcomes: list[Outcome]) -> str:
    header = (
        f"{'rate':>6}  {'contender':<24} {'msgs':>5} {'wall s':>7} {'achieved %':>10} "
        f"{'window %':>8} {'429s':>5} {'CPU ms/msg':>10} {'failed':>6}"
    )
    lines = [header, "-" * len(header)]
    for o in outcomes:
        lines.append(
            f"{o.rate:>4}/s  {NAMES[o.contender]:<24} {o.messages:>5} {o.wall:>7.2f} "
            f"{o.achieved:>10.1f} {o.capacity:>8.1f} {o.answered_429:>5} {o.cpu_ms:>10.3f} "
            f"{o.failed:>6}"
        )
    lines.append(
        f"{'goal':>6}  {'':<24} {'':>5} {'':>7} {'≥ ' + str(GOAL_SHARE):>10} "
        f"{'':>8} {GOAL_429:>5} {'≤ ' + str(GOAL_CPU_MS):>10}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rates", default="30,1000", help="comma-separated limits per second")
    parser.add_argument("--concurrency", type=int, default=64, help="sends in flight at most")
    parser.add_argument(
        "--only", choices=("channel", "ptb"), help="run one contender (e.g. to profile it)"
    )
    args = parser.parse_args()
    logging.getLogger("telegram").setLevel(logging.CRITICAL)  # PTB logs every 429 it raises
    rates = [int(rate) for rate in args.rates.split(",")]
    contenders = [args.only] if args.only else ["channel", "ptb"]
    outcomes = []
    for rate in rates:
        for contender in contenders:
            print(f"… {NAMES[contender]} at {rate}/s", file=sys.stderr, flush=True)
            outcomes.append(measure(contender, rate, args.messages, args.concurrency))
    print(
        f"\n{args.messages} messages to distinct chats; the fake Bot API answers 429 above N "
        "sendMessage in any sliding second\n"
    )
    print(table(outcomes))
    print(
        "\nachieved % = messages / (wall × rate); window % = messages / ((wall + 1 s) × rate),"
        " the share of what the sliding window allows, first full second included"
    )


if __name__ == "__main__":
    main()
