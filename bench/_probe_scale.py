"""Family 6 of `bench/probe.py`: a large roster, the latency and size of its biggest lists, and
/healthz while logins and lists load the hub."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from yarl import URL

from bench._probe_site import (
    OWNER_PASSWORD,
    Answer,
    CountingHasher,
    Site,
    ask,
    cookie,
    login,
    session_cookie,
)


@dataclass
class Timing:
    """Latency (ms) and body size (KB) of repeated requests to one page."""

    label: str
    ms: list[float]
    kb: float
    status: int

    def row(self) -> str:
        return (
            f"| {self.label} | {statistics.median(self.ms):.0f} | {max(self.ms):.0f} | "
            f"{self.kb:.1f} | {self.status} |"
        )


async def seed_scale(members: int) -> dict[str, Any]:
    """The roster (bench/_roster.py), a sandbox phone for everyone, an admin, saved groups."""
    from tortoise import Tortoise

    from bench._roster import KELURAHAN_PER_KECAMATAN, RT_PER_KELURAHAN, seed_roster
    from hub.access.auth import Scope, create_token, create_user
    from hub.broadcast.member_groups import save_group
    from models import ChannelAddress, UserRole

    started = time.perf_counter()
    await seed_roster(members, 0.4)
    for start in range(0, members, 5000):
        await ChannelAddress.bulk_create(
            [
                ChannelAddress(
                    id=members + i + 1,
                    member_id=i + 1,
                    channel="sandbox",
                    address=f"sandbox-{i + 1}",
                )
                for i in range(start, min(members, start + 5000))
            ]
        )
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "postgres":
        await connection.execute_script(
            "SELECT setval(pg_get_serial_sequence('channel_address', 'id'), "
            "(SELECT max(id) FROM channel_address))"
        )
    admin = await create_user("admin", OWNER_PASSWORD, UserRole.ADMIN)
    kelurahan = max(1, members // RT_PER_KELURAHAN)
    groups = min(60, kelurahan, KELURAHAN_PER_KECAMATAN * 6)
    for g in range(groups):
        ids = list(range(g * RT_PER_KELURAHAN + 1, min(members, (g + 1) * RT_PER_KELURAHAN) + 1))
        await save_group(f"Kelompok {g + 1:02d}", ids, scope=Scope(None, None), user=None)
    return {
        "admin": admin,
        "token": await create_token(admin),
        "seconds": time.perf_counter() - started,
        "groups": groups,
    }


async def _timed(
    session: ClientSession, url: str, headers: dict[str, str], label: str, repeat: int
) -> Timing:
    """`repeat` GETs of one URL, one after the other."""
    ms, size, status = [], 0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await ask(session, "GET", URL(url, encoded=True), headers=headers)
        ms.append((time.perf_counter() - started) * 1000)
        size, status = len(answer.text.encode()), answer.status
    return Timing(label, ms, size / 1024, status)


async def probe_scale(site: Site, seeded: dict[str, Any], hasher: CountingHasher) -> dict[str, Any]:
    """Latency and size of the big lists; /healthz while logins and /members run in parallel."""
    from hub.web.dashboard.base import SESSION_COOKIE
    from tests.factories import bearer

    api = bearer(seeded["token"])
    dash = cookie(SESSION_COOKIE, (await session_cookie(seeded["admin"]))[0])
    repeat = 5
    timings = [
        await _timed(site.plain, "/api/v1/members", api, "GET /api/v1/members", repeat),
        await _timed(
            site.plain, "/api/v1/members?limit=500", api, "GET /api/v1/members?limit=500", repeat
        ),
        await _timed(site.plain, "/sandbox", dash, "GET /sandbox (dashboard)", repeat),
        await _timed(site.plain, "/member-groups", dash, "GET /member-groups (dashboard)", repeat),
        await _timed(site.plain, "/healthz", {}, "GET /healthz, idle", 20),
    ]
    return {"timings": timings, "under_load": await _healthz_under_load(site, api, hasher)}


async def _healthz_under_load(
    site: Site, api: dict[str, str], hasher: CountingHasher
) -> dict[str, Any]:
    """/healthz polled while 40 wrong logins (from 40 loopback addresses, so the per-address
    limits let them all be checked) and 10 /api/v1/members?limit=500 run at once."""
    guessers = [site.session_from(f"127.0.1.{i + 1}") for i in range(40)]
    stop = asyncio.Event()
    samples: list[float] = []

    async def poll() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await ask(site.plain, "GET", "/healthz")
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)

    async def timed(call: Awaitable[Answer]) -> tuple[Answer, float]:
        started = time.perf_counter()
        answer = await call
        return answer, (time.perf_counter() - started) * 1000

    poller = asyncio.create_task(poll())
    await asyncio.sleep(0.2)
    hasher.verified = 0
    started = time.perf_counter()
    logins = [timed(login(s, "admin", f"salah-{i}")) for i, s in enumerate(guessers)]
    lists = [
        timed(ask(site.plain, "GET", "/api/v1/members?limit=500", headers=api)) for _ in range(10)
    ]
    results = await asyncio.gather(*logins, *lists)
    wall = (time.perf_counter() - started) * 1000
    await asyncio.sleep(0.2)
    stop.set()
    await poller
    login_ms = [ms for _, ms in results[:40]]
    list_ms = [ms for _, ms in results[40:]]
    return {
        "healthz_samples": len(samples),
        "healthz_p50": statistics.median(samples) if samples else 0.0,
        "healthz_max": max(samples) if samples else 0.0,
        "wall_ms": wall,
        "verified": hasher.verified,
        "login_statuses": dict(Counter(a.status for a, _ in results[:40])),
        "login_max_ms": max(login_ms),
        "members_max_ms": max(list_ms),
        "members_statuses": dict(Counter(a.status for a, _ in results[40:])),
    }


def scale_report(args: argparse.Namespace, scale: dict[str, Any]) -> list[str]:
    """The figures of family 6, as lines of the report."""
    seeded, load = scale["seeded"], scale["under_load"]
    lines = [
        "",
        f"6. Scale: {args.members} RT heads (each with a sandbox phone), {seeded['groups']} saved "
        f"groups, seeded in {seeded['seconds']:.1f} s; 5 requests each (healthz 20), admin:",
        "",
        "| request | median ms | max ms | KB | status |",
        "|---|---:|---:|---:|---:|",
        *[t.row() for t in scale["timings"]],
        "",
        f"/healthz under load (40 wrong logins from 40 loopback addresses + 10 parallel "
        f"/api/v1/members?limit=500, {load['wall_ms']:.0f} ms until all answered): "
        f"{load['healthz_samples']} samples, median {load['healthz_p50']:.0f} ms, "
        f"worst {load['healthz_max']:.0f} ms",
        f"  logins: {load['verified']} passwords verified, answers {load['login_statuses']}, "
        f"slowest {load['login_max_ms']:.0f} ms; /members answers {load['members_statuses']}, "
        f"slowest {load['members_max_ms']:.0f} ms",
    ]
    return lines
