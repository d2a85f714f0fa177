"""Broadcast jobs: start scheduled broadcasts whose time has come."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hub.broadcasts import start_due_broadcast
from hub.timeutil import in_quiet_hours
from models import Broadcast, BroadcastStatus

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)


async def start_due_broadcasts(hub: Hub) -> dict[str, int]:
    """Fan out every scheduled broadcast whose send_at has passed; returns a summary.

    During quiet hours scheduled broadcasts wait until the quiet hours end.
    """
    now = hub.clock()
    if in_quiet_hours(now, hub.config.tz, hub.config.broadcast.quiet_hours):
        held = await Broadcast.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now).count()
        return {"due": held, "started": 0, "held_for_quiet_hours": held}
    due = await Broadcast.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now).order_by("id")
    started = 0
    for broadcast in due:
        try:
            if await start_due_broadcast(hub.config, broadcast, hub.enabled_channels, now):
                started += 1
        except Exception:
            log.exception("could not start broadcast %s", broadcast.id)
    if started:
        hub.sender.wake()
        log.info("started %d scheduled broadcast(s)", started)
    return {"due": len(due), "started": started}
