"""The monthly participation and ticket report of an area: what the printable page and the PDF
show, gathered once. Everything is counted within the caller's areas."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.core.config import Config
from hub.feedback.complaints.tickets import TicketRules
from hub.insight.areas import Week, weekly
from hub.insight.participation import (
    Level,
    MemberRow,
    Period,
    Summary,
    Where,
    member_rows,
    summarize,
    tallies,
)
from hub.insight.scorecard import Scorecard, month_period, scorecard
from hub.insight.sla import SlaRecord, sla_record


@dataclass(frozen=True)
class MonthlyReport:
    month: dt.date  # its first day
    period: Period
    scorecard: Scorecard
    sla: SlaRecord
    summary: Summary  # the RT heads' participation over the month
    rows: list[MemberRow]
    silent: list[MemberRow]  # unreachable first, then passive, by name
    weeks: list[Week]


async def monthly_report(
    config: Config, rules: TicketRules, where: Where, month: dt.date, now: dt.datetime
) -> MonthlyReport:
    period = month_period(month, config.tz)
    found = await tallies(where, period, config.participation)
    rows = await member_rows(found.values(), config.participation)
    silent = [r for r in rows if r.level in (Level.UNREACHABLE, Level.PASSIVE)]
    silent.sort(key=lambda r: (r.level != Level.UNREACHABLE, r.name.lower()))
    return MonthlyReport(
        month=period.first,
        period=period,
        scorecard=await scorecard(config, rules, where, month, now),
        sla=await sla_record(rules, where, period, now),
        summary=summarize(rows),
        rows=rows,
        silent=silent,
        weeks=await weekly(where, period),
    )
