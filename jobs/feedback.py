"""Feedback jobs: ask RT heads whether a solved ticket held."""

from __future__ import annotations

from hub.feedback.complaints.followup import ask_followups
from hub.runtime import Hub


async def ask_ticket_followups(hub: Hub) -> dict[str, int]:
    """Queue the follow-up questions that are due (none during quiet hours); returns a summary."""
    summary = await ask_followups(hub.tickets, hub.config, hub.clock())
    if summary.get("asked"):
        hub.sender.wake()
    return summary
