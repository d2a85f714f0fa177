"""Rapor: the five-dimension scorecard of an area and month with each part's formula, each ticket
category's SLA record, the month's review notes (staff write them), and the monthly report as a
printable page and as PDF (hub/insight/monthly.py builds it, hub/insight/pdf.py draws the PDF).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub.access.areas import area_by_path
from hub.core.errors import HubError
from hub.insight.areas import month_label
from hub.insight.monthly import MonthlyReport, monthly_report
from hub.insight.notes import parse_month, save_note, this_month
from hub.insight.participation import Where, median_minutes, rate
from hub.insight.pdf import report_pdf
from hub.insight.scorecard import HOURS, POINTS, RATE, Change, Part, previous_month
from hub.insight.sla import SlaCount, median_days
from hub.web.dashboard.base import SCOPE, _field, _hub, _require_write, page, redirect, render
from hub.web.dashboard.figures import KIND_LABELS, area_asked, hours, minutes, of, pct
from hub.web.insight_tables import level_label
from hub.web.permissions import Permission
from models import Area


def _month(request: web.Request) -> tuple[dt.date, str]:
    """The month asked for (`bulan=YYYY-MM`), this month by default; a wrong one is said, and
    this month shown."""
    hub = _hub(request)
    current = this_month(hub.clock(), hub.config.tz)
    wanted = request.query.get("bulan", "")
    if not wanted:
        return current, ""
    try:
        return parse_month(wanted, "bulan"), ""
    except HubError:
        return current, "Bulan tidak dapat dibaca (tulis TTTT-BB). Ditampilkan bulan ini."


def _value(unit: str, value: float | None) -> str:
    if unit == RATE:
        return pct(value)
    if unit == HOURS:
        return hours(value)
    if unit == POINTS:
        return "—" if value is None else f"{value:+.0f} poin".replace("+0 ", "0 ")
    return "—" if value is None else f"{value:g}"


def _part(part: Part) -> dict[str, Any]:
    counts = ""
    if part.unit == RATE:
        counts = of(part.numerator, part.denominator)
    elif part.unit == HOURS and part.denominator:
        counts = f"dari {part.denominator} nilai"
    return {
        "label": part.label,
        "value": _value(part.unit, part.value),
        "counts": counts,
        "formula": part.formula,
    }


def _change(change: Change) -> dict[str, Any]:
    """A part this month against last month; a rate's change is in percentage points."""
    shown = RATE if change.unit == POINTS else change.unit
    arrow = {True: "▲ membaik", False: "▼ memburuk", None: ""}[change.improved]
    improved = change.improved
    if change.change == 0:
        arrow, improved = "= tetap", None  # not better, and not worse either
    return {
        "label": change.label,
        "current": _value(shown, change.current),
        "previous": _value(shown, change.previous),
        "change": _value(change.unit, change.change),
        "arrow": arrow,
        "improved": improved,
    }


def _sla(count: SlaCount) -> dict[str, Any]:
    days = (median_days(count.days_to_verify), median_days(count.days_to_resolve))
    return {
        "tickets": count.tickets,
        "verified": of(count.verified_on_time, count.verify_measured),
        "resolved": of(count.resolved_on_time, count.resolve_measured),
        "done": count.done,
        "overdue": count.overdue_open,
        "verify_days": "—" if days[0] is None else f"{days[0]:g} hari kerja",
        "resolve_days": "—" if days[1] is None else f"{days[1]:g} hari kerja",
    }


