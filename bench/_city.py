"""A generated city (or province) for the participation benchmark: one year of broadcasts, polls
and tickets, written straight into a fresh database.

Deterministic: everything comes from one seeded `random.Random`, in a fixed order, so a seed
gives the same rows on SQLite and PostgreSQL. The year ends at `END` (the hub's clock in the
benchmark). What it holds, and why it looks like this:

- The area tree kecamatan → kelurahan → RW → RT, the kelurahan of uneven size (the RTs spread by
  random weights), about six RTs to an RW; one RT head per RT.
- RT heads behave as the field study found: most are active (read nearly everything, confirm
  most of it within the hour), a quarter passive (read half, confirm little, late), some in
  between; 3 % unreachable (blocked the bot or lost the number: every delivery fails), 2 % opt
  out during the year (deliveries skipped from then on). Everybody gets a little better over the
  year, so the weekly trend has a slope. 5 % of the seats change hands on a day in the year: a
  new member holds the seat from then on, the old one's seat is ended.
- Broadcasts and polls on working days, 08:00-16:00 WITA. Their audiences are the whole city, one
  kecamatan or one kelurahan; how many go everywhere is worked out so that the deliveries come
  to the number asked for. Three quarters of the announcements ask for confirmation; polls do
  not (a vote acknowledges the delivery). One broadcast in the middle of the year was cancelled
  half-way; the last is still going out at `END` (its tail pending).
- Each delivery has what the ladder leaves on it: sent (Telegram refusals never are), delivered
  (WhatsApp), read and acknowledged times minutes to days after, the reminder at 24 hours
  (moved out of quiet hours) with a second chance to confirm after it, failure reasons, the
  platform's message id. A delivery reads as of `END`: what would happen later has not yet.
- Tickets (complaints and service requests) through the year, filed mostly by active RT heads,
  a few by staff for a walk-in (no member); verified, worked on and closed with the catalogue's
  SLAs, so the recent ones are still open.

Not generated: outbox messages, inbound webhook events, ticket events, inbox messages and users;
participation reads none of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
import sys
import time
import zoneinfo
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
END = dt.datetime(2026, 11, 30, 16, 0, tzinfo=WITA).astimezone(dt.UTC)  # the benchmark's "now"
LAST_DAY = dt.date(2026, 11, 30)
YEAR_DAYS = 365
FIRST_DAY = LAST_DAY - dt.timedelta(days=YEAR_DAYS - 1)
START = dt.datetime.combine(FIRST_DAY, dt.time(), WITA).astimezone(dt.UTC)
SEND_RATE = 100.0  # messages a second leaving the sender (Telegram 30/s and WhatsApp 80/s, shared)
REMINDER_AFTER = dt.timedelta(hours=24)  # [broadcast] reminder_after_hours
ESCALATE_AFTER = dt.timedelta(hours=48)
QUIET_FROM, QUIET_TO = 21, 6  # [broadcast] quiet_hours, WITA
POLL_OPEN = dt.timedelta(days=3)
WHATSAPP_SHARE = 0.4
SEAT_CHANGES = 0.05
FAILURES = 0.007  # deliveries to reachable RT heads that fail anyway (number changed, 5xx for good)
NO_MEMBER_TICKETS = 0.03  # filed by staff for someone at the counter
BATCH = 50_000  # rows handed to the database at a time
# Bump when the generator changes what it writes: cached databases of an older version are
# generated again.
VERSION = 2


@dataclass(frozen=True)
class Scale:
    name: str
    kecamatan: int
    kelurahan: int
    rt_heads: int
    broadcasts: int  # announcements
    polls: int  # broadcasts with options, on top of the announcements
    deliveries: int  # aimed at; the audiences are chosen to come close
    tickets: int

    def key(self, seed: int) -> str:
        """What the generated data depends on: the scale, the seed, the generator's version and
        the schema (the migrations' names)."""
        migrations = sorted(
            p.name for p in (Path(__file__).parents[1] / "models" / "migrations").glob("0*.py")
        )
        text = json.dumps([VERSION, seed, self.__dict__, migrations], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


CITY = Scale("city", 6, 60, 2_000, 300, 100, 600_000, 20_000)
PROVINCE = Scale("province", 100, 1_000, 50_000, 1_000, 200, 10_000_000, 500_000)


@dataclass(frozen=True)
class Behaviour:
    """How one kind of RT head answers; the chances are per delivery, before the year's drift."""

    name: str
    share: float
    reads: float
    acks: float  # having read one that asks for confirmation
    votes: float  # having read a poll
    read_minutes: float  # median, sent to read (log-normal)
    ack_minutes: float  # median, read to confirmed
    tickets: float  # relative rate of filing tickets


BEHAVIOURS = (
    Behaviour("active", 0.60, 0.95, 0.88, 0.75, 25, 8, 1.5),
    Behaviour("irregular", 0.10, 0.75, 0.55, 0.45, 180, 60, 1.0),
    Behaviour("passive", 0.25, 0.50, 0.20, 0.15, 600, 240, 0.5),
    Behaviour("unreachable", 0.03, 0.0, 0.0, 0.0, 1, 1, 0.0),
    Behaviour("opted_out", 0.02, 0.50, 0.20, 0.15, 600, 240, 0.3),
)
UNREACHABLE = BEHAVIOURS[3]

FIRST_NAMES = (
    "Ahmad Budi Siti Dewi Agus Rina Hendra Yusuf Nur Rahmat Sri Eko Fitri Joko Lina Andi Hasan "
    "Rudi Wahyu Yanti Bambang Ratna Syahrul Arif Maya Dedi Irma Fajar Gita Hadi"
).split()
LAST_NAMES = (
    "Saputra Hidayat Wijaya Pratama Santoso Lestari Kurniawan Rahman Siregar Nasution Gunawan "
    "Setiawan Utami Halim Syamsudin Rusdi Mulyadi Permana"
).split()
TITLES = (
    "Kerja bakti", "Jadwal posyandu", "Pemadaman listrik", "Vaksinasi", "Rapat RT",
    "Pendataan warga", "Waspada banjir", "Lomba kebersihan", "Pembagian bansos", "Fogging",
)  # fmt: skip
POLL_OPTIONS = (
    ["Setuju", "Tidak setuju"],
    ["Setuju", "Tidak setuju", "Ragu-ragu"],
    ["Sabtu pagi", "Minggu pagi", "Minggu sore", "Tidak bisa"],
)


# Columns written, in the order of the generated tuples ------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "area": ("id", "kind", "name", "parent_id", "path", "path_key", "created_at"),
    "member": ("id", "name", "phone", "preferred_channel", "invite_code", "created_at",
               "updated_at"),
    "seat": ("id", "member_id", "area_id", "role", "started_at", "ended_at"),
    "channel_address": ("id", "member_id", "channel", "address", "opted_out_at", "blocked_at",
                        "created_at"),
    "broadcast": ("id", "title", "text", "status", "ack_required", "report_button", "audience",
                  "recipients", "created_at", "started_at", "finished_at", "cancelled_at",
                  "escalated_at", "published"),
    "broadcast_area": ("id", "broadcast_id", "area_key"),
    "poll": ("id", "broadcast_id", "question", "options", "status", "closes_at", "closed_at",
             "send_result", "created_at"),
    "delivery": ("id", "broadcast_id", "member_id", "seat_id", "area_id", "channel", "address",
                 "status", "external_id", "sent_at", "delivered_at", "read_at", "acknowledged_at",
                 "failed_at", "failure_reason", "read_evidence", "ack_evidence", "attempts",
                 "reminders", "reminder_queued_at", "poll_ref"),
    "poll_vote": ("id", "poll_id", "member_id", "delivery_id", "option", "channel", "voted_at",
                  "changed_at"),
    "ticket": ("id", "number", "kind", "category", "member_id", "area_id", "channel", "address",
               "description", "location", "details", "status", "reason", "forwarded_to",
               "reference", "due_at", "verified_at", "resolved_at", "followup_due_at",
               "followup_sent_at", "reopened", "created_at", "updated_at"),
    "ticket_counter": ("id", "prefix", "year", "issued"),
}  # fmt: skip
BIG_TABLES = ("delivery", "poll_vote", "ticket")  # indexes built after the load

Put = Callable[[str, list[tuple[Any, ...]]], Awaitable[None]]


# The roster ---------------------------------------------------------------------------------------


@dataclass
class Person:
    id: int
    behaviour: Behaviour
    channel: str
    address: str
    opted_out_at: dt.datetime | None = None


@dataclass
class Term:
    """One member's time in an RT's seat."""

    person: Person
    seat_id: int
    started: dt.datetime
    ended: dt.datetime | None = None


@dataclass
class Rt:
    area_id: int
    kecamatan: int
    kelurahan: int
    terms: list[Term] = field(default_factory=list)

    def holder(self, at: dt.datetime) -> Term:
        """Who held the seat at that moment (a seat changes hands at most once here)."""
        last = self.terms[-1]
        return last if at >= last.started else self.terms[0]


@dataclass
class Plan:
    """One broadcast, decided before its deliveries are written."""

    id: int
    started: dt.datetime
    poll: bool
    ack: bool
    rts: range  # indexes into the RT list
    areas: list[str]  # the audience's paths
    status: str = "sent"
    cut: int | None = None  # cancelled after this many deliveries
    drift: float = 1.0


def _minutes(rng: random.Random, median: float, sigma: float = 1.1) -> dt.timedelta:
    return dt.timedelta(minutes=math.exp(math.log(median) + sigma * rng.gauss(0.0, 1.0)))


def _out_of_quiet_hours(at: dt.datetime) -> dt.datetime:
    """The reminder job waits out the quiet hours (21:00-06:00 WITA) and sends at 06:00."""
    local = at.astimezone(WITA)
    if local.hour >= QUIET_FROM:
        local = (local + dt.timedelta(days=1)).replace(hour=QUIET_TO, minute=0, second=0)
    elif local.hour < QUIET_TO:
        local = local.replace(hour=QUIET_TO, minute=0, second=0)
    return local.astimezone(dt.UTC)


def _working_moment(rng: random.Random, first_hour: int, last_hour: int) -> dt.datetime:
    """A moment of a working day (not Sunday) of the year, between the hours (WITA)."""
    while True:
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(YEAR_DAYS))
        if day.weekday() != 6:
            break
    seconds = rng.randrange(first_hour * 3600, last_hour * 3600)
    local = dt.datetime.combine(day, dt.time(), WITA) + dt.timedelta(seconds=seconds)
    return local.astimezone(dt.UTC)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


