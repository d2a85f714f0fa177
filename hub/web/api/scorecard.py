"""The five-dimension scorecard per area and month, its review notes, and each ticket category's
SLA record.

Every figure is counted in the caller's areas in the database (hub/insight/scorecard.py); every
part comes with its formula and the counts it was divided from, and a rate is null when there was
nothing to divide. Staff write the month's review note of their areas; officials read it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, Strict, StringConstraints

from hub.access.areas import area_by_path
from hub.insight.notes import MAX_NOTE, Note, parse_month, save_note, this_month
from hub.insight.participation import Period, Where, period_of, rate
from hub.insight.scorecard import (
    COUNT,
    DIMENSIONS,
    HOURS,
    POINTS,
    RATE,
    Change,
    Dimension,
    Part,
    Scorecard,
    previous_month,
    scorecard,
)
from hub.insight.sla import SlaCount, SlaRecord, median_days, sla_record
from hub.runtime import HUB, Hub
from hub.web.api.bodies import AreaPath, RequestBody, text
from hub.web.api.guards import SCOPE
from hub.web.api.routes import Query, component, route
from hub.web.api.schemas import (
    DATE_TIME,
    INTEGER,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    STRING,
    Schema,
    array,
    described,
    obj,
    one_of,
)
from hub.web.permissions import Permission

# Query parameters and the request body ---------------------------------------------------------

MONTH_PATTERN = r"^\d{4}-\d{2}$"
AREA = Query("area", "Area path: the area and everything below it; default: all your areas")
MONTH = Query(
    "month",
    "The calendar month, YYYY-MM (hub timezone); default: the current one",
    {"type": "string", "pattern": MONTH_PATTERN, "examples": ["2026-11"]},
)
FROM = Query("from", "First day (YYYY-MM-DD, hub timezone); default: `period_days` before `to`")
TO = Query("to", "Last day, included (YYYY-MM-DD); default: today")

NoteText = text(1, MAX_NOTE)
Month = Annotated[
    str, Strict(), StringConstraints(pattern=MONTH_PATTERN), Field(examples=["2026-11"])
]


class ScorecardNoteBody(RequestBody):
    """The month's review note of one area: written the first time, rewritten after."""

    area: AreaPath = Field(description="An area in your areas, e.g. `Sungai Kunjang/Loa Bakung`")
    month: Month = Field(description="YYYY-MM: a month that has begun")
    text: NoteText


# Response bodies ------------------------------------------------------------------------------

NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
RATE_SCHEMA: Schema = described(NUMBER_OR_NULL, "0..1; null when its count is 0")
BETTER: Schema = described(
    {"enum": ["higher", "lower", None]}, "which way is an improvement; null: neither"
)
PERIOD_SCHEMA = obj(**{"from": STRING, "to": STRING})


def _required(schema: Schema) -> Schema:
    """The object with every property it names required (what the tests check answers by)."""
    return {**schema, "required": list(schema["properties"])}


