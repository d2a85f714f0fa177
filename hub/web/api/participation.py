"""Participation for officials and staff: RT heads with their levels, areas added up, the
trend week by week, the ranking, and one person's history across the seats they held.

Every figure is counted in the caller's areas in the database (hub/insight/); a rate always comes
with the counts it was divided from, and is null when there was nothing to divide.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.access.areas import area_by_path
from hub.core.errors import NotFound, ValidationFailed
from hub.insight.areas import (
    AreaTotal,
    add_up,
    areas_of_kind,
    children_of,
    ranking,
    weekly,
)
from hub.insight.participation import (
    Level,
    MemberRow,
    Period,
    Where,
    figures,
    level_of,
    member_rows,
    participation,
    period_of,
    summarize,
    tallies,
)
from hub.runtime import HUB, Hub
from hub.web.api.guards import SCOPE
from hub.web.api.routes import Query, component, route
from hub.web.api.schemas import (
    BOOLEAN,
    INTEGER,
    NULLABLE_STRING,
    STRING,
    Schema,
    array,
    described,
    obj,
    one_of,
)
from hub.web.insight_tables import (
    FORMATS,
    areas_table,
    download,
    members_table,
    ranking_table,
    wanted_format,
    weeks_table,
)
from hub.web.pagination import encode_cursor, page_request
from hub.web.params import whole_number
from hub.web.permissions import Permission
from models import AreaKind, Member, Seat

LEVELS = (*(level.value for level in Level), "insufficient")

# Query parameters -----------------------------------------------------------------------------

AREA = Query("area", "Area path: RT heads at or below it, e.g. `Sungai Kunjang/Loa Bakung`")
FROM = Query("from", "First day (YYYY-MM-DD, hub timezone); default: `period_days` before `to`")
TO = Query("to", "Last day, included (YYYY-MM-DD); default: today")
FORMAT = Query(
    "format",
    "csv or xlsx: the whole table as a file (Bahasa Indonesia headers), not a page of JSON",
    one_of(*FORMATS),
)
PERIOD = (FROM, TO)

# Response bodies ------------------------------------------------------------------------------

NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
RATE: Schema = described(NUMBER_OR_NULL, "0..1; null when its count is 0")
FIGURES = {
    "broadcasts": described(INTEGER, "deliveries that went out (sent or failed)"),
    "failed": INTEGER,
    "read": described(INTEGER, "read or acknowledged"),
    "ack_asked": described(INTEGER, "broadcasts that asked for confirmation"),
    "acknowledged": INTEGER,
    "read_rate": RATE,
    "ack_rate": RATE,
    "ack_rate_low": described(RATE, "lower bound of the 95% Wilson interval of ack_rate"),
    "median_ack_minutes": NUMBER_OR_NULL,
    "reminders": INTEGER,
    "opted_out": described(INTEGER, "deliveries skipped: the member opted out"),
    "polls": INTEGER,
    "poll_votes": INTEGER,
    "poll_turnout": RATE,
    "complaints": INTEGER,
    "service_requests": INTEGER,
}
LEVEL: Schema = described(
    {"enum": [*(level.value for level in Level), None]},
    "null: fewer broadcasts than [participation] min_broadcasts (belum cukup data)",
)
LEVEL_COUNTS = obj(**{name: INTEGER for name in LEVELS})
PERIOD_SCHEMA = obj(**{"from": STRING, "to": STRING})
MEMBER_ROW = component(
    "ParticipationMember",
    obj(
        member_id=INTEGER,
        name=STRING,
        area=described(NULLABLE_STRING, "the seat's area; null: sent with no seat"),
        holds_seat=described(BOOLEAN, "false: a former holder of this area's seat"),
        phone=NULLABLE_STRING,
        level=LEVEL,
        **FIGURES,
    ),
)
SUMMARY = obj(members=INTEGER, **{name: INTEGER for name in LEVELS}, **FIGURES)
PARTICIPATION = obj(
    period=PERIOD_SCHEMA, summary=SUMMARY, members=array(MEMBER_ROW), next=NULLABLE_STRING
)
AREA_ROW = component(
    "ParticipationArea",
    obj(area=STRING, kind=STRING, rt_heads=INTEGER, levels=LEVEL_COUNTS, **FIGURES),
)
AREAS = obj(
    period=PERIOD_SCHEMA, area={"oneOf": [AREA_ROW, {"type": "null"}]}, areas=array(AREA_ROW)
)
WEEKS = obj(
    period=PERIOD_SCHEMA,
    weeks=array(
        obj(
            week_start=STRING,
            broadcasts=INTEGER,
            read=INTEGER,
            ack_asked=INTEGER,
            acknowledged=INTEGER,
            read_rate=RATE,
            ack_rate=RATE,
        )
    ),
)
RANK = described({"type": ["integer", "null"]}, "null: nothing was asked there, unranked")
RANKING = obj(period=PERIOD_SCHEMA, ranking=array({"allOf": [AREA_ROW, obj(rank=RANK)]}))
PERSON = obj(
    period=PERIOD_SCHEMA,
    member=obj(id=INTEGER, name=STRING),
    total=obj(level=LEVEL, **FIGURES),
    seats=array(MEMBER_ROW),
)

# Shaping --------------------------------------------------------------------------------------


def _period(period: Period) -> dict[str, str]:
    return {"from": period.first.isoformat(), "to": period.last.isoformat()}


def _member(row: MemberRow) -> dict[str, Any]:
    return {
        "member_id": row.tally.member_id,
        "name": row.name,
        "area": row.area_path,
        "holds_seat": row.holds_seat,
        "phone": row.phone,
        "level": row.level.value if row.level else None,
        **figures(row.tally),
    }


def _area(total: AreaTotal) -> dict[str, Any]:
    return {
        "area": total.area.path,
        "kind": total.area.kind.value,
        "rt_heads": total.rt_heads,
        "levels": total.levels,
        **figures(total.total),
    }


def _area_name(where: Where) -> str:
    return where.area.name if where.area is not None else ""


async def _view(request: web.Request) -> tuple[Hub, Where, Period]:
    """The caller's scope, the area asked for (403 outside it) and the period (422 if wrong)."""
    hub: Hub = request.app[HUB]
    scope = request[SCOPE]
    area = None
    if request.query.get("area"):
        area = await area_by_path(request.query["area"])
        scope.require_area(area)
    period = period_of(
        hub.config, request.query.get("from", ""), request.query.get("to", ""), hub.clock()
    )
    return hub, Where(scope, area=area), period


