"""Participation jobs: the weekly summary to each kelurahan's lurah and staff (Monday 08:00)."""

from __future__ import annotations

from hub.insight.weekly import send_weekly_reports
from hub.runtime import Hub


async def send_participation_reports(hub: Hub) -> dict[str, int]:
    """Queue the week's reports not yet sent (checked every 15 minutes: a hub that was down on
    Monday morning sends them when it is back); returns a summary."""
    summary = await send_weekly_reports(
        hub.config, hub.media, list(hub.enabled_channels), hub.clock()
    )
    if summary["messages"]:
        hub.sender.wake()
    return summary