PART = component(
    "ScorecardPart",
    _required(
        obj(
            key=STRING,
            label=described(STRING, "Bahasa Indonesia"),
            value=described(NUMBER_OR_NULL, "in `unit`; null: nothing to divide, or no values"),
            numerator=NULLABLE_INTEGER,
            denominator=described(
                NULLABLE_INTEGER, "a rate's divisor; for a median, how many values"
            ),
            unit=one_of(RATE, HOURS, COUNT),
            formula=described(STRING, "how the value is worked out, in Bahasa Indonesia"),
            better=BETTER,
        )
    ),
)
CHANGE = component(
    "ScorecardChange",
    _required(
        obj(
            dimension=STRING,
            part=described(STRING, "a part's key, or `combined`"),
            label=STRING,
            unit=one_of(POINTS, HOURS, COUNT),
            current=NUMBER_OR_NULL,
            previous=NUMBER_OR_NULL,
            change=described(NUMBER_OR_NULL, "current − previous (× 100 for a rate: points)"),
            improved={"type": ["boolean", "null"]},
            formula=STRING,
        )
    ),
)
NOTE = component(
    "ScorecardNote",
    _required(
        obj(
            area=STRING,
            month=described(STRING, "YYYY-MM"),
            text=STRING,
            author=described(NULLABLE_STRING, "the username of whoever wrote it last"),
            created_at=DATE_TIME,
            updated_at=DATE_TIME,
        )
    ),
)
DIMENSION = component(
    "ScorecardDimension",
    _required(
        obj(
            key=one_of(*DIMENSIONS),
            label=STRING,
            parts=array(PART),
            combined={
                "oneOf": [
                    _required(obj(value=RATE_SCHEMA, formula=STRING)),
                    {"type": "null"},
                ],
                "description": "the unweighted mean of two or more rates, with its formula",
            },
            changes=described(array(CHANGE), "Manajemen perubahan only: against last month"),
            notes=described(array(NOTE), "Manajemen perubahan only: the month's review notes"),
        )
    ),
)
SCORECARD = _required(
    obj(
        area=described(NULLABLE_STRING, "null: all your areas"),
        month=STRING,
        previous_month=STRING,
        period=PERIOD_SCHEMA,
        dimensions=array(DIMENSION),
    )
)
SLA_COUNTS = {
    "tickets": described(INTEGER, "filed in the period"),
    "verified": described(INTEGER, "left baru: diverifikasi, or turned down or forwarded"),
    "verified_on_time": INTEGER,
    "verify_measured": described(INTEGER, "verified, or not yet and past the deadline"),
    "verified_on_time_rate": RATE_SCHEMA,
    "resolved": described(INTEGER, "selesai, ditolak or diteruskan"),
    "resolved_on_time": INTEGER,
    "resolve_measured": described(INTEGER, "resolved, or verified and past the deadline"),
    "resolved_on_time_rate": RATE_SCHEMA,
    "done": described(INTEGER, "selesai"),
    "overdue_open": described(INTEGER, "still open and past the deadline it waits for"),
    "median_days_to_verify": described(NUMBER_OR_NULL, "working days from filing"),
    "median_days_to_resolve": described(NUMBER_OR_NULL, "working days from filing"),
}
SLA_ROW = component(
    "SlaCategory",
    _required(
        obj(
            kind=one_of("aduan", "layanan"),
            category=STRING,
            label=STRING,
            verify_within_days=INTEGER,
            resolve_within_days=INTEGER,
            **SLA_COUNTS,
        )
    ),
)
SLA = _required(
    obj(
        period=PERIOD_SCHEMA,
        days=described(one_of("working"), "medians count working days, by date"),
        categories=array(SLA_ROW),
        total=_required(obj(**SLA_COUNTS)),
    )
)

# Shaping --------------------------------------------------------------------------------------


def _period(period: Period) -> dict[str, str]:
    return {"from": period.first.isoformat(), "to": period.last.isoformat()}


def _part(part: Part) -> dict[str, Any]:
    return {
        "key": part.key,
        "label": part.label,
        "value": part.value,
        "numerator": part.numerator,
        "denominator": part.denominator,
        "unit": part.unit,
        "formula": part.formula,
        "better": part.better,
    }


def _change(change: Change) -> dict[str, Any]:
    return {
        "dimension": change.dimension,
        "part": change.part,
        "label": change.label,
        "unit": change.unit,
        "current": change.current,
        "previous": change.previous,
        "change": change.change,
        "improved": change.improved,
        "formula": change.formula,
    }


def note_json(note: Note) -> dict[str, Any]:
    return {
        "area": note.area,
        "month": note.month.strftime("%Y-%m"),
        "text": note.text,
        "author": note.author,
        "created_at": note.created_at.isoformat(),
        "updated_at": note.updated_at.isoformat(),
    }


def _dimension(dimension: Dimension) -> dict[str, Any]:
    found = dimension.combined
    return {
        "key": dimension.key,
        "label": dimension.label,
        "parts": [_part(p) for p in dimension.parts],
        "combined": {"value": found.value, "formula": found.formula} if found else None,
        "changes": [_change(c) for c in dimension.changes],
        "notes": [note_json(n) for n in dimension.notes],
    }


