"""Housekeeping: forget expired dashboard sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import WebSession

if TYPE_CHECKING:
    from hub.app import Hub


async def delete_expired_sessions(hub: Hub) -> dict[str, int]:
    """Remove dashboard sessions past their expiry; returns how many."""
    deleted = await WebSession.filter(expires_at__lte=hub.clock()).delete()
    return {"deleted": deleted}
