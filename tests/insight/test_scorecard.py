"""The five-dimension scorecard, the SLA record and the review notes, on hand-counted months.

Announcements and participation come from the shared March of tests/insight/conftest.py (Loa
Bakung). Tickets come from the fixture below, filed and moved through the real workflow in another
kelurahan, Teluk Lerong Ulu, by Hana (RT 001), and looked at on Monday 15 April 2030, 12:00 WITA.
Working days are Monday to Friday (2030 has no configured holidays); the office closes at 16:00.

Every ticket but T3, T6 and T7 ends selesai; T3 is ditolak straight from baru.

| ticket | category (verify, resolve days) | filed | left baru (due) | resolved (due) |
| --- | --- | --- | --- | --- |
| T8 | jalan (3, 14) | Mon 25 Feb 09:00 | Thu 28 Feb 15:00 (28 Feb) | Fri 1 Mar 10:00 |
| T1 | jalan (3, 14) | Mon 4 Mar 09:00 | Tue 5 Mar 10:00 (7 Mar) | Fri 8 Mar 10:00 |
| T2 | drainase/banjir (3, 5) | Mon 4 Mar 10:00 | Mon 11 Mar 10:00 (7 Mar) | Wed 20 Mar 10:00 (18) |
| T3 | jalan (3, 14) | Tue 5 Mar 09:00 | Wed 6 Mar 09:00 (8 Mar) | the same moment |
| T4 | domisili (3, 2), all sent | Wed 6 Mar 09:00 | Wed 6 Mar 11:00 | Thu 7 Mar 11:00 |
| T5 | domisili (3, 2), KTP to bring | Thu 7 Mar 09:00 | Thu 7 Mar 13:00 | Mon 11 Mar 13:00 |
| T6 | penerangan jalan (3, 14) | Fri 8 Mar 09:00 | still baru (13 Mar): overdue | |
| T7 | jalan (3, 14) | Fri 29 Mar 09:00 | Mon 1 Apr 09:00 (3 Apr) | still diproses (19 Apr) |

T2 is late at both steps. Each move to selesai goes through diproses an hour after verification
(the workflow has no shortcut). Staff also sent Hana a message about T1 on 7 March.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from hub.access.areas import area_by_path
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.errors import Forbidden, ValidationFailed
from hub.feedback.complaints.desk import message_member
from hub.feedback.complaints.tickets import TicketRules, file_ticket
from hub.feedback.complaints.workflow import Move, move_ticket
from hub.insight.notes import notes_of, parse_month, save_note
from hub.insight.participation import Where
from hub.insight.scorecard import Part, Scorecard, combined, month_period, scorecard
from hub.insight.sla import SlaCount, median_days, sla_record
from models import Member, ScorecardNote, TicketKind, TicketStatus, UserRole
from tests.conftest import FakeClock
from tests.factories import bearer, make_area, make_member, make_token, make_user
from tests.insight.conftest import EVERYONE, KELURAHAN, WITA, at

TELUK = "Sungai Kunjang/Teluk Lerong Ulu"
MARCH = dt.date(2030, 3, 1)
NOW = dt.datetime(2030, 4, 15, 12, 0, tzinfo=WITA)
S = TicketStatus


@pytest.fixture
def rules(config: Config) -> TicketRules:
    return TicketRules.from_config(config)


async def file(
    rules: TicketRules, member: Member, category: str, when: dt.datetime,
    visit: list[str] | None = None,
) -> str:  # fmt: skip
    kind = TicketKind.COMPLAINT if visit is None else TicketKind.SERVICE
    details = None if visit is None else {"documents": [], "visit": visit}
    ticket = await file_ticket(
        rules, kind=kind, category=category, member=member, channel="sandbox",
        address=f"sandbox-{member.id}", description="Tolong dicek", now=when, details=details,
    )  # fmt: skip
    return ticket.number


async def move(rules: TicketRules, number: str, status: TicketStatus, when: dt.datetime) -> None:
    reason = "Bukan wewenang kelurahan" if status == S.REJECTED else ""
    await move_ticket(rules, number, Move(status, reason=reason), scope=EVERYONE, now=when,
                      hub_name="Balai Warga")  # fmt: skip


async def solve(
    rules: TicketRules, number: str, verified: dt.datetime, done: dt.datetime | None
) -> None:
    """Verified, in progress an hour later, and selesai at `done` (None: still diproses)."""
    await move(rules, number, S.VERIFIED, verified)
    await move(rules, number, S.IN_PROGRESS, verified + dt.timedelta(hours=1))
    if done is not None:
        await move(rules, number, S.DONE, done)


@pytest.fixture
async def tickets(db: str, rules: TicketRules) -> dict[str, str]:
    hana = await make_member(f"{TELUK}/RT 001", name="Hana")
    t8 = await file(rules, hana, "jalan", at(2, 25))
    await solve(rules, t8, at(2, 28, 15), at(3, 1, 10))
    t1 = await file(rules, hana, "jalan", at(3, 4))
    t2 = await file(rules, hana, "drainase/banjir", at(3, 4, 10))
    await solve(rules, t1, at(3, 5, 10), at(3, 8, 10))
    t3 = await file(rules, hana, "jalan", at(3, 5))
    await move(rules, t3, S.REJECTED, at(3, 6))
    t4 = await file(rules, hana, "domisili", at(3, 6), visit=[])
    await solve(rules, t4, at(3, 6, 11), at(3, 7, 11))
    # Domisili needs no visit by the catalogue, but Hana skipped sending the KTP-el online.
    t5 = await file(rules, hana, "domisili", at(3, 7), visit=["KTP-el"])
    await solve(rules, t5, at(3, 7, 13), at(3, 11, 13))
    await message_member(rules, t1, "Petugas sudah ke lokasi", scope=EVERYONE, now=at(3, 7),
                         hub_name="Balai Warga")  # fmt: skip
    t6 = await file(rules, hana, "penerangan jalan", at(3, 8))
    await solve(rules, t2, at(3, 11, 10), at(3, 20, 10))
    t7 = await file(rules, hana, "jalan", at(3, 29))
    await solve(rules, t7, at(4, 1), None)
    return {"T1": t1, "T2": t2, "T3": t3, "T4": t4, "T5": t5, "T6": t6, "T7": t7, "T8": t8}


def parts(card: Scorecard, key: str) -> dict[str, Part]:
    return {p.key: p for p in card.dimension(key).parts}


def counted(part: Part) -> tuple[Any, Any, Any]:
    return part.numerator, part.denominator, part.value


async def card_of(
    config: Config, rules: TicketRules, path: str, month: dt.date = MARCH
) -> Scorecard:
    where = Where(EVERYONE, area=await area_by_path(path))
    return await scorecard(config, rules, where, month, NOW)


# The four measured dimensions ------------------------------------------------------------------


async def test_ticket_parts_as_counted_by_hand(
    config: Config, rules: TicketRules, tickets: dict[str, str]
) -> None:
    card = await card_of(config, rules, TELUK)
    assert card.period.first == MARCH and card.period.last == dt.date(2030, 3, 31)
    manfaat = parts(card, "manfaat")
    # Filed in March: T1..T7. Selesai: T1, T2, T4, T5. No visit: T1, T2 (complaints), T4.
    assert counted(manfaat["tickets_done"]) == (4, 7, pytest.approx(4 / 7))
    assert counted(manfaat["done_without_visit"]) == (3, 4, 0.75)
    # Nobody in Teluk Lerong Ulu was sent an announcement: nothing to divide, no zero.
    assert counted(manfaat["announcements_reached"]) == (0, 0, None)
    assert card.dimension("manfaat").combined is not None
    assert card.dimension("manfaat").combined.value is None

    efisiensi = parts(card, "efisiensi")
    # Hours from filing to leaving baru: T1 25, T2 168, T3 24, T4 2, T5 4, T7 72 -> (24+25)/2.
    assert efisiensi["median_verify_hours"].value == 24.5
    assert efisiensi["median_verify_hours"].denominator == 6
    # Hours from filing to resolved: T1 97, T2 384, T3 24, T4 26, T5 100 -> 97.
    resolve = efisiensi["median_resolve_hours"]
    assert (resolve.value, resolve.denominator) == (97, 5)
    # Verified on time: T1, T3, T4, T5, T7 of those verified (6) or past due unverified (T6).
    assert counted(efisiensi["verified_on_time"]) == (5, 7, pytest.approx(5 / 7))
    # Resolved on time: T1, T3, T4, T5 of the five resolved; T7's deadline (19 Apr) is ahead.
    assert counted(efisiensi["resolved_on_time"]) == (4, 5, 0.8)
    assert counted(efisiensi["median_ack_hours"]) == (None, 0, None)
    combined = card.dimension("efisiensi").combined
    assert combined is not None and combined.value == pytest.approx((5 / 7 + 0.8) / 2)
    assert combined.formula == (
        "rata-rata tanpa bobot: (Diperiksa tepat waktu + Ditutup tepat waktu) ÷ 2"
    )

    transparansi = parts(card, "transparansi")
    # Told: T1..T5 and T7 by their moves (T1 also by a message); T6 never heard back.
    assert counted(transparansi["tickets_told"]) == (6, 7, pytest.approx(6 / 7))
    # March's updates: T1 3 moves + 1 message, T2 3, T3 1, T4 3, T5 3, and T8 (filed in
    # February) its selesai on 1 March; T7's moves are April's.
    assert transparansi["ticket_updates"].value == 15
    assert transparansi["ticket_updates"].unit == "count"


async def test_announcement_and_participation_parts_as_counted_by_hand(
    config: Config, rules: TicketRules, month: dict[str, Member]
) -> None:
    card = await card_of(config, rules, KELURAHAN)
    manfaat = parts(card, "manfaat")
    # Loa Bakung's March: Ani 7, Dedi 1, Budi 6, Citra 7 (all failed), Gita 5 (3 failed).
    assert counted(manfaat["announcements_reached"]) == (16, 26, pytest.approx(16 / 26))
    assert manfaat["announcements_reached"].formula == (
        "pengumuman terkirim ÷ pengumuman dikirim (terkirim + gagal)"
    )
    # Ani's three March tickets are still baru: none done, nothing to say about visits.
    assert counted(manfaat["tickets_done"]) == (0, 3, 0.0)
    assert counted(manfaat["done_without_visit"]) == (0, 0, None)

    partisipasi = parts(card, "partisipasi")
    assert counted(partisipasi["ack_rate"]) == (8, 20, 0.4)
    assert counted(partisipasi["poll_turnout"]) == (1, 3, pytest.approx(1 / 3))
    # Levels: Ani active; Budi, Gita passive; Citra unreachable; Dedi, Eka not enough data.
    assert counted(partisipasi["active_rt_heads"]) == (1, 4, 0.25)
    combined = card.dimension("partisipasi").combined
    assert combined is not None
    assert combined.value == pytest.approx((0.4 + 1 / 3 + 0.25) / 3)
    assert combined.formula.endswith("÷ 3")

    # Acknowledged after 5, 5, 10, 20, 30, 40, 50, 60 minutes: the median is 25 minutes.
    ack = parts(card, "efisiensi")["median_ack_hours"]
    assert (ack.value, ack.denominator, ack.unit) == (pytest.approx(25 / 60), 8, "hours")

    # B1..B6 went out (the poll is no announcement, B7 is still pending); none was published
    # in the public archive.
    published = parts(card, "transparansi")["published"]
    assert (published.value, published.numerator, published.denominator) == (0.0, 0, 6)
    # Ani's three March tickets were filed straight into the table: nobody was told yet.
    transparansi = card.dimension("transparansi").combined
    assert transparansi is not None and transparansi.value == 0.0


async def test_the_callers_areas_bound_every_part(
    config: Config, rules: TicketRules, month: dict[str, Member], tickets: dict[str, str]
) -> None:
    staff = await make_user(UserRole.STAFF, (KELURAHAN,))
    card = await scorecard(config, rules, Where(await Scope.of(staff)), MARCH, NOW)
    # Loa Bakung only: not Fajar's three in Karang Asam Ulu, not Hana's tickets.
    assert counted(parts(card, "manfaat")["announcements_reached"])[:2] == (16, 26)
    assert parts(card, "manfaat")["tickets_done"].denominator == 3
    everyone = await scorecard(config, rules, Where(EVERYONE), MARCH, NOW)
    assert counted(parts(everyone, "manfaat")["announcements_reached"])[:2] == (19, 29)
    assert parts(everyone, "manfaat")["tickets_done"].denominator == 10


# Manajemen perubahan ----------------------------------------------------------------------------


def changes_of(card: Scorecard) -> dict[str, Any]:
    review = card.dimension("manajemen_perubahan")
    return {f"{c.dimension}.{c.part}": c for c in review.changes}


async def test_change_against_february_for_tickets(
    config: Config, rules: TicketRules, tickets: dict[str, str]
) -> None:
    card = await card_of(config, rules, TELUK)
    found = changes_of(card)
    # February: T8 alone, done on time (verified after 78 hours, resolved after 97), told.
    assert (found["manfaat.tickets_done"].current, found["manfaat.tickets_done"].previous) == (
        pytest.approx(4 / 7), 1.0,
    )  # fmt: skip
    assert found["manfaat.tickets_done"].change == -42.86  # (4/7 - 1) x 100, points
    assert found["manfaat.tickets_done"].unit == "points"
    assert found["manfaat.tickets_done"].improved is False
    assert found["efisiensi.median_verify_hours"].change == -53.5  # 24.5 - 78 hours
    assert found["efisiensi.median_verify_hours"].improved is True  # fewer hours is better
    assert found["efisiensi.median_resolve_hours"].change == 0  # 97 both months
    assert found["efisiensi.median_resolve_hours"].improved is False
    assert found["efisiensi.combined"].change == -24.29  # ((5/7 + 4/5) / 2 - 1) x 100
    assert found["transparansi.ticket_updates"].change == 13  # 15 - 2
    assert found["transparansi.ticket_updates"].improved is None  # more is neither better
    assert found["manfaat.announcements_reached"].change is None  # no announcements either month
    assert found["transparansi.published"].change is None  # no announcements either month
    # Compared with a direction: tickets_done, done_without_visit, median_verify_hours,
    # median_resolve_hours, verified_on_time, resolved_on_time, tickets_told; one improved.
    improved = parts(card, "manajemen_perubahan")["improved"]
    assert counted(improved) == (1, 7, pytest.approx(1 / 7))


async def test_change_against_february_for_announcements(
    config: Config, rules: TicketRules, month: dict[str, Member]
) -> None:
    found = changes_of(await card_of(config, rules, KELURAHAN))
    # February: B0 alone, failed for Ani (asked to confirm), so 0 of 1 reached and confirmed,
    # and Ani counts as unreachable (0 of 1 active); no poll.
    assert found["manfaat.announcements_reached"].change == 61.54  # 16/26 x 100
    assert found["partisipasi.ack_rate"].change == 40.0
    assert found["partisipasi.active_rt_heads"].change == 25.0
    assert found["partisipasi.poll_turnout"].previous is None
    assert found["partisipasi.poll_turnout"].change is None
    assert found["partisipasi.combined"].change is None  # February's mean has a missing rate


async def test_an_empty_month_shows_nulls_not_zeros_divided(
    config: Config, rules: TicketRules, db: str
) -> None:
    await make_area(f"{TELUK}/RT 009")
    card = await card_of(config, rules, f"{TELUK}/RT 009")
    for dimension in card.dimensions:
        for part in dimension.parts:
            if part.unit == "count":
                assert part.value == 0, part.key
            else:
                assert part.value is None, part.key
                assert part.denominator == 0, part.key
        assert dimension.combined is None or dimension.combined.value is None
    review = card.dimension("manajemen_perubahan")
    assert all(c.change is None or c.change == 0 for c in review.changes)
    assert all(c.improved is None for c in review.changes if c.unit != "count")
    assert review.notes == []


def rate_part(key: str, value: float | None) -> Part:
    return Part(key, key.upper(), value, None, None, "rate", "", "higher")


def test_a_combined_figure_is_the_plain_mean_of_two_rates_or_more() -> None:
    one = [rate_part("a", 0.5), Part("n", "N", 3, None, None, "count", "", None)]
    assert combined(one) is None  # the mean of one rate would only repeat it
    two = [*one, rate_part("b", 0.25)]
    mean = combined(two)
    assert mean is not None and mean.value == 0.375
    assert mean.formula == "rata-rata tanpa bobot: (A + B) ÷ 2"
    missing = combined([*two, rate_part("c", None)])
    assert missing is not None and missing.value is None and missing.formula.endswith("÷ 3")
    assert median_days([]) is None
    assert median_days([0, 1, 5]) == 1


# The SLA record -------------------------------------------------------------------------------


def sla_counts(count: SlaCount) -> dict[str, Any]:
    return {
        "tickets": count.tickets,
        "verified": (count.verified_on_time, count.verify_measured, count.verified),
        "resolved": (count.resolved_on_time, count.resolve_measured, count.resolved),
        "done": count.done,
        "overdue_open": count.overdue_open,
        "days": (median_days(count.days_to_verify), median_days(count.days_to_resolve)),
    }


async def test_the_sla_record_per_category(rules: TicketRules, tickets: dict[str, str]) -> None:
    where = Where(EVERYONE, area=await area_by_path(TELUK))
    record = await sla_record(rules, where, month_period(MARCH, WITA), NOW)
    rows = {row.category: row for row in record.rows}
    # Complaint categories first in the configured order, then services in the catalogue's.
    assert [row.category for row in record.rows] == [
        "drainase/banjir", "jalan", "penerangan jalan", "domisili",
    ]  # fmt: skip
    assert rows["domisili"].label == "Surat keterangan domisili"
    drains = rows["drainase/banjir"]
    assert (drains.verify_within_days, drains.resolve_within_days) == (3, 5)
    # T2: verified 5 working days after filing (5, 6, 7, 8, 11 Mar), resolved after 12.
    assert sla_counts(rows["drainase/banjir"].count) == {
        "tickets": 1, "verified": (0, 1, 1), "resolved": (0, 1, 1), "done": 1,
        "overdue_open": 0, "days": (5, 12),
    }  # fmt: skip
    # T1 (1 and 4 working days), T3 (turned down the next day: 1 and 1), T7 (Fri to Mon: 1).
    assert sla_counts(rows["jalan"].count) == {
        "tickets": 3, "verified": (3, 3, 3), "resolved": (2, 2, 2), "done": 1,
        "overdue_open": 0, "days": (1, 2.5),
    }  # fmt: skip
    # T6: never verified, past its deadline: late, and still open past it.
    assert sla_counts(rows["penerangan jalan"].count) == {
        "tickets": 1, "verified": (0, 1, 0), "resolved": (0, 0, 0), "done": 0,
        "overdue_open": 1, "days": (None, None),
    }  # fmt: skip
    # T4 (0 and 1 working days) and T5 (0, and 2: Thursday to Monday), both on time.
    assert sla_counts(rows["domisili"].count) == {
        "tickets": 2, "verified": (2, 2, 2), "resolved": (2, 2, 2), "done": 2,
        "overdue_open": 0, "days": (0, 1.5),
    }  # fmt: skip
    # All seven: verify days 1, 5, 1, 0, 0, 1 -> 1; resolve days 4, 12, 1, 1, 2 -> 2.
    assert sla_counts(record.total) == {
        "tickets": 7, "verified": (5, 7, 6), "resolved": (4, 5, 5), "done": 4,
        "overdue_open": 1, "days": (1, 2),
    }  # fmt: skip


# Review notes ---------------------------------------------------------------------------------


async def test_notes_are_written_rewritten_and_shown_with_the_scorecard(
    config: Config, rules: TicketRules, db: str
) -> None:
    staff = await make_user(UserRole.STAFF, (TELUK,), username="siti")
    scope = await Scope.of(staff)
    teluk = await make_area(TELUK)
    first = await save_note(scope, teluk, MARCH, "  Tiket drainase terlambat.  ", now=NOW, tz=WITA)
    assert (first.area, first.text, first.author, first.month) == (
        TELUK, "Tiket drainase terlambat.", "siti", MARCH,
    )  # fmt: skip
    later = NOW + dt.timedelta(hours=2)
    other = await make_user(UserRole.STAFF, (TELUK,), username="budi")
    second = await save_note(await Scope.of(other), teluk, dt.date(2030, 3, 17), "Sudah dibahas.",
                             now=later, tz=WITA)  # fmt: skip
    assert (second.text, second.author, second.created_at, second.updated_at) == (
        "Sudah dibahas.", "budi", NOW, later,
    )  # fmt: skip
    assert await ScorecardNote.all().count() == 1  # one per area and month

    card = await card_of(config, rules, TELUK)
    review = card.dimension("manajemen_perubahan")
    assert [n.text for n in review.notes] == ["Sudah dibahas."]
    assert parts(card, "manajemen_perubahan")["review_notes"].value == 1
    # The kecamatan's view lists its kelurahan's notes; April's has none.
    assert len(await notes_of(EVERYONE, await make_area("Sungai Kunjang"), MARCH)) == 1
    assert await notes_of(EVERYONE, teluk, dt.date(2030, 4, 1)) == []


async def test_notes_are_refused_outside_ones_areas_and_to_officials(db: str) -> None:
    teluk = await make_area(TELUK)
    elsewhere = await Scope.of(await make_user(UserRole.STAFF, (KELURAHAN,)))
    with pytest.raises(Forbidden):
        await save_note(elsewhere, teluk, MARCH, "Bukan wilayah saya", now=NOW, tz=WITA)
    official = await Scope.of(await make_user(UserRole.OFFICIAL, (TELUK,)))
    with pytest.raises(Forbidden):
        await save_note(official, teluk, MARCH, "Hanya membaca", now=NOW, tz=WITA)
    staff = await Scope.of(await make_user(UserRole.STAFF, (TELUK,)))
    with pytest.raises(ValidationFailed):
        await save_note(staff, teluk, dt.date(2030, 5, 1), "Belum mulai", now=NOW, tz=WITA)
    with pytest.raises(ValidationFailed):
        await save_note(staff, teluk, MARCH, "   ", now=NOW, tz=WITA)
    assert await ScorecardNote.all().count() == 0
    # Another kelurahan's staff do not see the note once written.
    await save_note(staff, teluk, MARCH, "Catatan Teluk", now=NOW, tz=WITA)
    assert await notes_of(elsewhere, None, MARCH) == []
    assert len(await notes_of(staff, None, MARCH)) == 1


@pytest.mark.parametrize("value", ["2030-3", "2030-13", "1999-12", "Maret", "2030-03-01", ""])
def test_a_month_is_yyyy_mm(value: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_month(value)
    assert parse_month("2030-03") == MARCH


# The API ----------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.astimezone(dt.UTC))


async def call(
    client: TestClient, token: str, method: str, path: str, status: int = 200, body: Any = None
) -> Any:
    resp = await client.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def check_schema(client: TestClient, path: str, answer: Any, method: str = "get") -> None:
    """The answer matches the 200 response the OpenAPI document publishes for the path."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"][path][method]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    resolver_schema = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(resolver_schema).validate(answer)