class City:
    """The generated data set; `write()` hands its rows, table by table, to `put`."""

    def __init__(self, scale: Scale, seed: int) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self.rts: list[Rt] = []
        self.kecamatan_paths: list[str] = []
        self.kelurahan_paths: list[str] = []
        self.kelurahan_slices: list[range] = []
        self.kecamatan_slices: list[range] = []
        self.people: list[Person] = []
        # Of each poll's broadcast: the poll's id, when it closes, how popular its options are.
        self.polls: dict[int, tuple[int, dt.datetime, list[float]]] = {}
        self.next_delivery = 1
        self.counts: dict[str, int] = {}

    async def write(self, put: Put) -> None:
        """Every table's rows, in an order that keeps foreign keys pointing backwards."""
        started = time.perf_counter()
        await self._put_tree(put)
        await self._put_roster(put)
        plans = self._plan_broadcasts()
        await self._put_broadcasts(put, plans)
        await self._put_deliveries(put, plans)
        await self._put_tickets(put)
        progress(f"generated in {time.perf_counter() - started:.0f} s: {self.counts}")

    async def _put(self, put: Put, table: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await put(table, rows)
            self.counts[table] = self.counts.get(table, 0) + len(rows)

    # The area tree -----------------------------------------------------------------------------

    async def _put_tree(self, put: Put) -> None:
        from hub.access.areas import path_key

        s, rng = self.scale, self.rng
        per_kecamatan = s.kelurahan // s.kecamatan
        weights = [rng.uniform(0.5, 1.5) for _ in range(s.kelurahan)]
        sizes = _apportion(s.rt_heads, weights)
        rows: list[tuple[Any, ...]] = []
        created = START - dt.timedelta(days=400)
        width = len(str(s.kecamatan))

        def area(kind: str, name: str, parent: int | None, path: str) -> int:
            rows.append((len(rows) + 1, kind, name, parent, path, path_key(path), created))
            return len(rows)

        for k in range(s.kecamatan):
            kecamatan = f"Kecamatan {k + 1:0{width}d}"
            kec_id = area("kecamatan", kecamatan, None, kecamatan)
            self.kecamatan_paths.append(kecamatan)
            first_rt = len(self.rts)
            for j in range(per_kecamatan):
                kelurahan = len(self.kelurahan_paths)
                kel_path = f"{kecamatan}/Kelurahan {j + 1:02d}"
                kel_id = area("kelurahan", kel_path.rsplit("/", 1)[1], kec_id, kel_path)
                self.kelurahan_paths.append(kel_path)
                size = sizes[kelurahan]
                rws = max(1, round(size / 6))
                kel_first = len(self.rts)
                for w in range(rws):
                    rw_path = f"{kel_path}/RW {w + 1:02d}"
                    rw_id = area("rw", f"RW {w + 1:02d}", kel_id, rw_path)
                    for r in range(size * w // rws, size * (w + 1) // rws):
                        rt_path = f"{rw_path}/RT {r + 1:03d}"
                        rt_id = area("rt", f"RT {r + 1:03d}", rw_id, rt_path)
                        self.rts.append(Rt(rt_id, k, kelurahan))
                self.kelurahan_slices.append(range(kel_first, len(self.rts)))
            self.kecamatan_slices.append(range(first_rt, len(self.rts)))
        await self._put(put, "area", rows)
        progress(f"areas: {len(rows):,} ({len(self.rts):,} RTs)")

    # RT heads, their seats and addresses -------------------------------------------------------

    def _person(self) -> Person:
        rng = self.rng
        behaviour = rng.choices(BEHAVIOURS, weights=[b.share for b in BEHAVIOURS])[0]
        number = len(self.people) + 1
        whatsapp = rng.random() < WHATSAPP_SHARE
        person = Person(
            number,
            behaviour,
            "whatsapp" if whatsapp else "telegram",
            f"+62812{number:08d}" if whatsapp else str(700_000_000 + number),
        )
        if behaviour.name == "opted_out":
            person.opted_out_at = START + dt.timedelta(days=rng.uniform(30, YEAR_DAYS - 10))
        self.people.append(person)
        return person

    async def _put_roster(self, put: Put) -> None:
        rng = self.rng
        for rt in self.rts:
            since = START - dt.timedelta(days=rng.uniform(30, 2000))
            rt.terms.append(Term(self._person(), 0, since))
        seat_id = 0
        for rt in self.rts:
            seat_id += 1
            rt.terms[0].seat_id = seat_id
        for rt in self.rts:
            if rng.random() < SEAT_CHANGES:
                change = START + dt.timedelta(days=rng.uniform(20, YEAR_DAYS - 20))
                rt.terms[0].ended = change
                seat_id += 1
                rt.terms.append(Term(self._person(), seat_id, change))
        members, addresses = [], []
        for p in self.people:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            joined = START - dt.timedelta(days=300)
            phone = p.address if p.channel == "whatsapp" else f"+62813{p.id:08d}"
            members.append((p.id, name, phone, p.channel, f"B{p.id:09d}", joined, joined))
            blocked = START - dt.timedelta(days=10) if p.behaviour is UNREACHABLE else None
            addresses.append((p.id, p.id, p.channel, p.address, p.opted_out_at, blocked, joined))
        seats = [
            (t.seat_id, t.person.id, rt.area_id, "ketua_rt", t.started, t.ended)
            for rt in self.rts
            for t in rt.terms
        ]
        await self._put(put, "member", members)
        await self._put(put, "seat", sorted(seats))
        await self._put(put, "channel_address", addresses)
        kinds = {b.name: sum(p.behaviour is b for p in self.people) for b in BEHAVIOURS}
        progress(f"members: {len(members):,} ({len(seats) - len(self.rts)} seats changed) {kinds}")

    # Broadcasts ---------------------------------------------------------------------------------

    def _plan_broadcasts(self) -> list[Plan]:
        """Audiences (everywhere, a kecamatan, a kelurahan), kinds and start times."""
        s, rng = self.scale, self.rng
        total = s.broadcasts + s.polls
        n = len(self.rts)
        local_reach = 0.6 * n / s.kecamatan + 0.4 * n / s.kelurahan
        everywhere = round((s.deliveries - total * local_reach) / (n - local_reach))
        everywhere = max(0, min(total, everywhere))
        local = total - everywhere
        kecamatan = round(0.6 * local)
        audiences = ["all"] * everywhere + ["kecamatan"] * kecamatan
        audiences += ["kelurahan"] * (local - kecamatan)
        rng.shuffle(audiences)
        kinds = [True] * s.polls + [False] * s.broadcasts
        rng.shuffle(kinds)
        starts = sorted(_working_moment(rng, 8, 16) for _ in range(total))
        plans = []
        for i, (audience, poll, started) in enumerate(zip(audiences, kinds, starts, strict=True)):
            if audience == "all":
                rts, areas = range(n), list(self.kecamatan_paths)
            elif audience == "kecamatan":
                k = rng.randrange(s.kecamatan)
                rts, areas = self.kecamatan_slices[k], [self.kecamatan_paths[k]]
            else:
                j = rng.randrange(len(self.kelurahan_paths))
                rts, areas = self.kelurahan_slices[j], [self.kelurahan_paths[j]]
            ack = not poll and rng.random() < 0.75
            drift = 0.9 + 0.15 * (started - START) / (END - START)
            plans.append(Plan(i + 1, started, poll, ack, rts, areas, drift=drift))
        cancelled = plans[total // 2]  # stopped by staff half-way
        cancelled.status, cancelled.cut = "cancelled", len(cancelled.rts) // 2
        last = plans[-1]  # still going out: 70 % has left
        last.status = "sending"
        last.started = END - dt.timedelta(seconds=0.7 * len(last.rts) / SEND_RATE)
        return plans

    async def _put_broadcasts(self, put: Put, plans: list[Plan]) -> None:
        from hub.access.areas import path_key

        rng = self.rng
        broadcasts, reach, polls = [], [], []
        for plan in plans:
            title = rng.choice(TITLES)
            text = f"{title}: Bapak/Ibu Ketua RT, mohon diteruskan kepada warga. " * 3
            went = plan.cut if plan.cut is not None else len(plan.rts)
            finished = plan.started + dt.timedelta(seconds=went / SEND_RATE)
            broadcasts.append(
                (
                    plan.id, title, text.strip(), plan.status, plan.ack, rng.random() < 0.2,
                    json.dumps({"areas": plan.areas}), len(plan.rts),
                    plan.started - dt.timedelta(minutes=rng.uniform(5, 600)), plan.started,
                    finished if plan.status == "sent" else None,
                    finished if plan.status == "cancelled" else None,
                    plan.started + ESCALATE_AFTER
                    if plan.ack and plan.started + ESCALATE_AFTER <= END else None,
                    False,  # not in the public archive: its codes play no part here
                )
            )  # fmt: skip
            for path in plan.areas:
                reach.append((len(reach) + 1, plan.id, path_key(path)))
            if plan.poll:
                options = rng.choice(POLL_OPTIONS)
                closes = plan.started + POLL_OPEN
                closed = closes <= END
                poll_id = len(polls) + 1
                polls.append(
                    (
                        poll_id, plan.id, f"{title}: bagaimana pendapat warga?",
                        json.dumps(options), "closed" if closed else "open", closes,
                        closes if closed else None, rng.random() < 0.5, plan.started,
                    )
                )  # fmt: skip
                preference = [rng.random() + 0.2 for _ in options]
                self.polls[plan.id] = (poll_id, closes, preference)
        await self._put(put, "broadcast", broadcasts)
        await self._put(put, "broadcast_area", reach)
        await self._put(put, "poll", polls)
        everywhere = sum(len(p.rts) == len(self.rts) for p in plans)
        progress(
            f"broadcasts: {len(broadcasts)} ({len(polls)} polls, {everywhere} to everyone, "
            f"{sum(p.ack for p in plans)} asking for confirmation)"
        )

    # Deliveries and votes -----------------------------------------------------------------------

    async def _put_deliveries(self, put: Put, plans: list[Plan]) -> None:
        deliveries: list[tuple[Any, ...]] = []
        votes: list[tuple[Any, ...]] = []
        started = time.perf_counter()
        expected = sum(len(p.rts) for p in plans)
        next_report = 1_000_000
        for plan in plans:
            for row, vote in self._deliveries_of(plan):
                deliveries.append(row)
                if vote is not None:
                    votes.append((len(votes) + 1 + self.counts.get("poll_vote", 0), *vote))
                if len(deliveries) >= BATCH:
                    await self._put(put, "delivery", deliveries)
                    deliveries = []
                    if self.counts["delivery"] >= next_report:
                        next_report += 1_000_000
                        rate = self.counts["delivery"] / (time.perf_counter() - started)
                        progress(
                            f"deliveries: {self.counts['delivery']:,} of {expected:,} "
                            f"({rate:,.0f}/s)"
                        )
            if len(votes) >= BATCH:
                await self._put(put, "poll_vote", votes)
                votes = []
        await self._put(put, "delivery", deliveries)
        await self._put(put, "poll_vote", votes)
        seconds = time.perf_counter() - started
        progress(
            f"deliveries: {self.counts['delivery']:,} and {self.counts.get('poll_vote', 0):,} "
            f"votes in {seconds:.0f} s ({self.counts['delivery'] / seconds:,.0f}/s)"
        )

    def _deliveries_of(
        self, plan: Plan
    ) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None]]:
        """(delivery row, vote row without its id or None) for each RT head in the audience."""
        rng = self.rng
        poll = self.polls.get(plan.id)
        for i, r in enumerate(plan.rts):
            rt = self.rts[r]
            term = rt.holder(plan.started)
            p = term.person
            did = self.next_delivery
            self.next_delivery += 1
            sent = plan.started + dt.timedelta(seconds=i / SEND_RATE)
            head = (did, plan.id, p.id, term.seat_id, rt.area_id, p.channel, p.address)
            if plan.cut is not None and i >= plan.cut:
                yield (*head, "cancelled", *_NOTHING), None
            elif sent > END:
                yield (*head, "pending", *_NOTHING), None
            elif p.opted_out_at is not None and plan.started >= p.opted_out_at:
                yield (*head, "skipped", *_SKIPPED), None
            elif p.behaviour is UNREACHABLE or rng.random() < FAILURES:
                yield (*head, *_failed(did, p, sent)), None
            else:
                yield self._went_out(plan, head, p, sent, poll)

    def _went_out(
        self,
        plan: Plan,
        head: tuple[Any, ...],
        p: Person,
        sent: dt.datetime,
        poll: tuple[int, dt.datetime, list[float]] | None,
    ) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        rng, b, did = self.rng, p.behaviour, head[0]
        whatsapp = p.channel == "whatsapp"
        read = ack = None
        if rng.random() < min(0.99, b.reads * plan.drift):
            read = sent + _minutes(rng, b.read_minutes)
            if poll is not None and rng.random() < min(0.99, b.votes * plan.drift):
                ack = read + _minutes(rng, max(1.0, b.ack_minutes / 4), 0.8)
                if ack > poll[1]:  # closed before they got to it
                    ack = None
            elif plan.ack and rng.random() < min(0.99, b.acks * plan.drift):
                ack = read + _minutes(rng, b.ack_minutes)
        reminded = None
        if plan.ack:
            at = _out_of_quiet_hours(sent + REMINDER_AFTER)
            if at <= END and (ack is None or ack > at):
                reminded = at
                if ack is None and rng.random() < b.acks * 0.4:  # the reminder worked
                    ack = at + _minutes(rng, b.ack_minutes)
                    read = min(read, ack) if read is not None else ack
        delivered = sent + dt.timedelta(seconds=rng.uniform(1, 30)) if whatsapp else None
        if ack is not None and ack <= END:
            status = "acknowledged"
        elif read is not None and read <= END:
            status, ack = "read", None
        else:
            status, read, ack = ("delivered" if whatsapp else "sent"), None, None
        if delivered is not None and delivered > END:
            delivered = None
        evidence = ("receipt" if whatsapp else ("button" if ack else "reply")) if read else None
        row = (
            *head, status, f"wamid.{did:016x}" if whatsapp else str(did), sent, delivered, read,
            ack, None, None, evidence, ("poll" if poll else "button") if ack else None, 1,
            1 if reminded else 0, reminded,
            f"5{did:018d}" if poll is not None and not whatsapp else None,
        )  # fmt: skip
        vote = None
        if poll is not None and ack is not None:
            poll_id, closes, preference = poll
            option = rng.choices(range(len(preference)), weights=preference)[0]
            changed = ack
            if rng.random() < 0.05:
                changed = min(closes, ack + _minutes(rng, 120))
            vote = (poll_id, p.id, did, option, p.channel, ack, changed)
        return row, vote

    # Tickets ------------------------------------------------------------------------------------

    async def _put_tickets(self, put: Put) -> None:
        from hub.core.config import FeedbackSection
        from hub.feedback.complaints.catalogue import load_catalogue

        catalogue = load_catalogue(FeedbackSection())
        complaints = [(c.name, c.verify_within_days, c.resolve_within_days)
                      for c in catalogue.categories]  # fmt: skip
        services = [(s.key, s.verify_within_days, s.resolve_within_days)
                    for s in catalogue.services]  # fmt: skip
        rng = self.rng
        created = sorted(_working_moment(rng, 7, 21) for _ in range(self.scale.tickets))
        serials: dict[tuple[str, int], int] = {}
        rows: list[tuple[Any, ...]] = []
        width = len(str(self.scale.kecamatan))
        for number, at in enumerate(created, start=1):
            rt, person = self._ticket_author(at)
            service = rng.random() < 0.3
            category, verify_days, resolve_days = rng.choice(services if service else complaints)
            prefix = f"K{rt.kecamatan + 1:0{width}d}"
            year = at.astimezone(WITA).year
            serials[prefix, year] = serial = serials.get((prefix, year), 0) + 1
            timeline = _ticket_timeline(rng, at, verify_days, resolve_days)
            location = None
            if not service and rng.random() < 0.4:
                location = json.dumps({"latitude": -0.5 + rng.random() * 0.1,
                                       "longitude": 117.1 + rng.random() * 0.1})  # fmt: skip
            rows.append(
                (
                    number, f"{prefix}-{year}-{serial:06d}", "layanan" if service else "aduan",
                    category, person.id if person else None, rt.area_id,
                    person.channel if person else "dashboard", person.address if person else "",
                    f"Laporan warga tentang {category}.", location, "{}", *timeline[:-1], at,
                    timeline[-1],
                )
            )  # fmt: skip
            if len(rows) >= BATCH:
                await self._put(put, "ticket", rows)
                rows = []
        await self._put(put, "ticket", rows)
        counted = sorted(serials.items())
        counters = [(i + 1, prefix, year, n) for i, ((prefix, year), n) in enumerate(counted)]
        await self._put(put, "ticket_counter", counters)
        progress(f"tickets: {self.counts['ticket']:,}")

    def _ticket_author(self, at: dt.datetime) -> tuple[Rt, Person | None]:
        """An RT whose head files at that moment, more often an active one; now and then
        staff filing for someone at the counter (no member)."""
        rng = self.rng
        while True:
            rt = self.rts[rng.randrange(len(self.rts))]
            if rng.random() < NO_MEMBER_TICKETS:
                return rt, None
            person = rt.holder(at).person
            if person.opted_out_at is not None and at >= person.opted_out_at:
                continue
            if rng.random() * 1.5 < person.behaviour.tickets:
                return rt, person


_NOTHING = (None,) * 9 + (0, 0, None, None)  # from external_id to poll_ref
_SKIPPED = (None,) * 6 + ("opted out", None, None, 0, 0, None, None)


def _failed(did: int, p: Person, sent: dt.datetime) -> tuple[Any, ...]:
    """A delivery that failed for good: Telegram refuses the send (never sent); WhatsApp takes
    it and reports the failure seconds later."""
    if p.channel == "telegram":
        return ("failed", None, None, None, None, None, sent,
                "Forbidden: bot was blocked by the user", None, None, 1, 0, None, None)  # fmt: skip
    return ("failed", f"wamid.{did:016x}", sent, None, None, None,
            sent + dt.timedelta(seconds=5), "131026: message undeliverable", None, None, 1, 0,
            None, None)  # fmt: skip


def _ticket_timeline(
    rng: random.Random, created: dt.datetime, verify_days: int, resolve_days: int
) -> tuple[Any, ...]:
    """(status, reason, forwarded_to, reference, due_at, verified_at, resolved_at,
    followup_due_at, followup_sent_at, reopened, updated_at) as of END: verified about a day
    after filing, closed in about half the SLA; the recent ones still open."""
    verify_due = created + dt.timedelta(days=verify_days * 7 / 5)
    verified = created + _minutes(rng, 20 * 60, 1.0)
    if verified > END:
        return ("baru", None, None, None, verify_due, None, None, None, None, 0, created)
    resolve_due = verified + dt.timedelta(days=resolve_days * 7 / 5)
    outcome = rng.random()
    if outcome < 0.08:  # rejected when checked
        return ("ditolak", "Bukan kewenangan kelurahan", None, None, None, verified, verified,
                None, None, 0, verified)  # fmt: skip
    resolved = verified + _minutes(rng, resolve_days * 24 * 60 / 2, 0.9)
    if resolved > END or outcome > 0.96:  # still being worked on (or stuck)
        status = "diproses" if rng.random() < 0.7 else "diverifikasi"
        return (status, None, None, None, resolve_due, verified, None, None, None, 0, verified)
    if outcome < 0.15:
        return ("diteruskan", None, "Dinas PUPR", f"LAPOR-{rng.randrange(10**6):06d}", None,
                verified, resolved, None, None, 0, resolved)  # fmt: skip
    followup = resolved + dt.timedelta(days=3)
    sent = followup if followup <= END else None
    return ("selesai", None, None, None, None, verified, resolved, followup, sent,
            int(rng.random() < 0.04), sent or resolved)  # fmt: skip


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to the weights, whole numbers that add up (largest remainder)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    sizes = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: sizes[i] - shares[i])
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    return sizes


