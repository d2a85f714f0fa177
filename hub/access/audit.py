"""The audit log: one row per staff action that changes something."""

from __future__ import annotations

from typing import Any

from models import AuditLog, User


async def record(user: User | None, action: str, target: str = "", **detail: Any) -> None:
    """Write who did `action` on `target`; `user` None means the command line or the system."""
    await AuditLog.create(
        user=user,
        actor=user.username if user else "cli",
        action=action,
        target=target,
        detail=detail,
    )