async def test_the_scorecard_over_the_api(
    timed: TestClient, tickets: dict[str, str], month: dict[str, Member]
) -> None:
    token = await make_token(UserRole.OFFICIAL, (TELUK,))
    answer = await call(timed, token, "GET", f"/scorecard?area={TELUK}&month=2030-03")
    await check_schema(timed, "/scorecard", answer)
    assert (answer["area"], answer["month"], answer["previous_month"]) == (
        TELUK, "2030-03", "2030-02",
    )  # fmt: skip
    assert answer["period"] == {"from": "2030-03-01", "to": "2030-03-31"}
    assert [d["key"] for d in answer["dimensions"]] == [
        "manfaat", "efisiensi", "partisipasi", "transparansi", "manajemen_perubahan",
    ]  # fmt: skip
    efisiensi = {p["key"]: p for p in answer["dimensions"][1]["parts"]}
    assert efisiensi["resolved_on_time"] == {
        "key": "resolved_on_time", "label": "Ditutup tepat waktu", "value": 0.8,
        "numerator": 4, "denominator": 5, "unit": "rate",
        "formula": "tiket ditutup sebelum batas SLA ÷ tiket yang sudah ditutup atau sudah "
                   "lewat batasnya",
        "better": "higher",
    }  # fmt: skip
    review = answer["dimensions"][4]
    assert review["combined"] is None and review["notes"] == []
    assert {c["part"] for c in review["changes"]} >= {"tickets_done", "combined"}
    # Without a month: the current one by the hub's clock (April 2030); without an area: all of
    # the official's areas, which hold none of Loa Bakung's deliveries.
    current = await call(timed, token, "GET", "/scorecard")
    assert (current["area"], current["month"]) == (None, "2030-04")
    manfaat = {p["key"]: p for p in current["dimensions"][0]["parts"]}
    assert manfaat["announcements_reached"]["denominator"] == 0
    await call(timed, token, "GET", f"/scorecard?area={KELURAHAN}", 403)


