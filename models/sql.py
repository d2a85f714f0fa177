"""Every statement the ORM cannot say, on SQLite and PostgreSQL alike.

The hub's hot paths write plain SQL where Tortoise's querysets cost too much or cannot say it:
multi-row inserts that tell what was new, claims, batched ladder steps, bulk inserts without a
model object per row, and the sender's group commit. They live here, with the Tortoise internals
they need (`_meta`, `to_db_value`, `_init_from_db`), so that modules above `models/` never switch
on the database's dialect.

Statements are written with `?` placeholders; on PostgreSQL they become `$1, $2...`. Each
function runs on Tortoise's "default" connection as the caller's context sees it: inside
`in_transaction()`, the transaction's. SQLite's transactions themselves (BEGIN IMMEDIATE, the busy
timeout) are `models/sqlite.py`, the engine module Tortoise loads by name (`models/config.py`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.broadcasts import Delivery, DeliveryStatus
from models.outbox import OutboundMessage, OutboxState

# Rows per statement: four parameters a row stays far below SQLite's and PostgreSQL's limits.
ROWS_PER_STATEMENT = 500


# The dialect ------------------------------------------------------------------------------------


def _default() -> BaseDBAsyncClient:
    return connections.get("default")  # the transaction's, inside one


def is_sqlite() -> bool:
    """Whether the hub's database is SQLite (one writer at a time, in every process)."""
    return _default().capabilities.dialect == "sqlite"


async def ping() -> None:
    """One round trip to the database; raises whatever keeps it from answering."""
    await _default().execute_query("SELECT 1")


