"""models/sql.py where the hub's own tests do not reach: more rows than one statement takes, and
the inbound claim on its own. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

from models import InboundEvent, sql

AT = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)


def row(key: str) -> tuple[str, str, str, dt.datetime]:
    return ("whatsapp", key, '{"type": "StatusUpdate", "event": {}}', AT)


async def test_is_sqlite(db: str) -> None:
    assert sql.is_sqlite() == (db == "sqlite")


async def test_more_inbound_rows_than_one_statement_are_each_stored_once(db: str) -> None:
    (earlier,) = await sql.insert_inbound_ignoring_duplicates([row("k7")])
    count = 2 * sql.ROWS_PER_STATEMENT + 1
    keys = [f"k{n}" for n in range(count)]
    # A replay of an earlier call, and a key repeated in a later statement of the same call.
    inserted = await sql.insert_inbound_ignoring_duplicates([row(k) for k in [*keys, "k3"]])
    assert sorted(key for _, _, key in inserted) == sorted(set(keys) - {"k7"})
    assert earlier[0] not in {row_id for row_id, _, _ in inserted}
    assert await InboundEvent.all().count() == count


async def test_inbound_events_are_claimed_once(db: str) -> None:
    inserted = await sql.insert_inbound_ignoring_duplicates([row("a"), row("b"), row("c")])
    a, b, c = sorted(row_id for row_id, _, _ in inserted)
    assert await sql.claim_inbound_count([a, b], AT) == 2
    assert await sql.claim_inbound_ids([a, b, c], AT) == [c]
    assert await sql.claim_inbound_count([a, b, c], AT) == 0
    assert await InboundEvent.filter(processed_at=AT).count() == 3
