"""Partisipasi: the officials' view of who reads, who acknowledges and who stays silent.

The overview of an area (the user's own areas at the top): RT heads by level, the trend week by
week, the areas one level down to drill into, the silent RT heads with a call and a chat link,
and for a kelurahan or smaller a heat map of RT heads by week. Then the ranking of areas and one
person's page. Essentials need no JavaScript: every chart is drawn by Chart.js (vendored in
hub/web/static) from the table printed under it. Every table downloads as CSV or XLSX.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub.access.areas import ancestor_keys
from hub.core.errors import NotFound, ValidationFailed
from hub.insight.areas import (
    AreaTotal,
    MemberWeeks,
    Week,
    add_up,
    areas_of_kind,
    children_of,
    ranking,
    short_day,
    weekly,
    weekly_by_member,
)
from hub.insight.participation import (
    MAX_PERIOD_DAYS,
    Level,
    MemberRow,
    Period,
    Where,
    level_of,
    median_minutes,
    member_rows,
    period_of,
    summarize,
    tallies,
)
from hub.web.dashboard.base import SCOPE, Refused, _hub, page, render
from hub.web.dashboard.figures import KIND_LABELS, area_asked, digits, minutes, of, pct
from hub.web.insight_tables import (
    LEVEL_LABELS,
    areas_table,
    download,
    level_label,
    members_table,
    ranking_table,
    wanted_format,
    weeks_table,
)
from hub.web.permissions import Permission
from models import Area, AreaKind, Member, Seat

HEAT_MAP_LIMIT = 80  # RT heads: a heat map of more is unreadable, and costs a row per delivery
# Rows a page lists: a province's 50,000 RT heads would be megabytes of HTML. Beyond these the page
# points to the areas below and to the download, which holds every row.
TABLE_LIMIT = 300
SILENT_LIMIT = 100
TOP = 10  # the ranking chart shows the best ten, as the city's own "TOP 10 KELURAHAN" does
# The period choices above the page. "tanggal" takes the form's own dates; a link without
# `periode` names its dates, or gets [participation] period_days.
CUSTOM = "tanggal"
PRESETS = {
    "30-hari": "30 hari terakhir",
    "bulan-ini": "Bulan ini",
    "bulan-lalu": "Bulan lalu",
    "3-bulan": "3 bulan terakhir",
    "12-bulan": "12 bulan terakhir",
    CUSTOM: "Tanggal sendiri",
}


# The period ------------------------------------------------------------------------------------


def _preset(name: str, today: dt.date) -> tuple[str, str]:
    """A preset's first and last day as ISO dates."""
    first_of_month = today.replace(day=1)
    if name == "bulan-ini":
        return first_of_month.isoformat(), today.isoformat()
    if name == "bulan-lalu":
        last = first_of_month - dt.timedelta(days=1)
        return last.replace(day=1).isoformat(), last.isoformat()
    days = {"30-hari": 30, "3-bulan": 91, "12-bulan": 365}[name]
    return (today - dt.timedelta(days=days - 1)).isoformat(), today.isoformat()


def _period(request: web.Request) -> tuple[Period, str, str]:
    """The period asked for, the choice it came from ("tanggal": dates given), and what was
    wrong with dates that cannot be a period (the default period is shown instead). A preset
    wins over the dates the form also sends."""
    hub = _hub(request)
    now = hub.clock()
    wanted_from, wanted_to = request.query.get("from", ""), request.query.get("to", "")
    preset = request.query.get("periode", "")
    if preset not in PRESETS:
        preset = CUSTOM if wanted_from or wanted_to else ""
    if preset and preset != CUSTOM:
        wanted_from, wanted_to = _preset(preset, now.astimezone(hub.config.tz).date())
    try:
        return period_of(hub.config, wanted_from, wanted_to, now), preset, ""
    except ValidationFailed as exc:
        return period_of(hub.config, "", "", now), "", _period_error(str(exc))