def report_view(report: MonthlyReport) -> dict[str, Any]:
    """The report's figures as the rapor and report pages write them."""
    card, record, summary = report.scorecard, report.sla, report.summary
    total = summary.total
    return {
        "month_label": month_label(card.month),
        "dimensions": [
            {
                "key": d.key,
                "label": d.label,
                "parts": [_part(p) for p in d.parts],
                "combined": (
                    {"value": pct(d.combined.value), "formula": d.combined.formula}
                    if d.combined
                    else None
                ),
                "changes": [_change(c) for c in d.changes],
                "notes": d.notes,
            }
            for d in card.dimensions
        ],
        "sla_rows": [
            {"label": r.label, "kind": r.kind.value,
             "sla": f"{r.verify_within_days} / {r.resolve_within_days} hari kerja", **_sla(r.count)}
            for r in record.rows
            if r.count.tickets
        ],
        "sla_total": _sla(record.total),
        "summary": {
            "members": summary.members,
            "levels": summary.levels,
            "ack": of(total.acknowledged, total.ack_asked),
            "read": of(total.read, total.broadcasts),
            "median": minutes(median_minutes(total.ack_minutes)),
            "votes": of(total.poll_votes, total.polls),
            "ack_rate": rate(total.acknowledged, total.ack_asked),
        },
        "silent": [
            {"name": r.name, "area": r.area_path or "", "level": level_label(r.level),
             "ack": of(r.tally.acknowledged, r.tally.ack_asked), "phone": r.phone or ""}
            for r in report.silent
        ],
        "weeks": [
            {"label": f"{w.start.day}/{w.start.month}", "ack": of(w.acknowledged, w.ack_asked),
             "read": of(w.read, w.broadcasts)}
            for w in report.weeks
        ],
    }  # fmt: skip


def _links(area: Area | None, month: dt.date) -> dict[str, str]:
    here = f"area={quote(area.path, safe='/')}&" if area else ""
    return {
        "here": f"{here}bulan={month.strftime('%Y-%m')}",
        "previous": f"{here}bulan={previous_month(month).strftime('%Y-%m')}",
        "next": f"{here}bulan={(month + dt.timedelta(days=32)).strftime('%Y-%m')}",
    }


async def _report(request: web.Request) -> tuple[Area | None, dt.date, str, MonthlyReport]:
    hub = _hub(request)
    area = await area_asked(request)
    month, error = _month(request)
    where = Where(request[SCOPE], area=area)
    report = await monthly_report(hub.config, hub.tickets, where, month, hub.clock())
    return area, month, error, report


@page(Permission.READ)
async def scorecard_page(request: web.Request) -> web.StreamResponse:
    """The five dimensions, the SLA record and the review notes of one area and month."""
    hub = _hub(request)
    area, month, error, report = await _report(request)
    return await render(
        request,
        "scorecard.html",
        nav="participation",
        area_path=area.path if area else "",
        area_name=area.path if area else "Semua wilayah Anda",
        kind=KIND_LABELS.get(area.kind.value, "") if area else "",
        month=month.strftime("%Y-%m"),
        month_error=error,
        is_future=month > this_month(hub.clock(), hub.config.tz),
        notice=request.query.get("notice", ""),
        links=_links(area, month),
        **report_view(report),
    )


@page(Permission.WRITE)
async def scorecard_note(request: web.Request) -> web.StreamResponse:
    """Save the month's review note of an area (staff of the area only)."""
    hub = _hub(request)
    scope = _require_write(request)
    form = await request.post()
    area_path, wanted_month = _field(form, "area"), _field(form, "bulan")
    link = f"/partisipasi/rapor?area={quote(area_path, safe='/')}&bulan={quote(wanted_month)}"
    area = await area_by_path(area_path)
    try:
        await save_note(
            scope, area, parse_month(wanted_month, "bulan"), _field(form, "text"),
            now=hub.clock(), tz=hub.config.tz,
        )  # fmt: skip
    except HubError as exc:
        if exc.status == 403:
            raise
        return redirect(f"{link}&notice=catatan-ditolak#catatan")
    return redirect(f"{link}&notice=catatan-tersimpan#catatan")


@page(Permission.READ)
async def report_page(request: web.Request) -> web.StreamResponse:
    """The monthly participation and ticket report: a page to print, or `?format=pdf`."""
    hub = _hub(request)
    area, month, error, report = await _report(request)
    title = area.path if area else "Semua wilayah Anda"
    if request.query.get("format") == "pdf":
        body = await report_pdf(report, title, hub.config.hub.name)
        slug = (area.name if area else "semua").lower().replace(" ", "-")
        return web.Response(
            body=body,
            content_type="application/pdf",
            headers={
                "Content-Disposition":
                    f'attachment; filename="laporan-{slug}-{month.strftime("%Y-%m")}.pdf"'
            },
        )  # fmt: skip
    return await render(
        request,
        "monthly_report.html",
        nav="participation",
        area_path=area.path if area else "",
        area_name=title,
        month=month.strftime("%Y-%m"),
        month_error=error,
        links=_links(area, month),
        generated=hub.clock().astimezone(hub.config.tz).strftime("%d/%m/%Y %H:%M"),
        **report_view(report),
    )
