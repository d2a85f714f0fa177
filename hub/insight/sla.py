"""Each ticket category's SLA record, and the ticket facts the scorecard counts too.

The tickets are those filed in the period in the view, as they stand at `now`. A ticket counts as
verified when it left baru (diverifikasi, or turned down or forwarded straight away: its first
step is done either way), the moment its history records; and as resolved while it is selesai,
ditolak or diteruskan, as its `resolved_at` has it. Its deadlines are worked out again from the
catalogue and the working days (hub/core/workdays.py), because a ticket keeps only the deadline
of the step it waits for: verified within `verify_within_days` of filing, resolved within
`resolve_within_days` of being verified (a ticket reopened later is measured from that first
verification to its last resolution). A step counts for the SLA once it is done or its deadline
has passed, so a ticket still inside its time is neither on time nor late. "Overdue open" is the
ticket board's: open, and past the deadline it waits for now.

Medians of days count working days by date in the hub's timezone (0: the same day), the unit the
SLAs are set in; the scorecard's medians are hours.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.feedback.complaints.catalogue import Catalogue
from hub.feedback.complaints.tickets import TicketRules
from hub.feedback.complaints.workflow import CLOSED, OPEN
from hub.insight.participation import Period, Where
from models import Ticket, TicketEvent, TicketEventKind, TicketKind, TicketStatus

# What the RT head was sent about a ticket: each status change and each message from staff.
TOLD = (TicketEventKind.STATUS, TicketEventKind.MESSAGE)


# Tickets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFacts:
    """One ticket filed in the period, as it stands now."""

    kind: TicketKind
    category: str
    status: TicketStatus
    created_at: dt.datetime
    verified_at: dt.datetime | None  # when it left baru: verified, turned down or forwarded
    resolved_at: dt.datetime | None  # while selesai, ditolak or diteruskan
    due_at: dt.datetime | None  # the deadline of the step it waits for (the board's)
    visit: bool  # the resident still had to bring something to the office
    told: bool  # the RT head was sent a status change or a message about it


def needs_visit(kind: TicketKind, category: str, details: Any, catalogue: Catalogue) -> bool:
    """Whether a ticket still needed someone at the office: never for a complaint; for a
    service request, the documents it still lists to bring (the service dialog writes them),
    else the catalogue's requirements that cannot be checked online (an unknown service: yes)."""
    if kind != TicketKind.SERVICE:
        return False
    if isinstance(details, dict) and "visit" in details:
        return bool(details["visit"])
    service = catalogue.service(category)
    return service is None or any(not r.online for r in service.requirements)


async def tickets_filed(where: Where, period: Period, catalogue: Catalogue) -> list[TicketFacts]:
    """The tickets filed in the period in the view, with what their history says."""
    rows = await Ticket.filter(
        where.on(), created_at__gte=period.start, created_at__lt=period.end
    ).values(
        "id", "kind", "category", "status", "created_at", "verified_at", "resolved_at", "due_at",
        "details",
    )  # fmt: skip
    events = await TicketEvent.filter(
        where.on("ticket__"),
        ticket__created_at__gte=period.start,
        ticket__created_at__lt=period.end,
        kind__in=list(TOLD),
    ).values_list("ticket_id", "kind", "from_status", "created_at")
    told: set[int] = set()
    left_new: dict[int, dt.datetime] = {}
    for ticket_id, kind, from_status, at in events:
        told.add(ticket_id)
        if kind == TicketEventKind.STATUS and from_status == TicketStatus.NEW.value:
            left_new[ticket_id] = min(at, left_new.get(ticket_id, at))
    found = []
    for row in rows:
        kind, status = TicketKind(row["kind"]), TicketStatus(row["status"])
        resolved_at = row["resolved_at"] if status in CLOSED else None
        # The history's move out of baru; rows written without one fall back to the columns.
        moments = [left_new.get(row["id"]), row["verified_at"], resolved_at]
        verified = [m for m in moments if m is not None]
        found.append(
            TicketFacts(
                kind=kind,
                category=row["category"],
                status=status,
                created_at=row["created_at"],
                verified_at=min(verified) if verified else None,
                resolved_at=resolved_at,
                due_at=row["due_at"],
                visit=needs_visit(kind, row["category"], row["details"], catalogue),
                told=row["id"] in told,
            )
        )
    return found


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)


