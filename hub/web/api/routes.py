"""The API's route table: each route declared once, with who may use it and what it reads and
answers; the router, the permission check and the OpenAPI document all read it.

    @route("POST", "/broadcasts/{id}/correction", summary="Correct a sent broadcast",
           permission=Permission.WRITE, load=the_broadcast, body=BroadcastCorrection,
           response=BROADCAST, errors=(409, 422))
    async def post_correction(request, broadcast, body): ...

`add_routes()` mounts every declared route behind one wrapper, which declares the permission on
what the router calls (`bearer_auth` checks it before the wrapper runs), loads the object the
path names (`load`: 404 before anything else is looked at, as the handlers always did) and
validates the body (`body`: 415, 400 or 422), then calls the handler with them. A route cannot
exist without a permission; `undeclared_routes()` stays as the safety net for anything added to
the router by hand.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from hub.core.errors import NotFound
from hub.web.api.bodies import RequestBody, read_body
from hub.web.api.schemas import Schema
from hub.web.params import ID_MAX, whole_number
from hub.web.permissions import Permission, requires

Handler = Callable[..., Awaitable[web.StreamResponse]]
HandlerT = TypeVar("HandlerT", bound=Handler)
Loader = Callable[[web.Request], Awaitable[Any]]

# What an id in a path is: the 32-bit integer columns' positive range.
ID_SCHEMA: Schema = {"type": "integer", "minimum": 1, "maximum": ID_MAX}


@dataclass(frozen=True)
class Query:
    """A query parameter the route reads (documented; the handler reads it)."""

    name: str
    description: str
    schema: Schema | None = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below /api/v1, with {placeholders}
    handler: Handler
    summary: str
    permission: Permission
    status: int  # of a success
    response: Schema | None  # the success's JSON body; with `paginated`, one item's schema
    paginated: str | None  # a list: the key of its items (`?limit=`, `?cursor=`, "next")
    body: type[RequestBody] | None  # a JSON body, validated before the handler runs
    upload: Schema | None  # a multipart/form-data body, read by the handler
    load: Loader | None  # the object the path names, loaded before the body is read
    errors: tuple[int, ...]  # statuses beyond those the rest of the declaration implies
    query: tuple[Query, ...]

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{([^}:]+)", self.path)


ROUTES: list[Route] = []
COMPONENTS: dict[str, Schema] = {}  # response schemas shared by name (OpenAPI components)
# What each path parameter is: an id, unless a module declares another kind (a ticket number).
# {file_id} names a file of what {id} or {ticket} names (a ticket's, an inbox message's).
PATH_PARAMETERS: dict[str, Schema] = {"id": ID_SCHEMA, "file_id": ID_SCHEMA}


def path_parameter(name: str, schema: Schema) -> None:
    """Declare a path parameter other than {id}, for the OpenAPI document."""
    if PATH_PARAMETERS.setdefault(name, schema) is not schema:
        raise ValueError(f"two path parameters named {name}")


def component(name: str, schema: Schema) -> Schema:
    """Publish a response schema under `name`; returns the reference to it."""
    if COMPONENTS.setdefault(name, schema) is not schema:
        raise ValueError(f"two schemas named {name}")
    return {"$ref": f"#/components/schemas/{name}"}


def route(
    method: str,
    path: str,
    *,
    summary: str,
    permission: Permission,
    response: Schema | None = None,
    status: int = 200,
    paginated: str | None = None,
    body: type[RequestBody] | None = None,
    upload: Schema | None = None,
    load: Loader | None = None,
    errors: tuple[int, ...] = (),
    query: tuple[Query, ...] = (),
) -> Callable[[HandlerT], HandlerT]:
    """Declare an API route: the handler is called as `handler(request, [loaded], [body])`."""

    def declare(handler: HandlerT) -> HandlerT:
        if any((r.method, r.path) == (method, path) for r in ROUTES):
            raise ValueError(f"{method} {path} is declared twice")
        ROUTES.append(
            Route(
                method=method,
                path=path,
                handler=handler,
                summary=summary,
                permission=permission,
                status=status,
                response=response,
                paginated=paginated,
                body=body,
                upload=upload,
                load=load,
                errors=errors,
                query=query,
            )
        )
        return handler

    return declare


def _endpoint(declared: Route) -> Handler:
    """What the router calls for a declared route."""

    @requires(declared.permission)
    @functools.wraps(declared.handler)
    async def endpoint(request: web.Request) -> web.StreamResponse:
        given: list[Any] = []
        if declared.load is not None:
            given.append(await declared.load(request))
        if declared.body is not None:
            given.append(await read_body(request, declared.body))
        return await declared.handler(request, *given)

    return endpoint


def add_routes(app: web.Application) -> None:
    """Every declared route on `app`, one resource per path (a GET answers HEAD too)."""
    paths: dict[str, list[Route]] = {}
    for declared in ROUTES:
        paths.setdefault(declared.path, []).append(declared)
    for path, declared_here in paths.items():
        resource = app.router.add_resource(path)
        for declared in declared_here:
            if declared.method == "GET":
                resource.add_route("HEAD", _endpoint(declared))
            resource.add_route(declared.method, _endpoint(declared))


# Helpers of the handlers ---------------------------------------------------------------------


def int_id(request: web.Request) -> int:
    """The {id} of the path: ASCII digits within the integer columns, else 404."""
    value = whole_number(request.match_info["id"])
    if value is None or value < ID_SCHEMA["minimum"]:
        raise NotFound("no object with that id: ids are whole numbers from 1")
    return value


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
