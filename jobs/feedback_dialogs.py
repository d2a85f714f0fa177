"""Feedback dialogs: ending complaint and service forms nobody finished, and the files they left."""

from __future__ import annotations

from hub.feedback.complaints.dialog_kit import end_lapsed_dialogs
from hub.runtime import Hub


async def end_lapsed_feedback_dialogs(hub: Hub) -> dict[str, int]:
    """End ADUAN/LAYANAN dialogs past their time and tell each member once."""
    return await end_lapsed_dialogs(hub.clock(), hub.config, hub.sender.wake)


async def delete_unlinked_feedback_files(hub: Hub) -> dict[str, int]:
    """Delete files sent in dialogs that never became a ticket or an inbox message (a day on)."""
    return await hub.feedback_files.delete_unlinked(hub.clock())