# Routes ---------------------------------------------------------------------------------------


@route(
    "GET",
    "/participation",
    summary="RT heads' participation in your areas: a summary and a row per RT head and seat",
    permission=Permission.READ,
    response=PARTICIPATION,
    query=(
        AREA,
        *PERIOD,
        FORMAT,
        Query("level", "Only RT heads at this level", one_of(*LEVELS)),
        Query("limit", "Rows per page (default 50, at most 500)"),
        Query("cursor", "From the previous page's `next`"),
    ),
    errors=(422,),  # an unknown area, a wrong date or level
)
async def get_participation(request: web.Request) -> web.Response:
    hub, where, period = await _view(request)
    wanted = request.query.get("level", "")
    if wanted and wanted not in LEVELS:
        raise ValidationFailed(f"level: one of {', '.join(LEVELS)}", field="level")
    fmt = wanted_format(request.query)
    page = page_request(request.query)
    summary, rows = await participation(hub.config, where, period)
    if wanted:
        rows = [r for r in rows if (r.level.value if r.level else "insufficient") == wanted]
    if fmt:
        return download(members_table(rows), fmt, period, _area_name(where))
    start = page.after or 0
    shown = rows[start : start + page.limit]
    more = start + page.limit < len(rows)
    return web.json_response(
        {
            "period": _period(period),
            "summary": {
                "members": summary.members,
                **summary.levels,
                **figures(summary.total),
            },
            "members": [_member(r) for r in shown],
            "next": encode_cursor(start + page.limit) if more else None,
        }
    )