# Into a database, cached --------------------------------------------------------------------------


async def sqlite_city(folder: Path, scale: Scale, seed: int, fresh: bool) -> str:
    """The URL of the generated city in an SQLite file under `folder`, named by what it depends
    on; generated when missing (or `fresh`), into a temporary name that is renamed when done,
    replacing the scale's file of other parameters."""
    import sqlite3

    import tortoise.backends.sqlite.executor  # noqa: F401  # its datetime adapter: Tortoise's text

    from hub.core.db import apply_migrations

    path = folder / f"participation-{scale.name}-{scale.key(seed)}.sqlite3"
    url = f"sqlite://{path}"
    if path.exists() and not fresh:
        progress(f"reusing {path} ({path.stat().st_size / 2**20:,.0f} MB)")
        return url
    part = path.with_name(path.name + ".part")
    _clear(folder, scale)
    progress(f"generating the {scale.name} into {path} ...")
    started = time.perf_counter()
    await apply_migrations(f"sqlite://{part}")
    connection = sqlite3.connect(part, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # a failed run leaves only the .part file
        connection.execute("PRAGMA synchronous=OFF")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(BIG_TABLES))})",
            BIG_TABLES,
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')

        async def put(table: str, rows: list[tuple[Any, ...]]) -> None:
            columns = COLUMNS[table]
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                rows,
            )

        connection.execute("BEGIN")
        await City(scale, seed).write(put)
        connection.execute("COMMIT")
        built = time.perf_counter()
        for _, sql in indexes:
            connection.execute(sql)
        progress(f"{len(indexes)} indexes built in {time.perf_counter() - built:.0f} s")
        connection.execute("PRAGMA journal_mode=WAL")  # as the hub opens it
    finally:
        connection.close()
    part.rename(path)
    progress(
        f"{scale.name} ready in {time.perf_counter() - started:.0f} s: "
        f"{path.stat().st_size / 2**20:,.0f} MB"
    )
    return url


