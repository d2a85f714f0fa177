"""The five-dimension scorecard of PRODUCT.md, per area and calendar month.

The field study behind the hub judged e-government on five dimensions (a balanced e-government
scorecard): Manfaat, Efisiensi, Partisipasi, Transparansi and Manajemen perubahan. Here each is a
list of parts measured from the hub's own rows, and every part carries its formula in words and
the counts it was divided from, so an official can check it by hand. Nothing is weighted: a
dimension's combined figure is given only where it is the plain mean of its rates, with that
formula written out; there is no figure across dimensions.

What is counted (definitions in docs/scorecard.md):
- announcements: deliveries of broadcasts that started going out in the month, as participation
  counts them (hub/insight/participation.py: the seat's area at the fan-out, statuses as they
  stand now);
- tickets: those filed in the month in the area, as they stand at `now`, verified and resolved
  as the SLA record counts them (hub/insight/sla.py);
- Manajemen perubahan: every part of the other four against the previous month, and the month's
  review notes (hub/insight/notes.py).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise.expressions import Subquery

from hub.core.config import Config
from hub.feedback.complaints.tickets import TicketRules
from hub.insight.notes import Note, notes_of
from hub.insight.participation import WENT_OUT, Level, Period, Tally, Where, level_of, tallies
from hub.insight.sla import TOLD, count_tickets, tickets_filed
from models import Broadcast, Delivery, Poll, TicketEvent

# Units of a part's value.
RATE = "rate"  # 0..1, numerator ÷ denominator
HOURS = "hours"  # a median, over `denominator` values
COUNT = "count"
POINTS = "points"  # percentage points: a change of a rate


# The words: every label and formula the scorecard shows, in Bahasa Indonesia, in one place ----


@dataclass(frozen=True)
class Words:
    label: str
    formula: str
    unit: str
    better: str | None  # "higher" or "lower": which way is an improvement; None: neither


WORDS: dict[str, Words] = {
    # Manfaat
    "announcements_reached": Words(
        "Pengumuman sampai ke ketua RT",
        "pengumuman terkirim ÷ pengumuman dikirim (terkirim + gagal)",
        RATE, "higher",
    ),
    "tickets_done": Words(
        "Tiket selesai",
        "tiket berstatus selesai ÷ tiket yang diajukan bulan ini",
        RATE, "higher",
    ),
    "done_without_visit": Words(
        "Selesai tanpa datang ke kantor",
        "tiket selesai yang tidak perlu datang ke kantor ÷ tiket selesai",
        RATE, "higher",
    ),
    # Efisiensi
    "median_ack_hours": Words(
        "Median jam sampai dikonfirmasi",
        "median (waktu dikonfirmasi − waktu terkirim) dalam jam, atas pengumuman yang dikonfirmasi",
        HOURS, "lower",
    ),
    "median_verify_hours": Words(
        "Median jam sampai tiket diperiksa",
        "median (waktu diverifikasi, ditolak atau diteruskan − waktu diajukan) dalam jam, "
        "atas tiket yang sudah diperiksa",
        HOURS, "lower",
    ),
    "median_resolve_hours": Words(
        "Median jam sampai tiket ditutup",
        "median (waktu selesai, ditolak atau diteruskan − waktu diajukan) dalam jam, "
        "atas tiket yang sudah ditutup",
        HOURS, "lower",
    ),
    "verified_on_time": Words(
        "Diperiksa tepat waktu",
        "tiket diperiksa sebelum batas SLA ÷ tiket yang sudah diperiksa atau sudah lewat batasnya",
        RATE, "higher",
    ),
    "resolved_on_time": Words(
        "Ditutup tepat waktu",
        "tiket ditutup sebelum batas SLA ÷ tiket yang sudah ditutup atau sudah lewat batasnya",
        RATE, "higher",
    ),
    # Partisipasi
    "ack_rate": Words(
        "Tingkat konfirmasi",
        "pengumuman dikonfirmasi ÷ pengumuman yang meminta konfirmasi",
        RATE, "higher",
    ),
    "poll_turnout": Words(
        "Partisipasi jajak pendapat",
        "suara masuk ÷ jajak pendapat terkirim",
        RATE, "higher",
    ),
    "active_rt_heads": Words(
        "Ketua RT aktif",
        "ketua RT aktif ÷ ketua RT yang cukup data (aktif + pasif + tak terjangkau)",
        RATE, "higher",
    ),
    # Transparansi
    "published": Words(
        "Pengumuman di arsip publik",
        "pengumuman diterbitkan di arsip publik ÷ pengumuman dikirim",
        RATE, "higher",
    ),
    "tickets_told": Words(
        "Tiket yang dikabari",
        "tiket yang pelapornya menerima kabar (perubahan status atau pesan petugas) "
        "÷ tiket yang diajukan bulan ini",
        RATE, "higher",
    ),
    "ticket_updates": Words(
        "Kabar tiket terkirim",
        "jumlah perubahan status dan pesan petugas yang dikirim ke ketua RT bulan ini",
        COUNT, None,
    ),
    # Manajemen perubahan
    "improved": Words(
        "Bagian yang membaik",
        "bagian yang membaik dibanding bulan lalu ÷ bagian yang bisa dibandingkan",
        RATE, "higher",
    ),
    "review_notes": Words(
        "Catatan tinjauan",
        "jumlah catatan tinjauan bulan ini untuk wilayah ini dan wilayah di bawahnya",
        COUNT, None,
    ),
}  # fmt: skip

DIMENSIONS = {
    "manfaat": "Manfaat",
    "efisiensi": "Efisiensi",
    "partisipasi": "Partisipasi",
    "transparansi": "Transparansi",
    "manajemen_perubahan": "Manajemen perubahan",
}
COMBINED_LABEL = "Gabungan"
COMBINED_FORMULA = "rata-rata tanpa bobot: ({parts}) ÷ {n}"
CHANGE_FORMULA = {
    RATE: "(nilai bulan ini − nilai bulan lalu) × 100, dalam poin persen",
    HOURS: "nilai bulan ini − nilai bulan lalu, dalam jam",
    COUNT: "jumlah bulan ini − jumlah bulan lalu",
}


# What the scorecard is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One measured part of a dimension. A rate's value is numerator ÷ denominator (None when
    the denominator is 0); a median's denominator is how many values it is the median of."""

    key: str
    label: str
    value: float | None
    numerator: int | None
    denominator: int | None
    unit: str
    formula: str
    better: str | None


