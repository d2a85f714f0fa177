"""Every Monday from 08:00 (hub timezone), each kelurahan's lurah and staff get last week's
participation on their messenger: the week's figures against the week before, the levels over
the last `participation.period_days` days with the passive and unreachable RT heads by name, a
chart (PNG, drawn by matplotlib) and a link to the full page.

Who gets it: the members holding a `lurah` or `staff` seat at the kelurahan (roster role). A
report is due from Monday 08:00 until the next Monday 08:00, so a hub that was down on Monday
morning sends it when it is back. A `weekly_report` row, unique per kelurahan and week, is written
in the transaction that queues the messages: a second run of the job, in this or another
process, finds it and sends nothing, and a crash before the commit leaves nothing to send twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.outbox import outbound, queue_all
from hub.core.texts import text as say
from hub.files.media import MediaStore
from hub.insight.areas import Week, monday, short_day, weekly
from hub.insight.participation import (
    Level,
    Period,
    Where,
    counted,
    member_rows,
    summarize,
    tallies,
)
from hub.roster.audience import recipients
from models import Area, AreaKind, Attachment, MessageKind, Seat, SeatRole, WeeklyReport

SENDS_AT = dt.time(8, 0)  # Monday, in the hub's timezone
CHART_WEEKS = 8  # the chart shows the reported week and the seven before it
MAX_NAMES = 15  # names listed in the message; the page has the rest
REPORT_ROLES = (SeatRole.LURAH, SeatRole.STAFF)


def week_due(now: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The Monday of the latest week whose report is due: last week from Monday 08:00 on,
    the week before until then."""
    local = now.astimezone(tz)
    this_monday = monday(local.date())
    opened = dt.datetime.combine(this_monday, SENDS_AT, tz)
    return this_monday - dt.timedelta(days=7 if local >= opened else 14)


@dataclass(frozen=True)
class Report:
    """One kelurahan's report, ready to queue."""

    area: Area
    week: Period
    text: str
    summary: str  # the template's short version, outside WhatsApp's window
    url: str
    chart: bytes  # PNG


async def build_report(config: Config, area: Area, week_start: dt.date) -> Report:
    """The week's figures and the levels over the period ending that Sunday, as words and a
    chart; everything counted within the kelurahan."""
    tz, lang, rules = config.tz, config.hub.language, config.participation
    week = Period(week_start, week_start + dt.timedelta(days=6), tz)
    where = Where(Scope(None, None), area=area)
    span = Period(week.last - dt.timedelta(days=rules.period_days - 1), week.last, tz)
    rows = await member_rows((await tallies(where, span, rules)).values(), rules)
    levels = summarize(rows)
    chart_span = Period(week.first - dt.timedelta(days=7 * (CHART_WEEKS - 1)), week.last, tz)
    weeks = await weekly(where, chart_span)
    this, before = weeks[-1], weeks[-2]
    silent = [r.name for r in rows if r.level in (Level.UNREACHABLE, Level.PASSIVE)]
    names = ", ".join(silent[:MAX_NAMES])
    if len(silent) > MAX_NAMES:
        names += f" (+{len(silent) - MAX_NAMES})"
    url = (
        f"{config.hub.public_url.rstrip('/')}/partisipasi?area={quote(area.path, safe='/')}"
        f"&from={span.first.isoformat()}&to={span.last.isoformat()}"
    )
    counts = levels.levels
    text = say(
        lang,
        "weekly_report",
        kelurahan=area.name,
        first=short_day(week.first),
        last=short_day(week.last),
        ack=counted(this.acknowledged, this.ack_asked),
        ack_before=counted(before.acknowledged, before.ack_asked),
        read=counted(this.read, this.broadcasts),
        days=rules.period_days,
        members=levels.members,
        silent=say(lang, "weekly_report_silent", names=names)
        if silent
        else say(lang, "weekly_report_none_silent"),
        url=url,
        **counts,
    )
    summary = say(
        lang, "weekly_report_summary", ack=counted(this.acknowledged, this.ack_asked), **counts
    )
    title = say(lang, "weekly_report_chart_title", kelurahan=area.name)
    axis = say(lang, "weekly_report_chart_axis")
    chart = await asyncio.to_thread(draw_chart, weeks, title, axis)
    return Report(area, week, text, summary, url, chart)


def draw_chart(weeks: Sequence[Week], title: str, axis: str) -> bytes:
    """Bars of the acknowledgement rate per week, each labelled with its count, as a PNG.

    matplotlib with its Agg backend: no display, no fonts beyond its own. Called in a thread
    (about 0.1 s of CPU)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.6), dpi=100)
    ax = figure.subplots()
    labels = [short_day(w.start, year=False) for w in weeks]
    rates = [w.acknowledged / w.ack_asked * 100 if w.ack_asked else 0 for w in weeks]
    bars = ax.bar(labels, rates, color="#0f6b5c")
    for bar, w in zip(bars, weeks, strict=True):
        note = f"{w.acknowledged}/{w.ack_asked}" if w.ack_asked else "–"
        ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")  # fmt: skip
    ax.set_ylim(0, 110)
    ax.set_ylabel(axis)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def _recipient_ids(area: Area) -> list[int]:
    return sorted(
        set(
            await Seat.filter(
                area_id=area.id, role__in=REPORT_ROLES, ended_at__isnull=True
            ).values_list("member_id", flat=True)
        )
    )


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def send_weekly_reports(
    config: Config, media: MediaStore, enabled_channels: Sequence[str], now: dt.datetime
) -> dict[str, int]:
    """Queue the due week's report for every kelurahan with someone to tell; a summary."""
    week_start = week_due(now, config.tz)
    done = set(await WeeklyReport.filter(week_start=week_start).values_list("area_id", flat=True))
    summary = {"reports": 0, "messages": 0, "already_sent": len(done)}
    for area in await Area.filter(kind=AreaKind.KELURAHAN).order_by("path_key"):
        member_ids = await _recipient_ids(area)
        if area.id in done or not member_ids:
            continue
        report = await build_report(config, area, week_start)
        queued = await _queue(report, member_ids, media, enabled_channels, now)
        if queued is not None:
            summary["reports"] += 1
            summary["messages"] += queued
    return summary


async def _queue(
    report: Report,
    member_ids: list[int],
    media: MediaStore,
    enabled_channels: Sequence[str],
    now: dt.datetime,
) -> int | None:
    """Store the chart and queue one message per reachable recipient, with the report's row;
    None when another run got there first (the chart is deleted again)."""
    slug = re.sub(r"[^a-z0-9]+", "-", report.area.name.lower()).strip("-")
    chart = await media.save(
        _one_chunk(report.chart),
        f"partisipasi-{slug}-{report.week.first.isoformat()}.png",
        user=None,
        scope=Scope(None, [report.area.path_key]),
    )
    rows = []
    async for batch in recipients(member_ids, enabled_channels):
        rows += [
            outbound(
                MessageKind.NOTICE,
                member_id=r.member_id,
                channel=r.channel,
                address=r.address,
                text=report.text,
                attachment_ids=[chart.id],
                template="report",
                template_params=[report.area.name, report.summary, report.url],
                due=now,
            )
            for r in batch
            if r.channel is not None and r.address is not None
        ]
    try:
        async with in_transaction():
            await WeeklyReport.create(
                area=report.area,
                week_start=report.week.first,
                recipients=len(rows),
                created_at=now,
            )
            await queue_all(rows)
    except IntegrityError:
        await Attachment.filter(id=chart.id).delete()
        media.path_of(chart).unlink(missing_ok=True)
        return None
    return len(rows)
