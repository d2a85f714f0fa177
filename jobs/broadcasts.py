"""Broadcast jobs: start scheduled broadcasts and the runs of recurring ones when they are due."""

from __future__ import annotations

import logging

from hub.broadcast.schedule import overdue_beyond_grace
from hub.broadcast.service import mark_missed, start_due_broadcast, start_series_run
from hub.core.timeutil import in_quiet_hours
from hub.runtime import Hub
from models import Broadcast, BroadcastStatus

log = logging.getLogger(__name__)


async def start_due_broadcasts(hub: Hub) -> dict[str, int]:
    """Fan out every scheduled broadcast whose send_at has passed; returns a summary.

    During quiet hours they wait until the quiet hours end. One found later than the grace (the
    hub was down) is marked missed instead; a recurring one skips that run and keeps its rhythm.
    """
    now = hub.clock()
    settings = hub.config.broadcast
    due_query = Broadcast.filter(status=BroadcastStatus.SCHEDULED, send_at__lte=now)
    if in_quiet_hours(now, hub.config.tz, settings.quiet_hours):
        held = await due_query.count()
        return {"due": held, "started": 0, "missed": 0, "held_for_quiet_hours": held}
    due = await due_query.order_by("send_at", "id")
    started = missed = 0
    for broadcast in due:
        assert broadcast.send_at is not None
        late = overdue_beyond_grace(
            broadcast.send_at,
            now,
            hub.config.tz,
            settings.quiet_hours,
            settings.overdue_grace_minutes,
        )
        try:
            if broadcast.recurrence_cron:
                run = await start_series_run(
                    hub.config, broadcast, hub.enabled_channels, now, missed=late
                )
                taken = run is not None
            elif late:
                taken = await mark_missed(broadcast, now)
            else:
                taken = await start_due_broadcast(hub.config, broadcast, hub.enabled_channels, now)
        except Exception:
            log.exception("could not start broadcast %s", broadcast.id)
            continue
        if not taken:
            continue
        if late:
            missed += 1
            log.warning(
                "broadcast %s was due at %s, more than %d minutes ago: marked missed",
                broadcast.id,
                broadcast.send_at.isoformat(),
                settings.overdue_grace_minutes,
            )
        else:
            started += 1
    if started:
        hub.sender.wake()
        log.info("started %d scheduled broadcast(s)", started)
    return {"due": len(due), "started": started, "missed": missed}
