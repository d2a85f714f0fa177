"""Kill -9 a broadcasting hub and start it again: the shared machinery of bench/crash.py and
tests/test_crash.py.

The fake Bot API and Graph API run in the calling process and count every message they accept,
per chat and per number. The hub is the real `hub run` in a subprocess (config.toml in a temp
dir, SQLite, Telegram in webhook mode, WhatsApp, secrets in HUB_* variables), with a short claim
lease (`[broadcast] claim_lease_seconds`) so that the messages a killed hub held are sent again
after seconds rather than two minutes. The broadcast is fanned out with the hub's own
`create_broadcast()` before the first start, by a separate process (`python -m bench._crash
seed ...`), so this process never opens the database with Tortoise.

A kill happens inside a fake's handler, right after it accepted the message that reached the
target count and before it answers: that message and every other request then in flight left
the hub, which never learns it. That is the worst moment there is, and the one the documented
bound is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from anywhere

from bench._roster import is_whatsapp, telegram_chat, whatsapp_number  # noqa: E402
from tests.fake_graph import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, FakeGraphAPI  # noqa: E402
from tests.fake_graph import TOKEN as GRAPH_TOKEN  # noqa: E402
from tests.fake_telegram import TOKEN as BOT_TOKEN  # noqa: E402
from tests.fake_telegram import FakeBotAPI  # noqa: E402

CONCURRENCY = 16  # the sender's default: messages in flight or unwritten at most, per process
WEBHOOK_SECRET = "crash-test-webhook-secret-5d2e"
TITLE = "Pemadaman listrik bergilir"
TEXT = (
    "Kepada Bapak/Ibu Ketua RT, PLN mengumumkan pemadaman bergilir hari Kamis pukul 09.00-15.00 "
    "WITA. Mohon diteruskan kepada warga."
)

AcceptHook = Callable[[], None]


class _Counting:
    """Per-recipient counts of accepted messages, and a hook called after each one."""

    def _init_counts(self) -> None:
        self.received: Counter[str] = Counter()
        self.on_accept: AcceptHook | None = None

    def _accepted(self, recipient: str) -> None:
        self.received[recipient] += 1
        if self.on_accept is not None:
            self.on_accept()


class CountingBotAPI(FakeBotAPI, _Counting):
    """The fake Bot API; `received` counts accepted sendMessage calls by chat id."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._init_counts()

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super()._api_sendMessage(params)
        if response.status == 200:
            self._accepted(str(params["chat_id"]))
        return response


class CountingGraphAPI(FakeGraphAPI, _Counting):
    """The fake Graph API; `received` counts accepted messages by number (digits, with a +)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._init_counts()

    async def _messages(self, request: web.Request) -> web.Response:
        before = self.sent
        response = await super()._messages(request)
        if self.sent != before:
            body = await request.json()
            self._accepted("+" + str(body.get("to", "")).lstrip("+"))
        return response


@dataclasses.dataclass
class Verdict:
    recipients: int
    received: int  # messages accepted by the fakes
    nothing: list[str]  # recipients who got no message
    duplicates: int  # messages beyond the first per recipient
    doubled: int  # recipients who got more than one
    kills: int
    requeued: int  # messages the restarted hubs took back from dead claims (from their logs)
    troubles: list[str]  # hub exit codes and logged errors worth a look

    @property
    def bound(self) -> int:
        return CONCURRENCY * self.kills


@dataclasses.dataclass
class CrashRun:
    """One broadcast to `members` recipients, a hub killed at the given accepted-message counts."""

    work: Path
    members: int
    kill_at: list[int]  # total accepted messages at which to kill, ascending
    whatsapp_share: float = 0.4
    telegram_rate: int = 30
    whatsapp_rate: int = 80
    lease_seconds: int = 5
    timeout: float = 600.0  # for the whole run
    log: Callable[[str], None] = lambda line: None

    def __post_init__(self) -> None:
        self.database = self.work / "hub.sqlite3"
        self.telegram = CountingBotAPI()
        self.whatsapp = CountingGraphAPI()
        self._process: asyncio.subprocess.Process | None = None
        self._kills_done = 0
        self._killed = asyncio.Event()
        self.port = _free_port()
        self.exit_codes: list[int] = []

    @property
    def accepted(self) -> int:
        return sum(self.telegram.received.values()) + sum(self.whatsapp.received.values())

    async def run(self) -> Verdict:
        """Seed, broadcast, kill and restart as planned, wait for the end; the verdict."""
        await self.telegram.start()
        await self.whatsapp.start()
        self.telegram.on_accept = self.whatsapp.on_accept = self._maybe_kill
        try:
            await self._seed()
            async with asyncio.timeout(self.timeout):
                runs = 0
                while True:
                    runs += 1
                    await self._start(runs)
                    finished = asyncio.create_task(self._wait_finished())
                    killed = asyncio.create_task(self._killed.wait())
                    done, _ = await asyncio.wait(
                        {finished, killed}, return_when=asyncio.FIRST_COMPLETED
                    )
                    finished.cancel()
                    killed.cancel()
                    if killed in done:
                        assert self._process is not None
                        self.exit_codes.append(await self._process.wait())
                        self.log(
                            f"killed the hub (run {runs}) at "
                            f"{self.kill_at[self._kills_done - 1]} messages received"
                        )
                        self._killed.clear()
                        continue
                    await self._stop()
                    break
        finally:
            if self._process is not None and self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
            await self.telegram.stop()
            await self.whatsapp.stop()
        return self._verdict(runs)

    # The hub ----------------------------------------------------------------------------------

    def _maybe_kill(self) -> None:
        """Called by a fake after each accepted message, before it answers."""
        if self._kills_done >= len(self.kill_at) or self.accepted < self.kill_at[self._kills_done]:
            return
        if self._process is not None and self._process.returncode is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._kills_done += 1
            self._killed.set()

    def _config(self) -> Path:
        config = self.work / "config.toml"
        config.write_text(
            f"""[hub]
