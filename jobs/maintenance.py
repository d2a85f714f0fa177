"""Housekeeping: expired dashboard sessions, deferred inbound events, unused uploads."""

from __future__ import annotations

import datetime as dt

from hub.runtime import Hub
from models import WebSession


async def delete_expired_sessions(hub: Hub) -> dict[str, int]:
    """Remove dashboard sessions past their expiry; returns how many."""
    deleted = await WebSession.filter(expires_at__lte=hub.clock()).delete()
    return {"deleted": deleted}


async def retry_deferred_events(hub: Hub) -> dict[str, int]:
    """Apply stored events that could not be applied yet (a receipt before its send record)."""
    return {"processed": await hub.dispatcher.process_pending(older_than=dt.timedelta(seconds=30))}


async def delete_unused_uploads(hub: Hub) -> dict[str, int]:
    """Delete attachments no broadcast names after a week, and what crashed uploads left."""
    return await hub.media.delete_unused(hub.clock())
