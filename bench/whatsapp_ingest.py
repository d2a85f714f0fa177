"""WhatsApp webhook ingest benchmark: signed status webhooks from wrk against `hub run` on SQLite.

    .venv/bin/python bench/whatsapp_ingest.py [--events 50000] [--connections 64] [--duration 20]

A fresh SQLite database in a temp dir is seeded with `--events` sent broadcast deliveries, each
with its sent outbox message and a distinct wamid. The load is one status per request, signed with
the app secret as Meta signs it: for each wamid `sent`, `delivered` and `read` (a tenth with `read`
before `delivered`, one in fifty `sent` then `failed` with error 131026), plus a share of replays
(the very same body again, which must change nothing). wrk walks a pre-generated file of those
requests on loopback for `--duration` seconds, `--connections` keep-alive connections; its latency
percentiles are from request written to answer read.

Four servers take the same load, one after the other, each on its own copy of the database:

- nothing: an aiohttp handler that reads the body and answers 200 (the ceiling of the loop).
- tortoise: a plain aiohttp handler that checks the signature, parses the JSON and updates the
  delivery with one Tortoise UPDATE per request (Tortoise's SQLite defaults; no event store, no
  replay protection).
- hub-full, hub-normal: `hub run` (config.toml in the temp dir, WhatsApp enabled against the fake
  Graph API in its own process, sandbox and scheduler off), the database URL asking SQLite for
  synchronous=FULL (a commit survives a power cut) or NORMAL (it survives a crash of the process;
  the last commits may be lost with the machine's power). Both in WAL mode.

After each hub run the benchmark waits until every stored event is processed, stops the hub with
SIGTERM and checks exactly-once from the database: every status the hub was sent is stored once
(but for at most one request per connection still in flight when wrk stopped), nothing it was not
sent, all processed without error, and every delivery is exactly where applying the stored events
one by one in their stored order puts it (status, each timestamp, failure reason): nothing
applied twice, out of order, backwards, or by a replay. Warnings or errors in the hub's log and a
non-zero exit are reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from tests.fake_graph import (  # noqa: E402
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    sign,
    status,
    status_notification,
)

GOAL_RATE = 4000.0  # status events per second
GOAL_P99_MS = 50.0
PATH = "/webhooks/whatsapp"
LAG = 300  # requests between a wamid's sent and its delivered, and again to its read
FAILED_ERROR = 131026
OUT_OF_ORDER_SHARE = 0.10  # read arrives before delivered
FAILED_SHARE = 0.02  # sent, then failed; never delivered
PYTHON = sys.executable

LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1] .. "/requests-" .. id .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos = 1
  while true do
    local s = string.find(data, "\0", pos, true)
    if not s then break end
    reqs[#reqs + 1] = string.sub(data, pos, s - 1)
    pos = s + 1
  end
  issued = 0
  wrapped = 0
end

function request()
  issued = issued + 1
  if issued > #reqs then
    wrapped = 1  -- out of requests: the rest are replays of this thread's first ones
    return reqs[(issued - 1) % #reqs + 1]
  end
  return reqs[issued]
end

function done(summary, latency, requests)
  local issued = {}
  for _, t in ipairs(threads) do
    issued[#issued + 1] = string.format("[%d, %d]", t:get("issued"), t:get("wrapped"))
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "issued": [%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(issued, ", ")))
end
"""


# The load -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sent:
    """One status webhook as generated: which wamid, which status, its timestamp."""

    key: str  # the dispatcher's event key: status:<wamid>:<status>
    index: int  # the delivery / wamid number
    kind: str  # sent, delivered, read, failed
    at: int  # Meta's timestamp, seconds


def wamid(i: int) -> str:
    return f"wamid.HBgNNjI4MTEwMDAxMTEwMBUCABEYEjRBQkM{i:010d}QUZCRjZDAA=="


def sent_at(i: int, base: int) -> int:
    return base + i // 50