async def test_notes_over_the_api(timed: TestClient, clock: FakeClock, db: str) -> None:
    await make_area(TELUK)
    staff = await make_token(UserRole.STAFF, (TELUK,))
    body = {"area": TELUK, "month": "2030-03", "text": "Rapat evaluasi 2 April."}
    note = await call(timed, staff, "PUT", "/scorecard/notes", body=body)
    await check_schema(timed, "/scorecard/notes", note, method="put")
    assert (note["area"], note["month"], note["text"]) == (TELUK, "2030-03", body["text"])
    clock.advance(hours=1)
    edited = await call(timed, staff, "PUT", "/scorecard/notes", body={**body, "text": "Diubah."})
    assert edited["text"] == "Diubah." and edited["created_at"] == note["created_at"]
    assert edited["updated_at"] != note["updated_at"]
    card = await call(timed, staff, "GET", f"/scorecard?area={TELUK}&month=2030-03")
    assert [n["text"] for n in card["dimensions"][4]["notes"]] == ["Diubah."]

    official = await make_token(UserRole.OFFICIAL, (TELUK,))
    await call(timed, official, "PUT", "/scorecard/notes", 403, body=body)
    other = await make_token(UserRole.STAFF, (KELURAHAN,))
    await call(timed, other, "PUT", "/scorecard/notes", 403, body=body)
    assert (await ScorecardNote.get()).text == "Diubah."