def scorecard_json(card: Scorecard, area: str | None) -> dict[str, Any]:
    """The scorecard as the API answers it."""
    return {
        "area": area,
        "month": card.month.strftime("%Y-%m"),
        "previous_month": previous_month(card.month).strftime("%Y-%m"),
        "period": _period(card.period),
        "dimensions": [_dimension(d) for d in card.dimensions],
    }


def _sla_counts(count: SlaCount) -> dict[str, Any]:
    return {
        "tickets": count.tickets,
        "verified": count.verified,
        "verified_on_time": count.verified_on_time,
        "verify_measured": count.verify_measured,
        "verified_on_time_rate": rate(count.verified_on_time, count.verify_measured),
        "resolved": count.resolved,
        "resolved_on_time": count.resolved_on_time,
        "resolve_measured": count.resolve_measured,
        "resolved_on_time_rate": rate(count.resolved_on_time, count.resolve_measured),
        "done": count.done,
        "overdue_open": count.overdue_open,
        "median_days_to_verify": median_days(count.days_to_verify),
        "median_days_to_resolve": median_days(count.days_to_resolve),
    }


def sla_json(record: SlaRecord) -> dict[str, Any]:
    """The SLA record as the API answers it."""
    return {
        "period": _period(record.period),
        "days": "working",
        "categories": [
            {
                "kind": row.kind.value,
                "category": row.category,
                "label": row.label,
                "verify_within_days": row.verify_within_days,
                "resolve_within_days": row.resolve_within_days,
                **_sla_counts(row.count),
            }
            for row in record.rows
        ],
        "total": _sla_counts(record.total),
    }


async def _where(request: web.Request) -> Where:
    """The caller's scope and the area asked for (422 unknown, 403 outside the scope)."""
    scope = request[SCOPE]
    area = None
    if request.query.get("area"):
        area = await area_by_path(request.query["area"])
        scope.require_area(area)
    return Where(scope, area=area)


# Routes ---------------------------------------------------------------------------------------


@route(
    "GET",
    "/scorecard",
    summary="The five-dimension scorecard of your areas or one area, for one month",
    permission=Permission.READ,
    response=SCORECARD,
    query=(AREA, MONTH),
    errors=(422,),  # an unknown area, a malformed month
)
async def get_scorecard(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    where = await _where(request)
    now = hub.clock()
    wanted = request.query.get("month", "")
    month = parse_month(wanted) if wanted else this_month(now, hub.config.tz)
    card = await scorecard(hub.config, hub.tickets, where, month, now)
    return web.json_response(scorecard_json(card, where.area.path if where.area else None))


@route(
    "PUT",
    "/scorecard/notes",
    summary="Write or rewrite the month's review note of one of your areas (staff and admins)",
    permission=Permission.WRITE,
    body=ScorecardNoteBody,
    response=NOTE,
    errors=(422,),  # an unknown area, a month not yet begun
)
async def put_note(request: web.Request, body: ScorecardNoteBody) -> web.Response:
    hub: Hub = request.app[HUB]
    scope = request[SCOPE]
    month = parse_month(body.month)
    area = await area_by_path(body.area)
    note = await save_note(scope, area, month, body.text, now=hub.clock(), tz=hub.config.tz)
    return web.json_response(note_json(note))


@route(
    "GET",
    "/sla",
    summary="Each ticket category's SLA record: tickets filed in the period, as they stand now",
    permission=Permission.READ,
    response=SLA,
    query=(AREA, FROM, TO),
    errors=(422,),
)
async def get_sla(request: web.Request) -> web.Response:
    hub: Hub = request.app[HUB]
    where = await _where(request)
    now = hub.clock()
    period = period_of(hub.config, request.query.get("from", ""), request.query.get("to", ""), now)
    return web.json_response(sla_json(await sla_record(hub.tickets, where, period, now)))