def placeholders(count: int, connection: BaseDBAsyncClient | None = None) -> list[str]:
    """`?` each (SQLite), or `$1`, `$2`... (PostgreSQL); on `connection`, else the default."""
    if (connection or _default()).capabilities.dialect == "postgres":
        return [f"${n}" for n in range(1, count + 1)]
    return ["?"] * count


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2...`."""
    first, *rest = sql.split("?")
    return first + "".join(f"${n}{part}" for n, part in enumerate(rest, 1))


def _dialect_sql(conn: BaseDBAsyncClient, sql: str) -> str:
    return _numbered(sql) if conn.capabilities.dialect == "postgres" else sql


def _marks(count: int, width: int = 1) -> str:
    row = "(" + ", ".join("?" * width) + ")" if width > 1 else "?"
    return ", ".join([row] * count)


def _in(values: Iterable[str]) -> str:
    """Our own enum values as an SQL list (never user input)."""
    return ", ".join(f"'{value}'" for value in values)


# Bulk inserts (a broadcast's fan-out) -----------------------------------------------------------


async def insert_rows(
    model: type[Model], common: dict[str, Any], rows: list[dict[str, Any]], now: dt.datetime
) -> None:
    """INSERT `rows` of `model` with one executemany, inside the caller's transaction.

    `common` holds the columns every row shares, converted once; each row has the same keys.
    Columns in neither take their field's default (`auto_now_add` ones: `now`), as a model
    object would. Tortoise's bulk_create builds a model object per row first, which was most of
    a fan-out's CPU.
    """
    if not rows:
        return
    meta = model._meta
    names = [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]
    own = list(rows[0])
    template: list[Any] = []
    for name in names:
        field_object = meta.fields_map[name]
        stamped = getattr(field_object, "auto_now_add", False) or getattr(
            field_object, "auto_now", False
        )
        value: Any = None
        if name in common:
            value = common[name]
        elif stamped:
            value = now
        elif field_object.default is not None:
            default = field_object.default
            value = default() if callable(default) else default
        template.append(None if name in own else field_object.to_db_value(value, model))
    slots = [(names.index(key), meta.fields_map[key].to_db_value) for key in own]
    values = []
    for row in rows:
        row_values = list(template)
        for (index, convert), key in zip(slots, own, strict=True):
            row_values[index] = convert(row[key], model)
        values.append(row_values)
    columns = ", ".join(meta.fields_db_projection[name] for name in names)
    connection = _default()
    marks = ", ".join(placeholders(len(names), connection))
    await connection.execute_many(
        f"INSERT INTO {meta.db_table} ({columns}) VALUES ({marks})", values
    )


async def pending_deliveries(
    broadcast_id: int, member_ids: list[int]
) -> list[tuple[int, int, str, str]]:
    """(id, member_id, channel, address) of the broadcast's pending deliveries to these members."""
    connection = _default()
    first, second, *rest = placeholders(len(member_ids) + 2, connection)
    _, rows = await connection.execute_query(
        f"SELECT id, member_id, channel, address FROM {Delivery._meta.db_table} "
        f"WHERE broadcast_id = {first} AND status = {second} "
        f"AND member_id IN ({', '.join(rest)}) ORDER BY id",
        [broadcast_id, DeliveryStatus.PENDING.value, *member_ids],
    )
    return [(row["id"], row["member_id"], row["channel"], row["address"]) for row in rows]


# The outbox: claims ------------------------------------------------------------------------------


async def claim_outbound(
    channels: Collection[str], *, now: dt.datetime, until: dt.datetime, limit: int
) -> list[OutboundMessage]:
    """Claim up to `limit` queued messages of these channels that are due, until `until`.

    A conditional UPDATE moves them from `queued` to `sending` under a fresh claim token, which
    is safe on SQLite (one writer) and PostgreSQL (the second updater re-checks the condition
    and skips the row): two senders never hold the same row. Returns the claimed rows in id
    order.
    """
    ids = (
        await OutboundMessage.filter(
            state=OutboxState.QUEUED,
            next_attempt_at__lte=now,
            channel__in=list(channels),
        )
        # Due first, then oldest: the order of the (state, next_attempt_at) index, whose
        # entries SQLite keeps in id order within equal times, so the first `batch_size` are
        # read off it instead of sorting every queued row for each claim.
        .order_by("next_attempt_at", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    if not ids:
        return []
    token = uuid.uuid4().hex
    await OutboundMessage.filter(id__in=list(ids), state=OutboxState.QUEUED).update(
        state=OutboxState.SENDING, claim_token=token, claimed_until=until
    )
    return await _claimed_rows(token)


async def _claimed_rows(token: str) -> list[OutboundMessage]:
    """The rows claimed under `token`, in id order.

    The same models a QuerySet gives, read with one plain SELECT: SQLite hands timestamps over as
    text, which Tortoise parses with the iso8601 package at a third of the sender's CPU;
    datetime.fromisoformat reads the text Tortoise writes (isoformat) many times faster.
    """
    connection = _default()
    (placeholder,) = placeholders(1, connection)
    table = OutboundMessage._meta.db_table
    rows = await connection.execute_query_dict(
        f"SELECT * FROM {table} WHERE claim_token = {placeholder} ORDER BY id", [token]
    )
    for row in rows:
        for column in _DATETIME_COLUMNS:
            if isinstance(value := row.get(column), str):
                row[column] = dt.datetime.fromisoformat(value)
    return [OutboundMessage._init_from_db(**row) for row in rows]


_DATETIME_COLUMNS = [
    OutboundMessage._meta.fields_db_projection[name]
    for name, field in OutboundMessage._meta.fields_map.items()
    if isinstance(field, fields.DatetimeField)
]


# The outbox: the group commit of successful sends ----------------------------------------------


class RowUpdates:
    """Row updates grouped by statement: (model, columns, status condition) → rows.

    Tortoise's transaction costs several round trips (begin, a statement each, commit), each of
    which wakes the database's thread or backend and then the event loop: written as one
    statement (PostgreSQL) or one script (SQLite) by `commit_updates`, the group commit is one
    round trip.
    """

    def __init__(self) -> None:
        self.groups: dict[tuple[Any, tuple[str, ...], tuple[str, ...]], list[list[Any]]] = {}

    def add(
        self,
        model: type[Model],
        row_id: int,
        columns: dict[str, Any],
        *,
        status_in: tuple[str, ...] = (),
    ) -> None:
        """`UPDATE <model> SET <columns> WHERE id = row_id [AND status IN status_in]`."""
        names = tuple(columns)
        fields_map = model._meta.fields_map
        values = [row_id]
        values.extend(fields_map[name].to_db_value(value, model) for name, value in columns.items())
        self.groups.setdefault((model, names, status_in), []).append(values)

    def sqlite_script(self) -> str:
        """The updates as one transaction; a script takes no parameters: values as literals."""
        # A plain BEGIN, not models/sqlite.py's BEGIN IMMEDIATE: tracked by its own issue.
        script = ["BEGIN;"]
        for (model, names, status_in), rows in self.groups.items():
            meta = model._meta
            assignments = [f"{meta.fields_db_projection[name]} = " for name in names]
            condition = ""
            if status_in:
                condition = f" AND status IN ({', '.join(map(sqlite_literal, status_in))})"
            for row_id, *values in rows:
                sets = ", ".join(
                    a + sqlite_literal(v) for a, v in zip(assignments, values, strict=True)
                )
                script.append(
                    f"UPDATE {meta.db_table} SET {sets} WHERE id = {sqlite_literal(row_id)}"
                    f"{condition};"
                )
        script.append("COMMIT;")
        return "\n".join(script)

    def postgres_statement(self) -> tuple[str, list[Any]]:
        """The updates as one statement: each group an UPDATE ... FROM unnest(arrays)."""
        parts: list[str] = []
        values: list[Any] = []
        for (model, names, status_in), rows in self.groups.items():
            meta = model._meta
            columns = ["id", *(meta.fields_db_projection[name] for name in names)]
            arrays = []
            for index, name in enumerate(("id", *names)):
                values.append([row[index] for row in rows])
                sql_type = meta.fields_map[name].get_for_dialect("postgres", "SQL_TYPE")
                arrays.append(f"${len(values)}::{sql_type}[]")
            sets = ", ".join(f"{column} = v.{column}" for column in columns[1:])
            statement = (
                f"UPDATE {meta.db_table} AS t SET {sets} "
                f"FROM unnest({', '.join(arrays)}) AS v({', '.join(columns)}) WHERE t.id = v.id"
            )
            if status_in:
                values.append(list(status_in))
                statement += f" AND t.status = ANY(${len(values)}::text[])"
            parts.append(statement)
        *first, last = parts
        if not first:
            return last, values
        # Data-modifying CTEs: all of them run, in one statement and one transaction.
        ctes = ", ".join(f"u{n} AS ({part})" for n, part in enumerate(first))
        return f"WITH {ctes} {last}", values


async def commit_updates(updates: RowUpdates) -> None:
    """The updates in one transaction and one round trip to the database (the group commit)."""
    connection = _default()
    if connection.capabilities.dialect == "postgres":
        sql, values = updates.postgres_statement()
        await connection.execute_query(sql, values)
    else:
        await _run_sqlite_script(connection, updates.sqlite_script())


async def _run_sqlite_script(connection: Any, script: str) -> None:
    """Hand a BEGIN ... COMMIT script to SQLite's thread; roll back if it stopped halfway."""
    try:
        await connection.execute_script(script)
    except Exception:
        with contextlib.suppress(Exception):  # nothing to undo if BEGIN itself failed
            await connection.execute_script("ROLLBACK;")
        raise


def sqlite_literal(value: Any) -> str:
    """A value as an SQLite literal, written as the driver would bind it (Tortoise's adapters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, dt.datetime):
        value = value.isoformat(" ")  # Tortoise's sqlite3 adapter for datetimes
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"  # quotes doubled: SQL knows no escapes
    raise TypeError(f"no SQLite literal for {type(value).__name__} {value!r:.40}")


# Inbound events: storing with replays dropped, claiming, the ladder ----------------------------


async def insert_inbound_ignoring_duplicates(
    rows: Sequence[tuple[str, str, str, dt.datetime]],
) -> list[tuple[int, str, str]]:
    """Store (channel, external id, payload, received at) rows; (id, channel, external id) of
    those that were new. A row whose (channel, external id) is stored already is dropped.

    One multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` per ROWS_PER_STATEMENT rows, all
    in one transaction when there are more: what comes back is what was new. Within one call the
    first of two rows with the same key is stored and the second dropped.
    """
    if len(rows) <= ROWS_PER_STATEMENT:
        return await _insert_inbound(_default(), rows)
    inserted: list[tuple[int, str, str]] = []
    async with in_transaction() as conn:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            inserted.extend(await _insert_inbound(conn, chunk))
    return inserted


async def _insert_inbound(
    conn: BaseDBAsyncClient, rows: Sequence[tuple[str, str, str, dt.datetime]]
) -> list[tuple[int, str, str]]:
    if not rows:
        return []
    sql = (
        "INSERT INTO inbound_event (channel, external_id, payload, received_at) "
        f"VALUES {_marks(len(rows), 4)} "
        "ON CONFLICT (channel, external_id) DO NOTHING RETURNING id, channel, external_id"
    )
    values = [value for row in rows for value in row]
    result = await conn.execute_query_dict(_dialect_sql(conn, sql), values)
    return [(int(r["id"]), r["channel"], r["external_id"]) for r in result]


async def outbound_by_external_id(
    keys: set[tuple[str, str]],
) -> dict[tuple[str, str], list[tuple[int | None, str]]]:
    """(channel, external id) → (delivery id, kind) of the outbound messages with that id."""
    conn = _default()
    found: dict[tuple[str, str], list[tuple[int | None, str]]] = {}
    for channel in {channel for channel, _ in keys}:
        ids = [external_id for c, external_id in keys if c == channel]
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[start : start + ROWS_PER_STATEMENT]
            sql = (
                "SELECT external_id, delivery_id, kind FROM outbound_message "
                f"WHERE channel = ? AND external_id IN ({_marks(len(chunk))})"
            )
            for r in await conn.execute_query_dict(_dialect_sql(conn, sql), [channel, *chunk]):
                found.setdefault((channel, r["external_id"]), []).append(
                    (r["delivery_id"], r["kind"])
                )
    return found


_CLAIM_INBOUND = "UPDATE inbound_event SET processed_at = ? WHERE processed_at IS NULL AND id IN "


async def claim_inbound_count(ids: Sequence[int], now: dt.datetime) -> int:
    """Mark these events processed where nobody has yet; how many this marked (no rows back).

    At most ROWS_PER_STATEMENT ids; the caller's transaction makes the mark and its effect one.
    """
    conn = _default()
    sql = f"{_CLAIM_INBOUND}({_marks(len(ids))})"
    count, _ = await conn.execute_query(_dialect_sql(conn, sql), [now, *ids])
    return int(count)


async def claim_inbound_ids(ids: Sequence[int], now: dt.datetime) -> list[int]:
    """As `claim_inbound_count`, but which of them this call marked (RETURNING)."""
    conn = _default()
    sql = f"{_CLAIM_INBOUND}({_marks(len(ids))}) RETURNING id"
    rows = await conn.execute_query_dict(_dialect_sql(conn, sql), [now, *ids])
    return [int(r["id"]) for r in rows]


TIMESTAMP_COLUMN = {
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.READ: "read_at",
    DeliveryStatus.ACKNOWLEDGED: "acknowledged_at",
}
# The statuses whose step also records its evidence (a reply, a reaction, a button...).
EVIDENCE_COLUMN = {
    DeliveryStatus.READ: "read_evidence",
    DeliveryStatus.ACKNOWLEDGED: "ack_evidence",
}


@functools.lru_cache(maxsize=32)
def _ladder_sql(status: DeliveryStatus, allowed_from: tuple[DeliveryStatus, ...]) -> str:
    """hub.broadcast.deliveries.apply_status for many deliveries: parameters
    (at, [evidence,] id), or (at, reason, id) for `failed`."""
    if status == DeliveryStatus.FAILED:
        return (
            f"UPDATE delivery SET status = '{status.value}', failed_at = ?, failure_reason = ? "
            f"WHERE id = ? AND status IN ({_in(allowed_from)})"
        )
    evidence = f", {EVIDENCE_COLUMN[status]} = ?" if status in EVIDENCE_COLUMN else ""
    return (
        f"UPDATE delivery SET status = '{status.value}', {TIMESTAMP_COLUMN[status]} = ?"
        f"{evidence}, failure_reason = NULL "
        f"WHERE id = ? AND status IN ({_in(allowed_from)})"
    )


async def apply_ladder(
    status: DeliveryStatus,
    allowed_from: tuple[DeliveryStatus, ...],
    params: Sequence[tuple[Any, ...]],
) -> None:
    """Move deliveries to `status` where they are in `allowed_from`, one executemany.

    `params` per delivery: (at, [evidence if `status` in EVIDENCE_COLUMN,] id), or (at, reason,
    id) for `failed`. A delivery elsewhere is left as it is: the ladder never moves down.
    """
    conn = _default()
    await conn.execute_many(_dialect_sql(conn, _ladder_sql(status, allowed_from)), params)
