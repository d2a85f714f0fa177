"""The fake Bot API and Graph API of the tests, served for the benchmarks.

`start_fakes()` runs each in a process of its own (their CPU is not counted as the hub's, and
neither platform's requests wait behind the other's, as they would not in the world), each
enforcing its platform's limit in a sliding one-second window and answering 429 / 130429
above it, and timing the first and the last message it accepted on the system-wide monotonic
clock, which the benchmark process shares. `/_fake/stats` of each answers with its counts.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from tests.fake_graph import FakeGraphAPI
from tests.fake_telegram import FakeBotAPI


class _Timed:
    """Times of the first and last accepted message (time.monotonic(), shared across processes)."""

    first_sent: float | None = None
    last_sent: float | None = None

    def _accepted(self) -> None:
        now = time.monotonic()
        if self.first_sent is None:
            self.first_sent = now
        self.last_sent = now

    def _timing(self) -> dict[str, float | None]:
        return {"first_sent": self.first_sent, "last_sent": self.last_sent}


class TimedBotAPI(FakeBotAPI, _Timed):
    """The fake Bot API, timing accepted sendMessage calls."""

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._api_sendMessage(params)
        if response.status == 200:
            self._accepted()
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"answered_429": self.answered_429, "sent": self.sent, **self._timing()}
        )


class TimedGraphAPI(FakeGraphAPI, _Timed):
    """The fake Graph API, timing accepted messages."""

    async def _messages(self, request: web.Request) -> web.Response:
        before = self.sent
        response = await super()._messages(request)
        if self.sent != before:
            self._accepted()
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"answered_429": self.answered_429, "sent": self.sent, **self._timing()}
        )


def serve_fake(ready: Any, platform: str, rate: int | None) -> None:
    """Process target: one fake until terminated; puts its base URL."""

    async def main() -> None:
        fake = (TimedBotAPI if platform == "telegram" else TimedGraphAPI)(
            strict_rate=rate, record=False
        )
        ready.put(await fake.start())
        await asyncio.Event().wait()

    asyncio.run(main())


class Fakes:
    """The two fakes' processes and base URLs ({"telegram": url, "whatsapp": url})."""

    def __init__(self, processes: list[multiprocessing.process.BaseProcess], urls: dict[str, str]):
        self.processes = processes
        self.urls = urls

    def terminate(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join()


def start_fakes(telegram_rate: int | None, whatsapp_rate: int | None) -> Fakes:
    """The fake Bot API and the fake Graph API, each in a fresh process of its own."""
    context = multiprocessing.get_context("spawn")
    processes, urls = [], {}
    for platform, rate in (("telegram", telegram_rate), ("whatsapp", whatsapp_rate)):
        ready = context.Queue()
        process = context.Process(target=serve_fake, args=(ready, platform, rate), daemon=True)
        process.start()
        processes.append(process)
        urls[platform] = ready.get(timeout=60)
    return Fakes(processes, urls)


async def fake_stats(url: str) -> dict[str, Any]:
    """What one fake counted (`/_fake/stats`)."""
    async with ClientSession() as session, session.get(f"{url}/_fake/stats") as response:
        return dict(await response.json())