@dataclass(frozen=True)
class Combined:
    value: float | None  # None when one of its rates has nothing to divide
    formula: str


@dataclass(frozen=True)
class Change:
    """One part (or a combined figure) against the previous month."""

    dimension: str
    part: str  # the part's key, or "combined"
    label: str
    unit: str  # POINTS for a rate, else the part's unit
    current: float | None
    previous: float | None
    change: float | None  # None when either month has no value
    improved: bool | None  # None when it cannot be said (no value, or no better direction)
    formula: str


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    parts: list[Part]
    combined: Combined | None  # only where the plain mean of two or more rates says something
    changes: list[Change] = field(default_factory=list)  # Manajemen perubahan only
    notes: list[Note] = field(default_factory=list)  # Manajemen perubahan only


@dataclass(frozen=True)
class Scorecard:
    month: dt.date  # its first day
    period: Period
    dimensions: list[Dimension]  # the five, in PRODUCT.md's order

    def dimension(self, key: str) -> Dimension:
        return next(d for d in self.dimensions if d.key == key)


def _rate_part(key: str, numerator: int, denominator: int) -> Part:
    words = WORDS[key]
    value = numerator / denominator if denominator else None
    return Part(key, words.label, value, numerator, denominator, words.unit, words.formula,
                words.better)  # fmt: skip


def _median_part(key: str, values: Sequence[float]) -> Part:
    words = WORDS[key]
    value = float(statistics.median(values)) if values else None
    return Part(key, words.label, value, None, len(values), words.unit, words.formula,
                words.better)  # fmt: skip


def _count_part(key: str, count: int) -> Part:
    words = WORDS[key]
    return Part(key, words.label, count, None, None, words.unit, words.formula, words.better)


def combined(parts: Sequence[Part]) -> Combined | None:
    """The unweighted mean of the dimension's rates, with its formula; None with fewer than two
    (the mean of one rate is that rate)."""
    rates = [p for p in parts if p.unit == RATE]
    if len(rates) < 2:
        return None
    values = [p.value for p in rates if p.value is not None]
    value = sum(values) / len(values) if len(values) == len(rates) else None
    formula = COMBINED_FORMULA.format(parts=" + ".join(p.label for p in rates), n=len(rates))
    return Combined(value, formula)


# Announcements --------------------------------------------------------------------------------


async def announcements(where: Where, period: Period) -> tuple[int, int]:
    """Announcements (broadcasts that are no poll) that went out to the view in the period, and
    how many of them staff published in the public archive (hub/archive)."""
    went_out = Delivery.filter(
        where.on(),
        broadcast__started_at__gte=period.start,
        broadcast__started_at__lt=period.end,
        status__in=WENT_OUT,
    ).values("broadcast_id")
    sent = Broadcast.filter(id__in=Subquery(went_out)).exclude(
        id__in=Subquery(Poll.all().values("broadcast_id"))
    )
    return await sent.count(), await sent.filter(published=True).count()


async def updates_told(where: Where, period: Period) -> int:
    """Status changes and staff messages the RT heads were sent in the period, about tickets in
    the view (whenever those were filed)."""
    return await TicketEvent.filter(
        where.on("ticket__"),
        kind__in=list(TOLD),
        created_at__gte=period.start,
        created_at__lt=period.end,
    ).count()


# The four measured dimensions -----------------------------------------------------------------


@dataclass
class RtHeads:
    """The view's RT heads (one per member and seat, as participation lists them) added up."""

    total: Tally
    active: int
    classed: int  # with a level: active, passive or unreachable


