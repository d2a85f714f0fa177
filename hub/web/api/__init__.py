"""The JSON API under /api/v1: bearer tokens, area scopes, one error format.

One module per noun (members, broadcasts, complaints, member_groups, groups, join_requests,
attachments, inbox, sandbox, participation, scorecard, public, openapi) declares its routes with
`route()` (routes.py): path, summary, permission, request body model, response schema. From that
one table come the router, the role check (guards.py), the validation of bodies (bodies.py) and
the OpenAPI document (openapi.py).
"""

from __future__ import annotations

from aiohttp import web

from hub.runtime import HUB, Hub

# Each noun's routes join the table as its module is imported.
from hub.web.api import (  # noqa: F401
    attachments,
    broadcasts,
    complaints,
    groups,
    inbox,
    join_requests,
    member_groups,
    members,
    openapi,
    participation,
    polls,
    public,
    sandbox,
    scorecard,
)
from hub.web.api.guards import SCOPE, USER, bearer_auth, error_response, errors
from hub.web.api.routes import add_routes
from hub.web.permissions import undeclared_routes

__all__ = ["SCOPE", "USER", "create_api", "error_response"]


def create_api(hub: Hub) -> web.Application:
    """The /api/v1 sub-application: every declared route behind the error and token guards."""
    api = web.Application(middlewares=[errors, bearer_auth])
    api[HUB] = hub
    add_routes(api)
    undeclared = undeclared_routes(api)
    if undeclared:  # every route says who may use it; see hub/web/permissions.py
        raise RuntimeError(f"API routes without a declared permission: {', '.join(undeclared)}")
    return api