def _clear(folder: Path, scale: Scale) -> None:
    """Remove the scale's files (one is kept per scale, whatever its parameters)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"participation-{scale.name}-*"):
        stale.unlink()


async def postgres_city(server: str, scale: Scale, seed: int, fresh: bool) -> str:
    """The URL of the generated city in its own PostgreSQL database, `bench_participation_<scale>`;
    generated again when missing, made from other parameters (the key is the database's comment,
    set last) or `fresh`. Loaded with COPY, the big tables' indexes built afterwards, foreign key
    triggers off while loading (the generator keeps the keys right), then VACUUM (ANALYZE)."""
    import asyncpg

    from hub.core.db import apply_migrations

    name = f"bench_participation_{scale.name}"
    url = f"{server}/{name}"
    key = scale.key(seed)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        if comment == key and not fresh:
            progress(f"reusing database {name}")
            return url
        progress(f"generating the {scale.name} into database {name} ...")
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    started = time.perf_counter()
    await apply_migrations(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SET session_replication_role = replica")
        await connection.execute("SET maintenance_work_mem = '1GB'")
        rebuild = await _drop_secondary_indexes(connection)

        async def put(table: str, rows: list[tuple[Any, ...]]) -> None:
            await connection.copy_records_to_table(table, records=rows, columns=COLUMNS[table])

        await City(scale, seed).write(put)
        built = time.perf_counter()
        for statement in rebuild:
            await connection.execute(statement)
        progress(f"{len(rebuild)} indexes built in {time.perf_counter() - built:.0f} s")
        for table in COLUMNS:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        # What autovacuum would have done by the time anybody looks: statistics, and the
        # visibility map and hint bits, without which the first queries over freshly copied
        # rows write every page they read and the timings wander.
        vacuumed = time.perf_counter()
        await connection.execute("VACUUM (ANALYZE)")
        progress(f"VACUUM (ANALYZE) in {time.perf_counter() - vacuumed:.0f} s")
        await connection.execute(f"COMMENT ON DATABASE {name} IS '{key}'")
    finally:
        await connection.close()
    progress(f"{scale.name} ready in {time.perf_counter() - started:.0f} s")
    return url


async def _drop_secondary_indexes(connection: Any) -> list[str]:
    """Drop the big tables' indexes and unique constraints (not the primary keys); returns the
    statements that make them again."""
    tables = list(BIG_TABLES)
    constraints = await connection.fetch(
        "SELECT conname, conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY($1)",
        tables,
    )
    indexes = await connection.fetch(
        "SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def "
        "FROM pg_index WHERE indrelid::regclass::text = ANY($1) AND NOT indisprimary "
        "AND indexrelid NOT IN (SELECT conindid FROM pg_constraint)",
        tables,
    )
    for c in constraints:
        await connection.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
    for i in indexes:
        await connection.execute(f"DROP INDEX {i['name']}")
    return [i["def"] for i in indexes] + [
        f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}' for c in constraints
    ]
