"""Reminder jobs: nudge RT heads who have not confirmed, then give staff a call list."""

from __future__ import annotations

from hub.broadcast.reminders import escalate, queue_reminders
from hub.runtime import Hub


async def send_reminders(hub: Hub) -> dict[str, int]:
    """Queue the reminders that are due (none during quiet hours); returns a summary."""
    summary = await queue_reminders(hub.config, hub.clock(), hub.enabled_channels)
    if summary.get("queued"):
        hub.sender.wake()
    return summary


async def escalate_silent(hub: Hub) -> dict[str, int]:
    """Send the call lists that are due (none during quiet hours); returns a summary."""
    summary = await escalate(hub.config, hub.clock(), hub.enabled_channels)
    if summary.get("notices"):
        hub.sender.wake()
    return summary