def _period_error(message: str) -> str:
    if "after" in message:
        return "Tanggal awal jatuh setelah tanggal akhir. Ditampilkan periode bawaan."
    if "span" in message:
        return f"Periode paling panjang {MAX_PERIOD_DAYS} hari. Ditampilkan periode bawaan."
    return "Tanggal tidak dapat dibaca (tulis TTTT-BB-HH). Ditampilkan periode bawaan."


# Shaping ---------------------------------------------------------------------------------------


def _member_view(row: MemberRow) -> dict[str, Any]:
    t = row.tally
    level = row.level.value if row.level else "insufficient"
    return {
        "id": t.member_id,
        "name": row.name,
        "area": row.area_path or "tanpa wilayah",
        "holds_seat": row.holds_seat,
        "level": level,
        "level_label": level_label(row.level),
        "read": of(t.read, t.broadcasts),
        "ack": of(t.acknowledged, t.ack_asked),
        "median": minutes(median_minutes(t.ack_minutes)),
        "reminders": t.reminders,
        "failed": t.failed,
        "tickets": t.complaints + t.service_requests,
        "votes": of(t.poll_votes, t.polls),
        "phone": row.phone or "",
        "tel": "+" + digits(row.phone) if row.phone else "",
        "chat": f"https://wa.me/{digits(row.phone)}" if row.phone else "",
        "sort": (t.acknowledged / t.ack_asked) if t.ack_asked else -1,
    }


def _area_view(total: AreaTotal) -> dict[str, Any]:
    t = total.total
    return {
        "path": total.area.path,
        "name": total.area.name,
        "kind": KIND_LABELS.get(total.area.kind.value, total.area.kind.value),
        "rt_heads": total.rt_heads,
        "levels": total.levels,
        "read": of(t.read, t.broadcasts),
        "ack": of(t.acknowledged, t.ack_asked),
        "ack_low": pct(total.ack_rate_low),
        "median": minutes(median_minutes(t.ack_minutes)),
        "tickets": t.complaints + t.service_requests,
    }


def _week_label(week: Week) -> str:
    return short_day(week.start, year=False)


def _trend_chart(weeks: Sequence[Week]) -> str:
    """Chart.js's data for the trend: rates in percent, null where nothing was asked."""

    def percent(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 1)

    return json.dumps(
        {
            "type": "line",
            "labels": [_week_label(w) for w in weeks],
            "series": [
                {"label": "Rasio konfirmasi (%)", "data": [percent(w.ack_rate) for w in weeks]},
                {"label": "Rasio baca (%)", "data": [percent(w.read_rate) for w in weeks]},
            ],
            "max": 100,
        }
    )


def _levels_chart(totals: Sequence[AreaTotal]) -> str:
    """Stacked bars: each area's RT heads by level."""
    return json.dumps(
        {
            "type": "stacked",
            "labels": [t.area.name for t in totals],
            "series": [
                {"label": label, "key": key, "data": [t.levels[key] for t in totals]}
                for key, label in LEVEL_LABELS.items()
            ],
        }
    )


def _heat_class(week: Week) -> str:
    if not week.ack_asked:
        return "heat-none" if not week.broadcasts else "heat-info"
    return f"heat-{min(4, int(week.acknowledged / week.ack_asked * 5))}"


def _heat_rows(
    found: Sequence[MemberWeeks], names: dict[int, str], paths: dict[int, str]
) -> list[dict[str, Any]]:
    rows = [
        {
            "id": m.member_id,
            "name": names.get(m.member_id, "?"),
            "area": paths.get(m.area_id, "") if m.area_id is not None else "",
            "cells": [
                {
                    "class": _heat_class(w),
                    "text": f"{w.acknowledged}/{w.ack_asked}" if w.ack_asked else "·",
                }
                for w in m.weeks
            ],
        }
        for m in found
    ]
    rows.sort(key=lambda r: (r["area"].lower(), r["name"].lower()))
    return rows


# Where in the tree -----------------------------------------------------------------------------