@route(
    "GET",
    "/participation/areas",
    summary="Participation added up per area, one level below the area asked for",
    permission=Permission.READ,
    response=AREAS,
    query=(
        Query("area", "Area path; default: your own areas (every kecamatan for admins)"),
        *PERIOD,
        FORMAT,
    ),
    errors=(422,),
)
async def get_areas(request: web.Request) -> web.Response:
    hub, where, period = await _view(request)
    found = list((await tallies(where, period, hub.config.participation)).values())
    children = await children_of(where.area, where.scope.keys)
    wanted = [where.area, *children] if where.area is not None else children
    totals = await add_up(found, wanted, hub.config.participation)
    if fmt := wanted_format(request.query):
        return download(areas_table(totals), fmt, period, _area_name(where))
    parent = totals.pop(0) if where.area is not None else None
    return web.json_response(
        {
            "period": _period(period),
            "area": _area(parent) if parent else None,
            "areas": [_area(t) for t in totals],
        }
    )


@route(
    "GET",
    "/participation/trend",
    summary="Participation week by week (Monday to Sunday) in your areas or one area",
    permission=Permission.READ,
    response=WEEKS,
    query=(AREA, *PERIOD, FORMAT),
    errors=(422,),
)
async def get_trend(request: web.Request) -> web.Response:
    _hub, where, period = await _view(request)
    weeks = await weekly(where, period)
    if fmt := wanted_format(request.query):
        return download(weeks_table(weeks), fmt, period, _area_name(where))
    return web.json_response(
        {
            "period": _period(period),
            "weeks": [
                {
                    "week_start": w.start.isoformat(),
                    "broadcasts": w.broadcasts,
                    "read": w.read,
                    "ack_asked": w.ack_asked,
                    "acknowledged": w.acknowledged,
                    "read_rate": w.read_rate,
                    "ack_rate": w.ack_rate,
                }
                for w in weeks
            ],
        }
    )


KINDS = {kind.value: kind for kind in AreaKind}


@route(
    "GET",
    "/participation/ranking",
    summary="Areas of one kind ranked by the lower bound of their acknowledgement rate",
    permission=Permission.READ,
    response=RANKING,
    query=(
        Query("kind", "kelurahan (default), kecamatan, rw or rt", one_of(*KINDS)),
        AREA,
        *PERIOD,
        FORMAT,
    ),
    errors=(422,),
)
async def get_ranking(request: web.Request) -> web.Response:
    hub, where, period = await _view(request)
    wanted = request.query.get("kind", AreaKind.KELURAHAN.value)
    if wanted not in KINDS:
        raise ValidationFailed(f"kind: one of {', '.join(KINDS)}", field="kind")
    found = list((await tallies(where, period, hub.config.participation)).values())
    totals = await add_up(
        found, await areas_of_kind(KINDS[wanted], where), hub.config.participation
    )
    ranked = ranking(totals)
    if fmt := wanted_format(request.query):
        return download(ranking_table(ranked), fmt, period, _area_name(where))
    return web.json_response(
        {
            "period": _period(period),
            "ranking": [{"rank": r.rank, **_area(r.total)} for r in ranked],
        }
    )


@route(
    "GET",
    "/participation/members/{id}",
    summary="One person's participation: each seat they held in the period, and the total",
    permission=Permission.READ,
    response=PERSON,
    query=PERIOD,
    errors=(422,),
)
async def get_person(request: web.Request) -> web.Response:
    hub, where, period = await _view(request)
    member_id = whole_number(request.match_info["id"])
    seats = Seat.filter(member_id=member_id)
    in_scope = where.scope.area_filter()
    if in_scope is not None:
        seats = seats.filter(in_scope)
    member = await Member.get_or_none(id=member_id) if member_id is not None else None
    # Someone who never held a seat in the caller's areas is not theirs to see.
    if member is None or not await seats.exists():
        raise NotFound(f"no member with id {request.match_info['id'][:20]}")
    rules = hub.config.participation
    person = Where(where.scope, member_id=member.id)
    rows = await member_rows((await tallies(person, period, rules)).values(), rules)
    total = summarize(rows).total
    level = level_of(total, rules)
    return web.json_response(
        {
            "period": _period(period),
            "member": {"id": member.id, "name": member.name},
            "total": {"level": level.value if level else None, **figures(total)},
            "seats": [_member(r) for r in rows],
        }
    )