@dataclass
class SlaCount:
    """Tickets added up against their SLA: the scorecard's Efisiensi and one row of the SLA
    record. A step counts (`*_measured`) once it is done or its deadline has passed."""

    tickets: int = 0
    verified: int = 0
    verified_on_time: int = 0
    verify_measured: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    resolve_measured: int = 0
    done: int = 0  # selesai
    done_without_visit: int = 0
    told: int = 0
    overdue_open: int = 0  # still open and past the deadline of the step it waits for
    hours_to_verify: list[float] = field(default_factory=list)
    hours_to_resolve: list[float] = field(default_factory=list)
    days_to_verify: list[int] = field(default_factory=list)  # working days, see median_days
    days_to_resolve: list[int] = field(default_factory=list)

    def add(self, t: TicketFacts, rules: TicketRules, now: dt.datetime) -> None:
        calendar = rules.calendar
        verify_days, resolve_days = rules.catalogue.sla(t.kind, t.category)
        self.tickets += 1
        self.done += t.status == TicketStatus.DONE
        self.done_without_visit += t.status == TicketStatus.DONE and not t.visit
        self.told += t.told
        self.overdue_open += t.status in OPEN and t.due_at is not None and t.due_at < now
        verify_by = calendar.add_working_days(t.created_at, verify_days)
        if t.verified_at is None:
            self.verify_measured += now > verify_by  # late, still waiting
            return
        self.verified += 1
        self.verify_measured += 1
        self.verified_on_time += t.verified_at <= verify_by
        self.hours_to_verify.append(_hours(t.created_at, t.verified_at))
        self.days_to_verify.append(calendar.working_days_between(t.created_at, t.verified_at))
        resolve_by = calendar.add_working_days(t.verified_at, resolve_days)
        if t.resolved_at is None:
            self.resolve_measured += now > resolve_by
            return
        self.resolved += 1
        self.resolve_measured += 1
        self.resolved_on_time += t.resolved_at <= resolve_by
        self.hours_to_resolve.append(_hours(t.created_at, t.resolved_at))
        self.days_to_resolve.append(calendar.working_days_between(t.created_at, t.resolved_at))


def median_days(days: Sequence[int]) -> float | None:
    """The median of whole working days (Monday to Friday without holidays, counted by date in
    the hub's timezone: 0 is the same day)."""
    return float(statistics.median(days)) if days else None


def count_tickets(facts: Iterable[TicketFacts], rules: TicketRules, now: dt.datetime) -> SlaCount:
    total = SlaCount()
    for t in facts:
        total.add(t, rules, now)
    return total


# The SLA record -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaRow:
    """One category (or service) of tickets filed in the period, against its SLA."""

    kind: TicketKind
    category: str  # as stored: a complaint category, or a service's key
    label: str  # what staff call it: the category, or the service's name
    verify_within_days: int
    resolve_within_days: int
    count: SlaCount


@dataclass(frozen=True)
class SlaRecord:
    period: Period
    rows: list[SlaRow]  # complaint categories, then services, in the catalogue's order
    total: SlaCount


def _order(catalogue: Catalogue) -> dict[tuple[TicketKind, str], int]:
    names = [(TicketKind.COMPLAINT, c.name) for c in catalogue.categories]
    names += [(TicketKind.SERVICE, s.key) for s in catalogue.services]
    return {name: position for position, name in enumerate(names)}


async def sla_record(
    rules: TicketRules, where: Where, period: Period, now: dt.datetime
) -> SlaRecord:
    """Each category's tickets filed in the period against their SLA, and all of them; only
    categories with tickets are listed (ones no longer in the catalogue last, by name)."""
    catalogue = rules.catalogue
    per: dict[tuple[TicketKind, str], SlaCount] = {}
    total = SlaCount()
    for t in await tickets_filed(where, period, catalogue):
        per.setdefault((t.kind, t.category), SlaCount()).add(t, rules, now)
        total.add(t, rules, now)
    order = _order(catalogue)
    rows = []
    for kind, category in sorted(per, key=lambda k: (order.get(k, len(order)), k[1])):
        service = catalogue.service(category) if kind == TicketKind.SERVICE else None
        verify_days, resolve_days = catalogue.sla(kind, category)
        rows.append(
            SlaRow(
                kind=kind,
                category=category,
                label=service.name if service else category,
                verify_within_days=verify_days,
                resolve_within_days=resolve_days,
                count=per[(kind, category)],
            )
        )
    return SlaRecord(period, rows, total)