async def _crumbs(area: Area | None, scope_keys: list[str] | None) -> list[dict[str, str]]:
    """The way down to `area` from the top the user sees, each step a link."""
    if area is None:
        return []
    keys = ancestor_keys(area.path_key)
    found = {a.path_key: a for a in await Area.filter(path_key__in=keys)}
    steps = []
    for key in keys[:-1]:
        if scope_keys is None or any(key == k or key.startswith(k + "/") for k in scope_keys):
            steps.append({"path": found[key].path, "name": found[key].name})
    return steps


def _common(
    request: web.Request, area: Area | None, period: Period, preset: str, error: str
) -> dict[str, Any]:
    """What the period form and every link on the page need: `keep` is the period as query
    parameters (links elsewhere keep it), `here` the area too (this page's downloads)."""
    keep = f"periode={preset}" if preset and preset != CUSTOM else ""
    if not keep:
        keep = f"from={period.first.isoformat()}&to={period.last.isoformat()}"
    here = f"area={quote(area.path, safe='/')}&{keep}" if area else keep
    return {
        "area_path": area.path if area else "",
        "period": period,
        "preset": preset or ("30-hari" if period.days == 30 else CUSTOM),
        "presets": PRESETS,
        "custom": preset == CUSTOM,
        "keep": keep,
        "here": here,
        "period_label": f"{short_day(period.first)} – {short_day(period.last)}",
        "period_error": error,
    }


# Pages -----------------------------------------------------------------------------------------


@page(Permission.READ)
async def participation_page(request: web.Request) -> web.StreamResponse:
    """An area's participation (the user's areas at the top), with its charts and tables."""
    hub = _hub(request)
    rules = hub.config.participation
    scope = request[SCOPE]
    area = await area_asked(request)
    period, preset, period_error = _period(request)
    fmt = wanted_format(request.query)
    where = Where(scope, area=area)
    found = list((await tallies(where, period, rules)).values())
    rows = await member_rows(found, rules)
    children = await children_of(area, scope.keys)
    totals = await add_up(found, children, rules)
    weeks = await weekly(where, period)
    name = area.name if area else ""
    if fmt:
        tables = {
            "ketua-rt": members_table(rows),
            "wilayah": areas_table(totals),
            "mingguan": weeks_table(weeks),
        }
        table = tables.get(request.query.get("table", ""))
        if table is None:
            raise Refused(404, "not_found")
        return download(table, fmt, period, name)

    summary = summarize(rows)
    members = [_member_view(r) for r in rows]
    silent = [m for m in members if m["level"] in (Level.PASSIVE.value, Level.UNREACHABLE.value)]
    silent.sort(key=lambda m: (m["level"] != Level.UNREACHABLE.value, m["sort"], m["name"]))
    heat, heat_weeks = [], []
    if len(rows) <= HEAT_MAP_LIMIT:
        heat_weeks = [_week_label(w) for w in weeks]
        names = {r.tally.member_id: r.name for r in rows}
        paths = {r.tally.area_id: r.area_path or "" for r in rows if r.tally.area_id is not None}
        heat = _heat_rows(await weekly_by_member(where, period), names, paths)
    total = summary.total
    return await render(
        request,
        "participation.html",
        nav="participation",
        **_common(request, area, period, preset, period_error),
        title=area.path if area else "Semua wilayah Anda",
        kind=KIND_LABELS.get(area.kind.value, "") if area else "",
        crumbs=await _crumbs(area, scope.keys),
        summary={
            "members": summary.members,
            "levels": summary.levels,
            "read": of(total.read, total.broadcasts),
            "ack": of(total.acknowledged, total.ack_asked),
            "median": minutes(median_minutes(total.ack_minutes)),
            "tickets": total.complaints + total.service_requests,
            "votes": of(total.poll_votes, total.polls),
        },
        level_labels=LEVEL_LABELS,
        min_broadcasts=rules.min_broadcasts,
        active_rate=pct(rules.active_ack_rate),
        silent=silent[:SILENT_LIMIT],
        silent_count=len(silent),
        members=members[:TABLE_LIMIT],
        member_count=len(members),
        children=[_area_view(t) for t in totals],
        child_kind=KIND_LABELS.get(children[0].kind.value, "Wilayah") if children else "",
        levels_chart=_levels_chart(totals) if totals else "",
        weeks=[
            {"label": _week_label(w), "read": of(w.read, w.broadcasts),
             "ack": of(w.acknowledged, w.ack_asked)}
            for w in weeks
        ],
        trend_chart=_trend_chart(weeks),
        heat=heat,
        heat_weeks=heat_weeks,
        heat_limit=HEAT_MAP_LIMIT,
    )  # fmt: skip


