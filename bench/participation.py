"""Participation benchmark: the officials' figures over a generated year of a city or a province.

    .venv/bin/python bench/participation.py                          # SQLite, the city
    .venv/bin/python bench/participation.py --postgres               # PostgreSQL, the city
    .venv/bin/python bench/participation.py --postgres --province    # 50,000 RT heads
    .venv/bin/python bench/participation.py --town                   # a quick look (300 RT heads)

The data set (bench/_city.py) is generated once per scale, seed and schema and kept: SQLite under
data/bench/, PostgreSQL as the database `bench_participation_<scale>`; `--fresh` makes it again.
The hub's app then runs in this process on loopback (aiohttp's test server, the hub's clock at the
year's end) and each request below is made `--requests` times one after the other, after
`--warmups`, as an admin (API token; dashboard pages with a session): the whole area (city or
province), the largest kelurahan (`?area=`) and one RT head, over the default period (the last
30 days) and over the whole year (`from`, `to`). The table gives p50/p95/max beside the limit.
Every SQL query Tortoise sends is timed (the connection's execute methods wrapped); the slowest
request of each period and view is broken down query by query, with the plans of the slowest
queries (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import logging
import math
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from bench._city import (  # noqa: E402
    CITY,
    END,
    FIRST_DAY,
    LAST_DAY,
    PROVINCE,
    Scale,
    postgres_city,
    progress,
    sqlite_city,
)

POSTGRES_SERVER = os.environ.get("HUB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
TOWN = Scale("town", 2, 10, 300, 60, 20, 20_000, 2_000)
LIMIT_MS = 150.0
WIDE_LIMIT_MS = {"province": 1000.0}  # the whole-area view's limit, where it differs
WARM_MS = 5000  # a warm-up this slow is enough: the caches are filled, the row has its budget

# What is measured. The area's and the kelurahan's views take `area` and the period; the RT
# head's take the member's id. Dashboard pages go in the PAGES lists, one line each, and are
# requested with a session cookie instead of the token.
API = (
    "/api/v1/participation",
    "/api/v1/participation/areas",
    "/api/v1/participation/ranking",
    "/api/v1/participation/trend",
)
MEMBER_API = ("/api/v1/participation/members/{id}",)
PAGES: tuple[str, ...] = ("/partisipasi",)
MEMBER_PAGES: tuple[str, ...] = ("/partisipasi/anggota/{id}",)
PERIODS = {
    "30 days": {},  # the API's default: [participation] period_days to today
    "year": {"from": FIRST_DAY.isoformat(), "to": LAST_DAY.isoformat()},
}


# Timing every SQL query -------------------------------------------------------------------------


@dataclass
class Sql:
    text: str
    values: list[Any] | None
    ms: float
    rows: int


class SqlLog:
    """The queries Tortoise sends, timed: the connection's two read methods wrapped. The time is
    the database's and the driver's (rows fetched), not the ORM's making of objects after."""

    def __init__(self) -> None:
        self.queries: list[Sql] = []
        self.originals: dict[str, Callable[..., Awaitable[Any]]] = {}

    def install(self, connection: Any) -> None:
        for name in ("execute_query", "execute_query_dict"):
            original = getattr(connection, name)
            self.originals[name] = original
            setattr(connection, name, self._timed(original))

    def _timed(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(query: str, values: list[Any] | None = None) -> Any:
            started = time.perf_counter()
            result = await original(query, values)
            ms = (time.perf_counter() - started) * 1000
            rows = result[1] if isinstance(result, tuple) else result
            self.queries.append(Sql(query, values, ms, len(rows)))
            return result

        return run

    def take(self) -> list[Sql]:
        queries, self.queries = self.queries, []
        return queries


class LastError(logging.Handler):
    """The last exception the hub logged, to say why a request failed; on the root logger, it
    also keeps the hub's tracebacks (one per failed request) off the benchmark's output."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.last = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"


# Requests and rows ------------------------------------------------------------------------------


@dataclass
class Request:
    period: str
    view: str  # the whole area, the kelurahan, the RT head
    path: str
    query: dict[str, str]
    page: bool  # a dashboard page (session cookie), else the API (token)
    limit_ms: float

    @property
    def label(self) -> str:
        return self.path.removeprefix("/api/v1")


@dataclass
class Row:
    request: Request
    ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    status: int = 0
    kb: float = 0.0
    slowest: list[Sql] = field(default_factory=list)  # the queries of the slowest sample
    slowest_ms: float = 0.0
    error: str = ""  # why the hub answered other than 200

    @property
    def p95(self) -> float:
        return percentile(self.ms, 95)

    @property
    def passed(self) -> bool:
        return self.status == 200 and self.p95 < self.request.limit_ms


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def requests_for(scale: Scale, kelurahan: str, member_id: int, periods: list[str]) -> list[Request]:
    wide = WIDE_LIMIT_MS.get(scale.name, LIMIT_MS)
    out = []
    for period in periods:
        span = PERIODS[period]
        views = ((scale.name, {}, wide), ("kelurahan", {"area": kelurahan}, LIMIT_MS))
        for view, extra, limit in views:
            out += [Request(period, view, p, {**extra, **span}, False, limit) for p in API]
            out += [Request(period, view, p, {**extra, **span}, True, limit) for p in PAGES]
        for paths, page in ((MEMBER_API, False), (MEMBER_PAGES, True)):
            out += [
                Request(period, "RT head", p.format(id=member_id), dict(span), page, LIMIT_MS)
                for p in paths
            ]
    return out


# The hub on the generated database --------------------------------------------------------------


@dataclass
class Site:
    session: Any  # aiohttp.ClientSession on the test server
    api: dict[str, str]
    page: dict[str, str]
    log: SqlLog
    dialect: str
    errors: LastError


@contextlib.asynccontextmanager
async def running_hub(url: str, work: Path) -> AsyncIterator[Site]:
    """The app on 127.0.0.1 over the database, its clock at the year's end; an admin's token and
    dashboard session for the requests, removed afterwards."""
    from aiohttp import ClientSession, ClientTimeout, DummyCookieJar
    from aiohttp.test_utils import TestServer
    from tortoise import Tortoise

    from hub.access.auth import close_session, create_token, create_user, open_session
    from hub.app import create_app
    from hub.core.config import Config
    from hub.core.db import close_database, open_database
    from hub.web.dashboard.base import SESSION_COOKIE
    from models import ApiToken, User, UserRole

    config = (
        Config()
        .replace("hub", data_dir=str(work), run_scheduler=False)
        .replace("database", url=url)
    )
    errors = LastError()
    logging.getLogger().addHandler(errors)
    await open_database(url)
    log = SqlLog()
    connection = Tortoise.get_connection("default")
    log.install(connection)
    admin = await User.get_or_none(username="bench-admin") or await create_user(
        "bench-admin", "bench-admin-password-2026", UserRole.ADMIN
    )
    token = await create_token(admin)
    cookie, _ = await open_session(admin, 12, END)
    app = create_app(config, clock=lambda: END, manage_database=False, run_workers=False)
    server = TestServer(app, host="127.0.0.1")
    try:
        await server.start_server()
        async with ClientSession(
            base_url=str(server.make_url("/")),
            cookie_jar=DummyCookieJar(),
            timeout=ClientTimeout(total=1800),
        ) as session:
            yield Site(
                session,
                {"Authorization": f"Bearer {token}"},
                {"Cookie": f"{SESSION_COOKIE}={cookie}"},
                log,
                connection.capabilities.dialect,
                errors,
            )
    finally:
        await server.close()
        await close_session(cookie)
        await ApiToken.filter(user_id=admin.id, prefix=token[:10]).delete()
        await close_database()
        logging.getLogger().removeHandler(errors)


async def example_views() -> tuple[str, int]:
    """The largest kelurahan (the slowest of its kind), and its first RT's head."""
    from tortoise.functions import Count

    from models import Area, AreaKind, Seat

    sizes = (
        await Area.filter(kind=AreaKind.RT)
        .annotate(n=Count("id"))
        .group_by("parent__parent_id")
        .values("parent__parent_id", "n")
    )
    largest = max(sizes, key=lambda row: (row["n"], -row["parent__parent_id"]))
    kelurahan = await Area.get(id=largest["parent__parent_id"])
    seat = (
        await Seat.filter(area__path_key__startswith=kelurahan.path_key + "/", ended_at=None)
        .order_by("area__path_key")
        .first()
    )
    assert seat is not None
    return kelurahan.path, seat.member_id


async def measure(site: Site, request: Request, args: argparse.Namespace) -> Row:
    """Warm-ups, then up to `--requests` samples; a row whose requests are slow stops early once
    `--budget` seconds are spent (at least 3 samples, or 1 when one request takes a third of the
    budget), so a failing province view does not take hours."""
    row = Row(request)
    headers = site.page if request.page else site.api
    started = time.perf_counter()
    for _ in range(args.warmups):
        ms, *_ = await _one(site, request.path, request.query, headers)
        if ms > WARM_MS:
            break
    while len(row.ms) < args.requests:
        ms, status, size, queries = await _one(site, request.path, request.query, headers)
        row.ms.append(ms)
        row.sql_ms.append(sum(q.ms for q in queries))
        row.status, row.kb = status, size / 1024
        if status != 200:
            row.error = site.errors.last
        if ms >= row.slowest_ms:
            row.slowest, row.slowest_ms = queries, ms
        spent = time.perf_counter() - started
        if spent > args.budget and (len(row.ms) >= 3 or ms > args.budget * 1000 / 3):
            break
    return row


async def _one(
    site: Site, path: str, query: dict[str, str], headers: dict[str, str]
) -> tuple[float, int, int, list[Sql]]:
    """One request: (ms, status, bytes, its queries)."""
    site.log.take()
    started = time.perf_counter()
    async with site.session.get(path, params=query, headers=headers) as response:
        body = await response.read()
    ms = (time.perf_counter() - started) * 1000
    return ms, response.status, len(body), site.log.take()


# The report ---------------------------------------------------------------------------------------


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| period | view | request | n | p50 ms | p95 ms | max ms | limit ms | SQL % | KB | |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        r = row.request
        verdict = "PASS" if row.passed else ("FAIL" if row.status == 200 else f"HTTP {row.status}")
        share = 100 * sum(row.sql_ms) / sum(row.ms)
        lines.append(
            f"| {r.period} | {r.view} | {r.label} | {len(row.ms)} | "
            f"{statistics.median(row.ms):.0f} | {row.p95:.0f} | {max(row.ms):.0f} | "
            f"{r.limit_ms:.0f} | {share:.0f} | {row.kb:.1f} | {verdict} |"
        )
    return lines


def breakdown(row: Row) -> list[str]:
    """The slowest sample of a row, query by query."""
    r = row.request
    sql_ms = sum(q.ms for q in row.slowest)
    lines = [
        "",
        f"{r.period}, {r.view}, {r.label}: {row.slowest_ms:.0f} ms, of which SQL {sql_ms:.0f} ms "
        f"in {len(row.slowest)} queries, outside SQL {row.slowest_ms - sql_ms:.0f} ms "
        "(ORM objects, Python, JSON, HTTP)",
    ]
    for q in row.slowest:
        lines.append(f"  {q.ms:8.1f} ms {q.rows:9,} rows  {shorten(q.text)}")
    return lines


def shorten(sql: str, width: int = 150) -> str:
    text = re.sub(r"\s+", " ", sql)
    return text if len(text) <= width else text[: width - 3] + "..."


async def explain(site: Site, query: Sql, row: Row) -> list[str]:
    """The plan of one query: EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite)."""
    run = site.log.originals["execute_query"]
    if site.dialect == "postgres":
        _, steps = await run(f"EXPLAIN (ANALYZE, BUFFERS) {query.text}", query.values)
        plan = [step[0] for step in steps]
    else:
        _, steps = await run(f"EXPLAIN QUERY PLAN {query.text}", query.values)
        depth: dict[int, int] = {0: 0}
        plan = []
        for step in steps:
            node, parent, detail = step[0], step[1], step[3]
            depth[node] = depth.get(parent, 0) + 1
            plan.append("  " * (depth[node] - 1) + detail)
    return [
        "",
        f"Plan of the slowest query of {row.request.period}, {row.request.view}, "
        f"{row.request.label} ({query.ms:.0f} ms there):",
        f"  {shorten(query.text, 400)}",
        *(f"    {line}" for line in plan),
    ]


async def profile(site: Site, row: Row) -> list[str]:
    """cProfile of one more request of the row: the functions with the most own time."""
    profiler = cProfile.Profile()
    headers = site.page if row.request.page else site.api
    profiler.enable()
    await _one(site, row.request.path, row.request.query, headers)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    return ["", "cProfile of one more request (own time):", out.getvalue()]


# Main ---------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, scale: Scale, work: Path) -> None:
    seed, load = args.seed, os.getloadavg()[0]
    if args.postgres:
        url = await postgres_city(POSTGRES_SERVER, scale, seed, args.fresh)
    else:
        url = await sqlite_city(ROOT / "data" / "bench", scale, seed, args.fresh)
    async with running_hub(url, work) as site:
        kelurahan, member_id = await example_views()
        requests = requests_for(scale, kelurahan, member_id, args.periods)
        progress(f"measuring {len(requests)} requests: kelurahan {kelurahan!r}, member {member_id}")
        rows = []
        for request in requests:
            row = await measure(site, request, args)
            progress(
                f"{request.period:8} {request.view:10} {request.label:32} "
                f"p95 {row.p95:8.0f} ms  (n={len(row.ms)}, HTTP {row.status})"
            )
            rows.append(row)
        database = "PostgreSQL" if args.postgres else "SQLite"
        lines = [
            "",
            f"Participation, {scale.name} ({scale.rt_heads:,} RT heads, {database}, seed {seed}), "
            f"the hub's clock at {END.isoformat()}; kelurahan {kelurahan!r}, RT head {member_id}; "
            f"load average at the start: {load:.2f}",
            "",
            *table(rows),
        ]
        failures = {
            f"{row.request.label}: HTTP {row.status}, {row.error}" for row in rows if row.error
        }
        if failures:
            lines += ["", "Failed (the times are until the failure):", *sorted(failures)]
        lines += await where_the_time_goes(site, rows)
        if args.profile:
            lines += await profile(site, max(rows, key=_p95))
    print("\n".join(lines))


async def where_the_time_goes(site: Site, rows: list[Row]) -> list[str]:
    """The slowest request of each period and view, query by query; the plans of the slowest
    query of the slowest request and of the slowest in the default period."""
    slowest: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.request.period, row.request.view)
        if key not in slowest or row.p95 > slowest[key].p95:
            slowest[key] = row
    lines = ["", "Where the time goes: the slowest request of each period and view"]
    for row in slowest.values():
        lines += breakdown(row)
    default = max((r for r in rows if r.request.period == rows[0].request.period), key=_p95)
    planned = []
    for row in (max(rows, key=_p95), default):
        query = max(row.slowest, key=lambda q: q.ms, default=None)
        if query is not None and query.text not in planned:
            planned.append(query.text)
            lines += await explain(site, query, row)
    return lines


def _p95(row: Row) -> float:
    return row.p95


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL ($HUB_BENCH_POSTGRES)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--province", action="store_true", help="50,000 RT heads, 10M deliveries")
    size.add_argument("--town", action="store_true", help="300 RT heads: a quick look")
    parser.add_argument("--fresh", action="store_true", help="generate the data set again")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--requests", type=int, default=30, help="samples per row (30)")
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per row before it stops early (60)"
    )
    parser.add_argument(
        "--periods", default="30 days,year", help="comma-separated: '30 days', 'year' (both)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the slowest request")
    args = parser.parse_args(argv)
    args.periods = [p.strip() for p in args.periods.split(",") if p.strip()]
    unknown = set(args.periods) - set(PERIODS)
    if unknown:
        parser.error(f"unknown periods: {', '.join(sorted(unknown))}")
    if args.province and not args.postgres:
        parser.error("the province runs on PostgreSQL only: add --postgres")
    return args


def main() -> None:
    args = parse_args()
    scale = PROVINCE if args.province else TOWN if args.town else CITY
    with tempfile.TemporaryDirectory(prefix="bench-participation-") as work:
        asyncio.run(run(args, scale, Path(work)))


if __name__ == "__main__":
    main()
