"""What the routes that send to RT heads (broadcasts, polls) hand the domain alike: who sends,
in which areas, through which channels, and when. A shared helper of the API modules, outside
their independence contract (pyproject.toml)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.runtime import HUB, Hub
from hub.web.api.guards import SCOPE, USER


def sent_by(request: web.Request) -> dict[str, Any]:
    """The request's user, their scope, the running channels and the hub's clock, as the
    keyword arguments create_broadcast, update_broadcast and create_poll take them."""
    hub: Hub = request.app[HUB]
    return {
        "user": request[USER],
        "scope": request[SCOPE],
        "enabled_channels": hub.enabled_channels,
        "now": hub.clock(),
    }