@page(Permission.READ)
async def participation_ranking(request: web.Request) -> web.StreamResponse:
    """Areas of one kind ranked by the lower bound of their acknowledgement rate."""
    hub = _hub(request)
    rules = hub.config.participation
    scope = request[SCOPE]
    area = await area_asked(request)
    period, preset, period_error = _period(request)
    kind = request.query.get("jenis", AreaKind.KELURAHAN.value)
    if kind not in KIND_LABELS:
        kind = AreaKind.KELURAHAN.value
    where = Where(scope, area=area)
    found = list((await tallies(where, period, rules)).values())
    totals = await add_up(found, await areas_of_kind(AreaKind(kind), where), rules)
    ranked = ranking(totals)
    if fmt := wanted_format(request.query):
        return download(ranking_table(ranked), fmt, period, area.name if area else "")
    top = [r for r in ranked if r.rank is not None][:TOP]
    chart = {
        "type": "bars",
        "labels": [r.total.area.name for r in top],
        "series": [
            {"label": "Batas bawah (95%)",
             "data": [round((r.total.ack_rate_low or 0) * 100, 1) for r in top]},
            {"label": "Rasio konfirmasi",
             "data": [round(r.total.total.acknowledged / r.total.total.ack_asked * 100, 1)
                      for r in top]},
        ],
        "max": 100,
    }  # fmt: skip
    return await render(
        request,
        "participation_ranking.html",
        nav="participation",
        **_common(request, area, period, preset, period_error),
        kind=kind,
        kinds=KIND_LABELS,
        rows=[{"rank": r.rank, **_area_view(r.total)} for r in ranked],
        chart=json.dumps(chart) if top else "",
        top=TOP,
    )


@page(Permission.READ)
async def participation_person(request: web.Request) -> web.StreamResponse:
    """One person: each seat they held in the user's areas, the total, and their weeks."""
    hub = _hub(request)
    rules = hub.config.participation
    scope = request[SCOPE]
    period, preset, period_error = _period(request)
    member_id = int(request.match_info["id"])
    seats = Seat.filter(member_id=member_id)
    in_scope = scope.area_filter()
    if in_scope is not None:
        seats = seats.filter(in_scope)
    member = await Member.get_or_none(id=member_id)
    if member is None or not await seats.exists():
        raise NotFound(f"no member with id {member_id}")
    where = Where(scope, member_id=member_id)
    rows = await member_rows((await tallies(where, period, rules)).values(), rules)
    total = summarize(rows).total
    weeks_found = await weekly_by_member(where, period)
    paths = {r.tally.area_id: r.area_path or "" for r in rows if r.tally.area_id is not None}
    heat_weeks = [_week_label(w) for w in weeks_found[0].weeks] if weeks_found else []
    return await render(
        request,
        "participation_person.html",
        nav="participation",
        member={"id": member.id, "name": member.name, "phone": member.phone or "",
                "tel": "+" + digits(member.phone) if member.phone else "",
                "chat": f"https://wa.me/{digits(member.phone)}" if member.phone else ""},
        level_label=level_label(level_of(total, rules)),
        seats=[_member_view(r) for r in rows],
        total={"read": of(total.read, total.broadcasts),
               "ack": of(total.acknowledged, total.ack_asked),
               "median": minutes(median_minutes(total.ack_minutes)),
               "reminders": total.reminders,
               "tickets": total.complaints + total.service_requests,
               "votes": of(total.poll_votes, total.polls)},
        heat=_heat_rows(weeks_found, {member.id: member.name}, paths),
        heat_weeks=heat_weeks,
        **_common(request, None, period, preset, period_error),
    )  # fmt: skip