def generate(
    count: int, replay_share: float, threads: int, seed: int, base: int
) -> tuple[list[list[bytes]], list[list[Sent]]]:
    """Per wrk thread: raw HTTP requests, and the status each one carries.

    A replay carries the same status as its original; as the threads go at their own pace, the
    replay may well be the one that arrives first.
    """
    rng = random.Random(seed)
    plan: list[tuple[int, str]] = []  # (wamid index, status) in the order they are posted
    late: dict[int, list[tuple[int, str]]] = {}
    for i in range(count):
        roll = rng.random()
        if roll < FAILED_SHARE:
            follow = [(LAG, "failed")]
        elif roll < FAILED_SHARE + OUT_OF_ORDER_SHARE:
            follow = [(LAG, "read"), (2 * LAG, "delivered")]
        else:
            follow = [(LAG, "delivered"), (2 * LAG, "read")]
        plan.append((i, "sent"))
        for step, kind in follow:
            late.setdefault(i + step, []).append((i, kind))
        plan.extend(late.pop(i, []))
    for step in sorted(late):
        plan.extend(late[step])

    offsets = {"sent": 0, "delivered": 2, "failed": 3, "read": 30}
    raws: list[list[bytes]] = [[] for _ in range(threads)]
    carried: list[list[Sent]] = [[] for _ in range(threads)]
    recent: list[tuple[bytes, Sent]] = []
    n = 0
    for i, kind in plan:
        at = sent_at(i, base) + offsets[kind]
        entry = status(
            wamid(i), kind, timestamp=at, error_code=FAILED_ERROR if kind == "failed" else None
        )
        body = json.dumps(status_notification([entry]), separators=(",", ":")).encode()
        raw = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Hub-Signature-256: {sign(body, APP_SECRET)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        sent = Sent(f"status:{wamid(i)}:{kind}", i, kind, at)
        raws[n % threads].append(raw)
        carried[n % threads].append(sent)
        n += 1
        recent.append((raw, sent))
        if len(recent) > 2000:
            del recent[:1000]
        if rng.random() < replay_share:
            raw, sent = rng.choice(recent)
            raws[n % threads].append(raw)
            carried[n % threads].append(sent)
            n += 1
    return raws, carried


# Seeding ------------------------------------------------------------------------------------


async def seed(db_url: str, count: int, base: int) -> None:
    """The schema, one broadcast and `count` sent deliveries with their outbox messages."""
    from tortoise import Tortoise

    from hub.core.db import apply_migrations
    from models import (
        Broadcast,
        BroadcastStatus,
        Delivery,
        DeliveryStatus,
        Member,
        MessageKind,
        OutboundMessage,
        OutboxState,
    )
    from models.config import tortoise_config

    await apply_migrations(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    try:
        started = dt.datetime.fromtimestamp(base - 60, dt.UTC)
        broadcast = await Broadcast.create(
            title="Kerja bakti",
            text="Minggu pagi jam 07.00 kerja bakti.",
            status=BroadcastStatus.SENT,
            audience={"areas": []},
            recipients=count,
            started_at=started,
        )
        await Member.bulk_create(
            [
                Member(id=i + 1, name=f"Ketua {i}", phone=f"+6281{i:09d}", invite_code=f"B{i:09d}")
                for i in range(count)
            ],
            batch_size=2000,
        )
        await Delivery.bulk_create(
            [
                Delivery(
                    id=i + 1,
                    broadcast_id=broadcast.id,
                    member_id=i + 1,
                    channel="whatsapp",
                    address=f"+6281{i:09d}",
                    status=DeliveryStatus.SENT,
                    external_id=wamid(i),
                    sent_at=dt.datetime.fromtimestamp(sent_at(i, base), dt.UTC),
                    attempts=1,
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        await OutboundMessage.bulk_create(
            [
                OutboundMessage(
                    id=i + 1,
                    kind=MessageKind.BROADCAST,
                    delivery_id=i + 1,
                    member_id=i + 1,
                    channel="whatsapp",
                    address=f"+6281{i:09d}",
                    text="Minggu pagi jam 07.00 kerja bakti.",
                    state=OutboxState.SENT,
                    attempts=1,
                    next_attempt_at=started,
                    external_id=wamid(i),
                    sent_at=dt.datetime.fromtimestamp(sent_at(i, base), dt.UTC),
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
    finally:
        await Tortoise.close_connections()


# Reference servers (run as `--serve nothing|tortoise`) ---------------------------------------


def serve_reference(kind: str, port: int, db_url: str) -> None:
    """A plain aiohttp app on `port` until SIGTERM."""
    import hashlib
    import hmac

    from aiohttp import web

    from models import Delivery, DeliveryStatus

    secret = APP_SECRET.encode()
    ladder = ["pending", "sent", "delivered", "read", "acknowledged"]
    stamp = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}

    async def nothing(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    async def update(request: web.Request) -> web.Response:
        body = await request.read()
        given = request.headers.get("X-Hub-Signature-256", "").partition("=")[2]
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=401)
        value = json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"][0]
        at = dt.datetime.fromtimestamp(int(value["timestamp"]), dt.UTC)
        rows = Delivery.filter(channel="whatsapp", external_id=value["id"])
        if value["status"] == "failed":
            error = value["errors"][0]
            await rows.filter(status__in=["pending", "sent"]).update(
                status=DeliveryStatus.FAILED,
                failed_at=at,
                failure_reason=f"{error['code']} {error['title']}",
            )
        else:
            lower = [*ladder[: ladder.index(value["status"])], "failed"]
            changes = {"status": DeliveryStatus(value["status"]), stamp[value["status"]]: at}
            if value["status"] == "read":
                changes["read_evidence"] = "receipt"
            await rows.filter(status__in=lower).update(**changes, failure_reason=None)
        return web.Response(text="ok")

    async def main() -> None:
        from tortoise import Tortoise

        from models.config import tortoise_config

        if kind == "tortoise":
            await Tortoise.init(config=tortoise_config(db_url))
        app = web.Application()
        app.router.add_post(PATH, nothing if kind == "nothing" else update)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        await runner.cleanup()
        if kind == "tortoise":
            await Tortoise.close_connections()

    asyncio.run(main())


# Running one contender ----------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connection errors, timeouts and non-2xx answers
    cpu_ms: float  # CPU of the server process per request
    issued: list[tuple[int, int]]  # per wrk thread: requests issued, whether it ran out
    events: int | None = None  # distinct new events stored (hub only)
    drain_s: float | None = None  # from the end of the load until every event was processed
    verdict: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(work: Path, port: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(work / "load.lua"),
        f"http://127.0.0.1:{port}{PATH}",
        "--",
        str(work),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 120, check=False
    )
    (work / f"wrk-{port}.out").write_text(done.stdout + done.stderr)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def stop(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise SystemExit("the server did not stop within a minute of SIGTERM") from None


def load(name: str, process: subprocess.Popen[bytes], port: int, work: Path, args: Any) -> Outcome:
    wait_for_port(port, process)
    cpu_before = cpu_seconds(process.pid)
    result = run_wrk(work, port, args)
    cpu = cpu_seconds(process.pid) - cpu_before
    errors = sum(result["errors"].values())
    requests = result["requests"]
    return Outcome(
        name=name,
        requests=requests,
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        max_ms=result["max_us"] / 1000,
        errors=errors,
        cpu_ms=1000 * cpu / max(requests, 1),
        issued=[(int(a), int(b)) for a, b in result["issued"]],
    )


def run_reference(kind: str, work: Path, template: Path, args: argparse.Namespace) -> Outcome:
    database = work / f"{kind}.sqlite3"
    shutil.copy(template, database)
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, __file__, "--serve", kind, "--port", str(port), "--db", f"sqlite://{database}"],
        cwd=ROOT,
    )
    try:
        return load(kind, process, port, work, args)
    finally:
        stop(process)
        if not args.keep:
            remove_database(database)


def remove_database(database: Path) -> None:
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)


def start_fake_graph() -> tuple[Any, str]:
    import multiprocessing

    from tests.fake_graph import serve_in_process

    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=serve_in_process, args=(ready,), daemon=True)
    process.start()
    return process, ready.get(timeout=30)


def run_hub(
    name: str, work: Path, template: Path, carried: list[list[Sent]], args: argparse.Namespace
) -> Outcome:
    """`hub run` with SQLite's synchronous set as `name` says (hub-full, hub-normal)."""
    synchronous = name.removeprefix("hub-").upper()
    database = work / f"{name}.sqlite3"
    shutil.copy(template, database)
    port = free_port()
    graph, graph_url = start_fake_graph()
    config = work / "config.toml"
    config.write_text(
        f"""[hub]
public_url = "http://127.0.0.1:{port}"
data_dir = "{work}/data"
run_scheduler = false

[database]
url = "sqlite://{database}?synchronous={synchronous}"

[web]
host = "127.0.0.1"
port = {port}

[sandbox]
enabled = false

[whatsapp]
enabled = true
api_base_url = "{graph_url}"
phone_number_id = "{PHONE_NUMBER_ID}"
"""
    )
    env = {
        **os.environ,
        "HUB_CONFIG": str(config),
        "HUB_WHATSAPP_ACCESS_TOKEN": TOKEN,
        "HUB_WHATSAPP_APP_SECRET": APP_SECRET,
        "HUB_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
    }
    log_path = work / f"{name}.log"
    hub_log = log_path.open("wb")
    process = subprocess.Popen(
        [str(Path(PYTHON).with_name("hub")), "run"],
        cwd=work,
        env=env,
        stdout=hub_log,
        stderr=subprocess.STDOUT,
    )
    try:
        outcome = load(name, process, port, work, args)
        outcome.drain_s = wait_processed(database, timeout=args.drain_timeout)
    finally:
        stop(process)
        graph.terminate()
        graph.join()
        hub_log.close()
    outcome.events, outcome.verdict = verify(database, carried, outcome, args)
    logged = log_path.read_text(errors="replace")
    trouble = [line for line in logged.splitlines() if " ERROR " in line or " WARNING " in line]
    trouble = [line for line in trouble if "command menu" not in line]
    if process.returncode != 0 or trouble:
        outcome.verdict += f"; exit {process.returncode}, {len(trouble)} warnings/errors logged"
        print(f"{name}: see {log_path} (--keep to keep it)", file=sys.stderr)
    if not args.keep:
        remove_database(database)
    return outcome


def wait_processed(database: Path, timeout: float) -> float | None:
    """Seconds until no stored event waits for processing; None if that did not happen."""
    start = time.monotonic()
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        while time.monotonic() - start < timeout:
            (left,) = db.execute(
                "SELECT count(*) FROM inbound_event WHERE processed_at IS NULL"
            ).fetchone()
            if left == 0:
                return time.monotonic() - start
            time.sleep(0.05)
    return None


# Exactly once -------------------------------------------------------------------------------


def _stamp(value: str | None) -> int | None:
    return None if value is None else int(dt.datetime.fromisoformat(value).timestamp())


LADDER = ["pending", "sent", "delivered", "read", "acknowledged"]


def expected_deliveries(
    count: int, base: int, stored: list[Sent]
) -> list[tuple[str, int | None, int | None, int | None, int | None, bool]]:
    """Each delivery after applying `stored` one by one in that order, as the ladder says: a
    status moves a delivery up (a failed one too, unless it is a late "sent"), never down; failed
    only from pending or sent.
    (status, sent_at, delivered_at, read_at, failed_at, has a failure reason)."""
    state: list[list[Any]] = [
        ["sent", sent_at(i, base), None, None, None, False] for i in range(count)
    ]
    column = {"sent": 1, "delivered": 2, "read": 3}
    for event in stored:
        row = state[event.index]
        if event.kind == "failed":
            if row[0] in ("pending", "sent"):
                row[0], row[4], row[5] = "failed", event.at, True
        elif (row[0] == "failed" and event.kind != "sent") or (
            row[0] != "failed" and LADDER.index(row[0]) < LADDER.index(event.kind)
        ):
            row[0], row[column[event.kind]], row[5] = event.kind, event.at, False
    return [tuple(row) for row in state]  # type: ignore[misc]


def verify(
    database: Path, carried: list[list[Sent]], outcome: Outcome, args: argparse.Namespace
) -> tuple[int, str]:
    """(distinct events stored, "ok" or what is wrong), read from the database after the stop."""
    issued: dict[str, Sent] = {}
    for plan, (count, wrapped) in zip(carried, outcome.issued, strict=True):
        for sent in plan if wrapped else plan[:count]:
            issued[sent.key] = sent
    problems: list[str] = []
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT external_id, processed_at, error FROM inbound_event ORDER BY id"
        ).fetchall()
        deliveries = db.execute(
            "SELECT status, sent_at, delivered_at, read_at, failed_at, failure_reason "
            "FROM delivery ORDER BY id"
        ).fetchall()
    keys = [key for key, _, _ in rows]
    if len(set(keys)) != len(keys):
        problems.append(f"{len(keys) - len(set(keys))} events stored twice")
    foreign = [key for key in keys if key not in issued]
    if foreign:
        problems.append(f"{len(foreign)} stored events were never sent (e.g. {foreign[0]})")
    unprocessed = sum(1 for _, processed, _ in rows if processed is None)
    failed = sum(1 for _, _, error in rows if error is not None)
    if unprocessed:
        problems.append(f"{unprocessed} events left unprocessed")
    if failed:
        problems.append(f"{failed} events failed processing")
    # Requests still in flight when wrk stopped may or may not have been stored: at most one
    # per connection. Anything else that was sent must be there.
    missing = len(issued) - len(set(keys) & set(issued))
    if missing > args.connections:
        problems.append(f"{missing} events sent but not stored")

    # Exactly once, in order: the deliveries must be where applying the stored events one by
    # one, in the order they were stored, puts them.
    expected = expected_deliveries(
        len(deliveries), args.base, [issued[key] for key in keys if key in issued]
    )
    wrong = 0
    example = ""
    for n, (got, want) in enumerate(zip(deliveries, expected, strict=True)):
        state, sent, delivered, read, failed_at, reason = got
        actual = (
            state,
            _stamp(sent),
            _stamp(delivered),
            _stamp(read),
            _stamp(failed_at),
            reason is not None and reason.startswith(f"{FAILED_ERROR} "),
        )
        if actual != want or (reason is not None and not actual[5]):
            wrong += 1
            example = example or f"delivery {n + 1}: {actual}, expected {want}"
    if wrong:
        problems.append(f"{wrong} deliveries not where the ladder puts them ({example})")
    return len(set(keys)), "ok" if not problems else "; ".join(problems)


# The table ----------------------------------------------------------------------------------

NAMES = {
    "nothing": "aiohttp, handler does nothing",
    "tortoise": "aiohttp + Tortoise UPDATE/request",
    "hub-full": "hub run, synchronous=FULL",
    "hub-normal": "hub run, synchronous=NORMAL",
}
CONTENDERS = list(NAMES)


def table(outcomes: list[Outcome]) -> str:
    header = (
        f"{'server':<34} {'requests':>8} {'req/s':>7} {'events/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'errors':>6} {'CPU ms/req':>10} {'drain s':>7} {'goal':>6}"
        "  exactly once"
    )
    lines = [header, "-" * len(header)]
    for o in outcomes:
        events = f"{o.events / o.seconds:>8.0f}" if o.events is not None else f"{'':>8}"
        drain = f"{o.drain_s:>7.2f}" if o.drain_s is not None else f"{'':>7}"
        goal = ""
        if o.name.startswith("hub"):
            met = (
                o.events is not None
                and o.events / o.seconds >= GOAL_RATE
                and o.p99_ms < GOAL_P99_MS
                and o.errors == 0
                and o.drain_s is not None
                and o.verdict == "ok"
            )
            goal = "met" if met else "missed"
            if o.drain_s is None:
                drain = f"{'>limit':>7}"
        lines.append(
            f"{NAMES[o.name]:<34} {o.requests:>8} {o.rate:>7.0f} {events} {o.p50_ms:>7.1f} "
            f"{o.p99_ms:>7.1f} {o.max_ms:>7.1f} {o.errors:>6} {o.cpu_ms:>10.3f} {drain} "
            f"{goal:>6}  {o.verdict or '-'}"
        )
    lines.append(
        f"{'goal (hub)':<34} {'':>8} {'':>7} {'≥ ' + str(int(GOAL_RATE)):>8} {'':>7} "
        f"{'< ' + str(int(GOAL_P99_MS)):>7} {'':>7} {0:>6} {'':>10} {'':>7} {'':>6}  ok"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50000, help="wamids (deliveries) seeded")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per server")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--replays", type=float, default=0.1, help="share of replayed requests")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--only", choices=CONTENDERS, action="append", help="run this one (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    parser.add_argument("--serve", choices=("nothing", "tortoise"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_reference(args.serve, args.port, args.db)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    args.base = int(time.time()) - 3600

    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        print(f"… seeding {args.events} sent deliveries in {work}", file=sys.stderr, flush=True)
        template = work / "seeded.sqlite3"
        asyncio.run(seed(f"sqlite://{template}", args.events, args.base))
        print("… generating signed webhooks", file=sys.stderr, flush=True)
        raws, carried = generate(args.events, args.replays, args.threads, 7, args.base)
        for n, requests in enumerate(raws):
            (work / f"requests-{n}.bin").write_bytes(b"".join(r + b"\0" for r in requests))
        (work / "load.lua").write_text(LUA)
        total = sum(len(r) for r in raws)

        load_before = os.getloadavg()[0]
        outcomes = []
        for name in [c for c in CONTENDERS if c in (args.only or CONTENDERS)]:
            print(f"… {NAMES[name]}: {args.duration} s", file=sys.stderr, flush=True)
            if name.startswith("hub"):
                outcomes.append(run_hub(name, work, template, carried, args))
            else:
                outcomes.append(run_reference(name, work, template, args))
            if name != "nothing" and any(wrapped for _, wrapped in outcomes[-1].issued):
                print(
                    f"  note: wrk ran out of the {total} generated requests and replayed them;"
                    " raise --events",
                    file=sys.stderr,
                )
        print(
            f"\n{total} signed status webhooks generated for {args.events} wamids "
            f"({args.replays:.0%} replays), one status per request; wrk -t{args.threads} "
            f"-c{args.connections} -d{args.duration}s on loopback, {os.cpu_count()} CPUs "
            f"(load average {load_before:.2f} before the runs)\n"
        )
        print(table(outcomes))
        print(
            "\nevents/s = distinct new events stored / load seconds (replays excluded); drain s ="
            " from the end of the load until every stored event was applied; CPU = the server"
            " process"
        )
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
