"""Migration operations of our own, for what Tortoise's built-in ones do at too high a cost."""

from __future__ import annotations

from tortoise.migrations import operations as ops


class AlterFieldDescription(ops.AlterField):
    """An AlterField that changes only a field's description, so the database is left alone.

    Tortoise writes AlterField when an enum gains a value (its generated description changes); on
    SQLite that rebuilds the table and drops its indexes. Our enum fields now carry a fixed
    description; use this for description-only changes the autodetector still emits.
    """

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        return None

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):  # type: ignore[no-untyped-def]
        return None
