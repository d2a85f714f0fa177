"""Dialog state: which multi-step exchange an address is in, kept in the database.

A dialog is a flow (its registered name), a step within it, the data collected so far and when
it lapses. It lives in the address's `Conversation` row, never in memory, so a restart in the
middle of filing a complaint loses nothing; one row per address means one dialog at a time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from models import Conversation


@dataclass(frozen=True)
class Dialog:
    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: dt.datetime | None = None  # None: waits however long it takes

    def lapsed(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


async def dialog_of(channel: str, address: str) -> Dialog | None:
    """The dialog this address is in, lapsed or not; None for none."""
    row = (
        await Conversation.filter(channel=channel, address=address, flow__isnull=False)
        .only("flow", "step", "data", "expires_at")
        .first()
    )
    if row is None or row.flow is None:
        return None
    return Dialog(row.flow, row.step or "", dict(row.data or {}), row.expires_at)


async def save_dialog(channel: str, address: str, dialog: Dialog) -> None:
    """Start a dialog at this address, or move it to its next step (the one dialog it is in)."""
    values = {
        "flow": dialog.flow,
        "step": dialog.step,
        "data": dialog.data,
        "expires_at": dialog.expires_at,
    }
    updated = await Conversation.filter(channel=channel, address=address).update(**values)
    if not updated:
        await Conversation.create(channel=channel, address=address, **values)


async def end_dialog(channel: str, address: str, flow: str | None = None) -> bool:
    """End the address's dialog (only if it is `flow`, when given); False if there was none."""
    rows = Conversation.filter(channel=channel, address=address, flow__isnull=False)
    if flow is not None:
        rows = rows.filter(flow=flow)
    return bool(await rows.update(flow=None, step=None, data={}, expires_at=None))


async def move_dialog(channel: str, address: str, flow: str, step: str, to_step: str) -> bool:
    """Move the address's dialog from `step` to `to_step`, only if it stands there (a
    conditional update: two staff acting at once move it once)."""
    rows = Conversation.filter(channel=channel, address=address, flow=flow, step=step)
    return bool(await rows.update(step=to_step))