public_url = "http://127.0.0.1:{self.port}"
data_dir = "{self.work}/data"
run_scheduler = false

[database]
url = "sqlite://{self.database}"

[web]
host = "127.0.0.1"
port = {self.port}

[sandbox]
enabled = false

[telegram]
enabled = true
mode = "webhook"
api_base_url = "{self.telegram.url}"
messages_per_second = {self.telegram_rate}

[whatsapp]
enabled = true
api_base_url = "{self.whatsapp.url}"
phone_number_id = "{PHONE_NUMBER_ID}"
messages_per_second = {self.whatsapp_rate}

[broadcast]
claim_lease_seconds = {self.lease_seconds}
"""
        )
        return config

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HUB_CONFIG": str(self._config()),
            "HUB_TELEGRAM_TOKEN": BOT_TOKEN,
            "HUB_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "HUB_WHATSAPP_ACCESS_TOKEN": GRAPH_TOKEN,
            "HUB_WHATSAPP_APP_SECRET": APP_SECRET,
            "HUB_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        }

    async def _start(self, run: int) -> None:
        log = (self.work / f"hub-{run}.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "run",
            cwd=self.work,
            env=self._environment(),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()  # the child has its own copy
        self.log(f"started the hub (run {run}, pid {self._process.pid})")

    async def _stop(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                self.exit_codes.append(await self._process.wait())
        except TimeoutError:
            self._process.kill()
            self.exit_codes.append(await self._process.wait())

    async def _wait_finished(self) -> None:
        """Until the broadcast is sent and no message is queued or claimed."""
        while True:
            if await asyncio.to_thread(self._finished):
                return
            await asyncio.sleep(0.1)

    def _finished(self) -> bool:
        with contextlib.closing(sqlite3.connect(self.database, timeout=30)) as db:
            (status,) = db.execute("SELECT status FROM broadcast ORDER BY id LIMIT 1").fetchone()
            (open_messages,) = db.execute(
                "SELECT count(*) FROM outbound_message WHERE state IN ('queued', 'sending')"
            ).fetchone()
        return bool(status == "sent" and open_messages == 0)

    # Seeding ----------------------------------------------------------------------------------

    async def _seed(self) -> None:
        seeding = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._crash",
            "seed",
            str(self.database),
            str(self.members),
            str(self.whatsapp_share),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await seeding.communicate()
        if seeding.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{output.decode(errors='replace')}")
        self.log(f"seeded {self.members} members and fanned the broadcast out")

    # Verdict ----------------------------------------------------------------------------------

    def _verdict(self, runs: int) -> Verdict:
        expected = [
            whatsapp_number(i) if is_whatsapp(i, self.whatsapp_share) else str(telegram_chat(i))
            for i in range(self.members)
        ]
        got = self.telegram.received + self.whatsapp.received
        nothing = [r for r in expected if got[r] == 0]
        duplicates = sum(n - 1 for n in got.values() if n > 1)
        doubled = sum(1 for n in got.values() if n > 1)
        requeued = 0
        troubles = []
        for run in range(1, runs + 1):
            for line in (self.work / f"hub-{run}.log").read_text(errors="replace").splitlines():
                if "requeued" in line and "messages whose sender stopped" in line:
                    requeued += int(line.split("requeued ", 1)[1].split()[0])
                elif " ERROR " in line or "Traceback" in line:
                    troubles.append(f"hub-{run}.log: {line.strip()[:200]}")
        unexpected = set(got) - set(expected)
        if unexpected:
            troubles.append(f"messages to {len(unexpected)} addresses outside the roster")
        if self.exit_codes[-1:] != [0]:
            troubles.append(f"the last hub exited with {self.exit_codes[-1:]}")
        return Verdict(
            recipients=self.members,
            received=sum(got.values()),
            nothing=nothing,
            duplicates=duplicates,
            doubled=doubled,
            kills=self._kills_done,
            requeued=requeued,
            troubles=troubles,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# `python -m bench._crash seed DATABASE MEMBERS WHATSAPP_SHARE` ----------------------------------


async def seed(database: Path, members: int, whatsapp_share: float) -> None:
    """Schema, roster, and one send-now broadcast to everyone, fanned out by the hub's code."""
    import datetime as dt

    from tortoise import Tortoise

    from bench._roster import kecamatan_paths, seed_roster
    from channels import channel_class
    from hub.access.auth import Scope
    from hub.broadcast.service import BroadcastRequest, create_broadcast
    from hub.core.config import Config
    from hub.core.db import apply_migrations
    from models.config import tortoise_config

    url = f"sqlite://{database}"
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        await seed_roster(members, whatsapp_share)
        await create_broadcast(
            Config(),
            BroadcastRequest(title=TITLE, text=TEXT, areas=kecamatan_paths(members)),
            user=None,
            scope=Scope(None, None),
            enabled_channels={name: channel_class(name) for name in ("telegram", "whatsapp")},
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "seed":
        raise SystemExit("usage: python -m bench._crash seed DATABASE MEMBERS WHATSAPP_SHARE")
    asyncio.run(seed(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
