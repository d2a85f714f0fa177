"""Participation on the hand-counted month (tests/insight/conftest.py): the counts, rates,
median and level of each RT head, the seat changing hands, opting out, members nobody reaches,
the caller's areas, areas added up, weeks, and the ranking."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.access.areas import path_key
from hub.access.auth import Scope
from hub.core.config import Config
from hub.core.errors import ValidationFailed
from hub.insight.areas import AreaTotal, add_up, areas_of_kind, children_of, ranking, weekly
from hub.insight.participation import (
    Level,
    Where,
    participation,
    period_of,
    tallies,
    wilson_lower,
)
from models import (
    Area,
    AreaKind,
    Broadcast,
    Member,
    Seat,
)
from tests.conftest import make_config
from tests.factories import make_area, make_member
from tests.insight.conftest import (
    EVERYONE,
    KELURAHAN,
    MARCH,
    A,
    F,
    S,
    at,
    broadcast,
    deliver,
)


def _rows(rows: list) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r.name: r for r in rows}


async def test_each_rt_head_as_counted_by_hand(config: Config, month: dict[str, Member]) -> None:
    summary, rows = await participation(config, Where(EVERYONE), MARCH)
    by_name = _rows(rows)
    assert sorted(by_name) == ["Ani", "Budi", "Citra", "Dedi", "Eka", "Fajar", "Gita"]

    ani = by_name["Ani"].tally
    assert (ani.broadcasts, ani.read, ani.ack_asked, ani.acknowledged) == (7, 7, 5, 5)
    assert ani.failed == 0  # B0 failed in February
    assert sorted(ani.ack_minutes) == [10, 20, 30, 40, 50]
    assert (ani.polls, ani.poll_votes, ani.complaints, ani.service_requests) == (1, 1, 2, 1)
    assert by_name["Ani"].level == Level.ACTIVE

    budi = by_name["Budi"].tally
    assert (budi.broadcasts, budi.read, budi.ack_asked, budi.acknowledged) == (6, 1, 4, 0)
    assert (budi.reminders, budi.polls, budi.poll_votes) == (4, 1, 0)
    assert by_name["Budi"].level == Level.PASSIVE

    citra = by_name["Citra"].tally
    assert (citra.broadcasts, citra.failed, citra.read) == (7, 7, 0)
    assert by_name["Citra"].level == Level.UNREACHABLE

    assert by_name["Dedi"].tally.broadcasts == 1
    assert by_name["Dedi"].level is None  # one broadcast: "belum cukup data"

    eka = by_name["Eka"].tally
    assert (eka.broadcasts, eka.opted_out) == (0, 5)
    assert by_name["Eka"].level is None

    gita = by_name["Gita"].tally
    assert (gita.broadcasts, gita.acknowledged, gita.ack_asked, gita.failed) == (5, 2, 5, 3)
    assert by_name["Gita"].level == Level.PASSIVE  # 2 of 5: reached in the last 30 days

    assert summary.members == 7
    assert summary.levels == {"active": 2, "passive": 2, "unreachable": 1, "insufficient": 2}
    total = summary.total
    # Ani 7, Dedi 1, Budi 6, Citra 7, Eka 0, Gita 5, Fajar 3
    assert (total.broadcasts, total.read, total.ack_asked, total.acknowledged) == (29, 14, 23, 11)
    assert sorted(total.ack_minutes) == [5, 5, 10, 15, 15, 15, 20, 30, 40, 50, 60]


async def test_nothing_through_lately_is_unreachable_whatever_came_before(
    month: dict[str, Member],
) -> None:
    """Gita acknowledged early in March; B4 and B5, the last 14 days' broadcasts, failed."""
    config = make_config(participation={"unreachable_after_days": 14})
    _, rows = await participation(config, Where(EVERYONE), MARCH)
    assert _rows(rows)["Gita"].level == Level.UNREACHABLE


async def test_the_seat_keeps_its_history_and_the_person_theirs(
    config: Config, month: dict[str, Member]
) -> None:
    rt2 = await Area.get(path_key=path_key(f"{KELURAHAN}/RT 002"))
    _, rows = await participation(config, Where(EVERYONE, area=rt2), MARCH)
    by_name = _rows(rows)
    assert sorted(by_name) == ["Budi", "Dedi"]
    assert by_name["Budi"].holds_seat and not by_name["Dedi"].holds_seat
    [total] = await add_up([r.tally for r in rows], [rt2], config.participation)
    assert (total.total.broadcasts, total.total.ack_asked, total.total.acknowledged) == (7, 5, 1)

    # Dedi moves to RT 006: his March row stays with RT 002, a new one starts there.
    await make_area(f"{KELURAHAN}/RT 006")
    rt6 = await Area.get(path_key=path_key(f"{KELURAHAN}/RT 006"))
    dedi = month["Dedi"]
    await Seat.create(member=dedi, area=rt6, started_at=at(3, 25))
    day = (at(3, 28).astimezone(dt.UTC), at(3, 29).astimezone(dt.UTC))
    later = await Broadcast.filter(started_at__gte=day[0], started_at__lt=day[1]).first()
    assert later is not None
    await deliver(later, dedi, A, ack_after=1, area=rt6)
    person = await tallies(Where(EVERYONE, member_id=dedi.id), MARCH, config.participation)
    assert {area_id: t.broadcasts for (_, area_id), t in person.items()} == {rt2.id: 1, rt6.id: 1}