async def rt_heads(config: Config, where: Where, period: Period) -> RtHeads:
    rules = config.participation
    total, active, classed = Tally(0, None), 0, 0
    for t in (await tallies(where, period, rules)).values():
        total.add(t)
        level = level_of(t, rules)
        classed += level is not None
        active += level == Level.ACTIVE
    return RtHeads(total, active, classed)


def _dimension(key: str, parts: list[Part]) -> Dimension:
    return Dimension(key, DIMENSIONS[key], parts, combined(parts))


async def measure(
    config: Config, rules: TicketRules, where: Where, period: Period, now: dt.datetime
) -> list[Dimension]:
    """Manfaat, Efisiensi, Partisipasi and Transparansi of one view and period."""
    heads = await rt_heads(config, where, period)
    t = heads.total
    facts = await tickets_filed(where, period, rules.catalogue)
    sla = count_tickets(facts, rules, now)
    sent, published = await announcements(where, period)
    ack_hours = [minutes / 60 for minutes in t.ack_minutes]
    return [
        _dimension("manfaat", [
            _rate_part("announcements_reached", t.broadcasts - t.failed, t.broadcasts),
            _rate_part("tickets_done", sla.done, sla.tickets),
            _rate_part("done_without_visit", sla.done_without_visit, sla.done),
        ]),
        _dimension("efisiensi", [
            _median_part("median_ack_hours", ack_hours),
            _median_part("median_verify_hours", sla.hours_to_verify),
            _median_part("median_resolve_hours", sla.hours_to_resolve),
            _rate_part("verified_on_time", sla.verified_on_time, sla.verify_measured),
            _rate_part("resolved_on_time", sla.resolved_on_time, sla.resolve_measured),
        ]),
        _dimension("partisipasi", [
            _rate_part("ack_rate", t.acknowledged, t.ack_asked),
            _rate_part("poll_turnout", t.poll_votes, t.polls),
            _rate_part("active_rt_heads", heads.active, heads.classed),
        ]),
        _dimension("transparansi", [
            _rate_part("published", published, sent),
            _rate_part("tickets_told", sla.told, sla.tickets),
            _count_part("ticket_updates", await updates_told(where, period)),
        ]),
    ]  # fmt: skip


# Manajemen perubahan ----------------------------------------------------------------------------


def _change(
    dimension: str, part: str, label: str, unit: str, better: str | None,
    current: float | None, previous: float | None,
) -> Change:  # fmt: skip
    difference = None
    if current is not None and previous is not None:
        if unit == RATE:
            difference = round((current - previous) * 100, 2)
        elif unit == HOURS:
            difference = round(current - previous, 2)
        else:
            difference = current - previous
    improved = None
    if difference is not None and better is not None:
        improved = difference > 0 if better == "higher" else difference < 0
    return Change(
        dimension=dimension,
        part=part,
        label=label,
        unit=POINTS if unit == RATE else unit,
        current=current,
        previous=previous,
        change=difference,
        improved=improved,
        formula=CHANGE_FORMULA[unit],
    )


def changes(current: Sequence[Dimension], previous: Sequence[Dimension]) -> list[Change]:
    """Each part and combined figure of `current` against the same in `previous`."""
    found = []
    for now_dim, then_dim in zip(current, previous, strict=True):
        for part, before in zip(now_dim.parts, then_dim.parts, strict=True):
            found.append(
                _change(now_dim.key, part.key, part.label, part.unit, part.better,
                        part.value, before.value)
            )  # fmt: skip
        if now_dim.combined is not None and then_dim.combined is not None:
            found.append(
                _change(now_dim.key, "combined", COMBINED_LABEL, RATE, "higher",
                        now_dim.combined.value, then_dim.combined.value)
            )  # fmt: skip
    return found


def review(found: Sequence[Change], notes: Sequence[Note]) -> Dimension:
    """Manajemen perubahan: how many parts improved, the changes, and the month's notes."""
    compared = [c for c in found if c.improved is not None and c.part != "combined"]
    parts = [
        _rate_part("improved", sum(c.improved is True for c in compared), len(compared)),
        _count_part("review_notes", len(notes)),
    ]
    key = "manajemen_perubahan"
    return Dimension(key, DIMENSIONS[key], parts, None, list(found), list(notes))


# The month ------------------------------------------------------------------------------------


def month_period(month: dt.date, tz: dt.tzinfo) -> Period:
    """The calendar month that `month` falls in, as whole days in the hub's timezone."""
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=31)).replace(day=1)
    return Period(first, following - dt.timedelta(days=1), tz)


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


async def scorecard(
    config: Config, rules: TicketRules, where: Where, month: dt.date, now: dt.datetime
) -> Scorecard:
    """The five dimensions of one view (the caller's areas, or one area in them) and month."""
    period = month_period(month, config.tz)
    current = await measure(config, rules, where, period, now)
    before = await measure(
        config, rules, where, month_period(previous_month(month), config.tz), now
    )
    notes = await notes_of(where.scope, where.area, period.first)
    return Scorecard(period.first, period, [*current, review(changes(current, before), notes)])
