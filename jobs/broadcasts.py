"""Broadcast jobs: start scheduled broadcasts whose time has come."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hub.broadcasts import start_due_broadcast
from models import Broadcast, BroadcastStatus

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)


async def start_due_broadcasts(hub: Hub) -> dict[str, int]:
    """Fan out every scheduled broadcast whose send_at has passed; returns a summary."""
    now = hub.clock()
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