async def test_a_staff_member_sees_their_kelurahan_only(
    config: Config, month: dict[str, Member]
) -> None:
    scope = Scope(None, [path_key(KELURAHAN)])
    summary, rows = await participation(config, Where(scope), MARCH)
    assert "Fajar" not in _rows(rows)
    assert summary.members == 6


async def test_areas_add_up_their_rt_heads(config: Config, month: dict[str, Member]) -> None:
    kecamatan = await Area.get(path_key=path_key("Sungai Kunjang"))
    found = await tallies(Where(EVERYONE), MARCH, config.participation)
    kelurahan = await children_of(kecamatan, None)
    assert [a.name for a in kelurahan] == ["Karang Asam Ulu", "Loa Bakung"]
    karang, loa = await add_up(list(found.values()), kelurahan, config.participation)
    assert (loa.total.broadcasts, loa.total.acknowledged, loa.total.ack_asked) == (26, 8, 20)
    assert loa.rt_heads == 6
    assert loa.levels == {"active": 1, "passive": 2, "unreachable": 1, "insufficient": 2}
    assert (karang.total.acknowledged, karang.total.ack_asked) == (3, 3)
    assert [a.name for a in await children_of(None, None)] == ["Sungai Kunjang"]
    assert [a.path for a in await children_of(None, [path_key(KELURAHAN)])] == [KELURAHAN]


async def test_weeks_of_the_period_with_their_counts(
    config: Config, month: dict[str, Member]
) -> None:
    weeks = await weekly(Where(EVERYONE), MARCH)
    # Mondays: 25 Feb (B1 on 1 Mar), 4 Mar (B2 5 Mar, B3 10 Mar is a Sunday), 11 Mar (P 12,
    # B6 15), 18 Mar (B4 20), 25 Mar (B5 28, B7 30 pending).
    assert [w.start.day for w in weeks] == [25, 4, 11, 18, 25]
    first = weeks[0]
    # B1: Ani A, Dedi A, Citra F, Eka skipped, Gita A, Fajar A
    assert (first.broadcasts, first.read, first.ack_asked, first.acknowledged) == (5, 4, 5, 4)
    assert weeks[2].ack_asked == 0 and weeks[2].ack_rate is None


def test_wilson_bounds_the_rate_by_how_much_was_seen() -> None:
    assert wilson_lower(0, 0) is None
    two_of_two = wilson_lower(2, 2)
    many = wilson_lower(48, 50)
    assert two_of_two is not None and many is not None
    assert round(two_of_two, 2) == 0.34 and round(many, 2) == 0.87
    assert round(wilson_lower(0, 10) or 0.0, 9) == 0.0


async def test_the_ranking_prefers_many_acknowledgements_to_a_perfect_few(
    config: Config, db: str
) -> None:
    """Raw rates say "Kecil" (2 of 2) beats "Besar" (48 of 50); the bound says otherwise."""
    small = await make_member("Sungai Kunjang/Kecil/RT 001")
    big = [await make_member(f"Sungai Kunjang/Besar/RT {n:03d}") for n in range(1, 6)]
    quiet = await make_member("Sungai Kunjang/Sepi/RT 001")
    sent = [await broadcast(at(3, 2 + n)) for n in range(10)]
    for b in sent[:2]:
        await deliver(b, small, A, ack_after=1)
    for i, member in enumerate(big):
        for j, b in enumerate(sent):
            failed = (i, j) in ((0, 0), (1, 1))
            await deliver(b, member, F if failed else A, ack_after=None if failed else 1)
    await deliver(await broadcast(at(3, 20), ack=False), quiet, S)  # nothing asked of "Sepi"
    found = await tallies(Where(EVERYONE), MARCH, config.participation)
    kelurahan = await areas_of_kind(AreaKind.KELURAHAN, Where(EVERYONE))
    totals: list[AreaTotal] = await add_up(list(found.values()), kelurahan, config.participation)
    by_name = {t.area.name: t for t in totals}
    besar = by_name["Besar"].total
    assert (besar.acknowledged, besar.ack_asked) == (48, 50)
    assert (by_name["Kecil"].total.acknowledged, by_name["Kecil"].total.ack_asked) == (2, 2)
    ranked = ranking(totals)
    assert [(r.rank, r.total.area.name) for r in ranked] == [
        (1, "Besar"),
        (2, "Kecil"),
        (None, "Sepi"),
    ]


def test_the_period_asked_for_and_its_mistakes() -> None:
    config = make_config()
    now = dt.datetime(2030, 3, 31, 20, 0, tzinfo=dt.UTC)  # 1 April 04:00 in WITA
    default = period_of(config, "", "", now)
    assert (default.first, default.last) == (dt.date(2030, 3, 3), dt.date(2030, 4, 1))
    assert period_of(config, "2030-03-01", "2030-03-31", now).days == 31
    for wanted_from, wanted_to in (("2030-13-01", ""), ("2030-03-05", "2030-03-01"),
                                   ("2020-01-01", "2030-03-01")):  # fmt: skip
        with pytest.raises(ValidationFailed):
            period_of(config, wanted_from, wanted_to, now)


async def test_ids_go_to_the_database_in_chunks(
    config: Config, month: dict[str, Member], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL takes at most 32,767 parameters a statement: a province's RT heads are asked
    for a chunk at a time, with the same answer."""
    _, whole = await participation(config, Where(EVERYONE), MARCH)
    monkeypatch.setattr("hub.insight.participation.CHUNK", 2)
    _, chunked = await participation(config, Where(EVERYONE), MARCH)
    assert [(r.name, r.area_path, r.holds_seat) for r in chunked] == [
        (r.name, r.area_path, r.holds_seat) for r in whole
    ]
    assert len(chunked) == 7