@pytest.mark.parametrize(
    "body",
    [
        {"area": TELUK, "month": "2030-3", "text": "x"},
        {"area": TELUK, "month": "2030-05", "text": "belum mulai"},
        {"area": TELUK, "month": "2030-03", "text": ""},
        {"area": TELUK, "month": "2030-03", "text": "x" * 4001},
        {"area": "Nowhere/At All", "month": "2030-03", "text": "x"},
        {"area": TELUK, "month": "2030-03"},
        {"area": TELUK, "month": "2030-03", "text": "x", "author": "siti"},
    ],
)
async def test_note_mistakes_are_422(timed: TestClient, db: str, body: dict[str, Any]) -> None:
    await make_area(TELUK)
    answer = await call(timed, await make_token(), "PUT", "/scorecard/notes", 422, body=body)
    assert answer["error"]["code"]


async def test_the_sla_record_over_the_api(timed: TestClient, tickets: dict[str, str]) -> None:
    token = await make_token(UserRole.OFFICIAL, (TELUK,))
    answer = await call(timed, token, "GET", "/sla?from=2030-03-01&to=2030-03-31")
    await check_schema(timed, "/sla", answer)
    assert answer["days"] == "working"
    assert [c["category"] for c in answer["categories"]] == [
        "drainase/banjir", "jalan", "penerangan jalan", "domisili",
    ]  # fmt: skip
    total = answer["total"]
    assert (total["tickets"], total["verified_on_time"], total["verify_measured"]) == (7, 5, 7)
    assert total["verified_on_time_rate"] == pytest.approx(5 / 7)
    assert (total["resolved_on_time_rate"], total["overdue_open"]) == (0.8, 1)
    assert (total["median_days_to_verify"], total["median_days_to_resolve"]) == (1, 2)
    lamp = answer["categories"][2]
    assert (lamp["resolve_measured"], lamp["resolved_on_time_rate"]) == (0, None)
    # By default the last `period_days` (30) days to today, 15 April: T7 alone.
    recent = await call(timed, token, "GET", f"/sla?area={TELUK}")
    assert recent["period"] == {"from": "2030-03-17", "to": "2030-04-15"}
    assert recent["total"]["tickets"] == 1
    await make_area(KELURAHAN)
    await call(timed, token, "GET", f"/sla?area={KELURAHAN}", 403)


@pytest.mark.parametrize(
    "path",
    ["/scorecard?month=2030-3", "/scorecard?month=abc", "/scorecard?area=Nowhere/At All",
     "/sla?from=2030-02-30", "/sla?area=Nowhere/At All"],
)  # fmt: skip
async def test_query_mistakes_are_422(timed: TestClient, db: str, path: str) -> None:
    answer = await call(timed, await make_token(), "GET", path, 422)
    assert answer["error"]["code"]
