"""Poll jobs: close the polls whose closing time has passed, and tell their voters the result."""

from __future__ import annotations

import logging

from hub.feedback.polls.service import close, stop_native_polls
from hub.runtime import Hub
from models import Poll, PollStatus

log = logging.getLogger(__name__)


async def close_due_polls(hub: Hub) -> dict[str, int]:
    """Close every open poll past its closes_at (a conditional UPDATE: once, whichever process
    gets there), queue its result where asked, and stop its native polls; returns a summary."""
    now = hub.clock()
    due = await Poll.filter(status=PollStatus.OPEN, closes_at__lte=now).order_by("closes_at", "id")
    closed = stopped = 0
    for poll in due:
        try:
            if not await close(hub.config, poll, now):
                continue  # closed by staff or another process meanwhile
        except Exception:
            log.exception("could not close poll %s", poll.id)
            continue
        closed += 1
        stopped += await stop_native_polls(poll, hub.channels, hub.sender.limiter)
    if closed:
        hub.sender.wake()
    return {"due": len(due), "closed": closed, "native_polls_stopped": stopped}
