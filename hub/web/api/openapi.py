"""The OpenAPI 3.1 document, assembled from the route table: one operation per declared route,
its request body from the pydantic model the route validates with, its errors from what the
declaration implies (a token: 401, 403; an id in the path: 404; a JSON body: 400, 413, 415, 422;
a page: 422) and from what it names."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from hub import __version__
from hub.web.api.bodies import RequestBody, schema_of
from hub.web.api.routes import COMPONENTS, PATH_PARAMETERS, ROUTES, Route, route
from hub.web.api.schemas import ERROR, Schema
from hub.web.pagination import DEFAULT_LIMIT, MAX_LIMIT
from hub.web.permissions import Permission

# Error statuses and the shared responses that describe them (each in the one error shape).
ERROR_RESPONSES = {
    400: ("BadRequest", "Malformed request"),
    401: ("Unauthorized", "Missing or invalid bearer token"),
    403: ("Forbidden", "Outside the token owner's areas or role"),
    404: ("NotFound", "No such object"),
    409: ("Conflict", "Not possible in the object's current state"),
    413: ("TooLarge", "The body is larger than the server takes"),
    415: ("UnsupportedMediaType", "The body is not of the type the operation reads"),
    422: ("Invalid", "Well-formed but refused; the message says why"),
    429: ("TooManyRequests", "Over a rate limit; try again later"),
}
SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "Deleted"}

PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "description": "Items per page",
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The `next` of the previous page",
    },
]


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(declared: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name in declared.path_parameters:
        schema = PATH_PARAMETERS.get(name)
        if schema is None:  # an id, or a kind its module declared with path_parameter()
            raise ValueError(f"{declared.path}: document the path parameter {name!r}")
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    for query in declared.query:
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": False,
                "schema": query.schema or {"type": "string"},
                "description": query.description,
            }
        )
    if declared.paginated:
        parameters += PAGE_PARAMETERS
    return parameters


def _page(key: str, item: Schema) -> Schema:
    """A page of a list: its items and the cursor of the next page."""
    return {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": item},
            "next": {
                "type": ["string", "null"],
                "description": "The cursor of the next page; null on the last",
            },
        },
        "required": [key, "next"],
    }


def _error_statuses(declared: Route) -> set[int]:
    statuses = set(declared.errors)
    if declared.permission != Permission.PUBLIC:
        statuses |= {401, 403}
    if declared.path_parameters:
        statuses.add(404)
    if declared.body is not None or declared.upload is not None:
        statuses |= {400, 413, 415, 422}
    if declared.paginated:
        statuses.add(422)  # a bad limit or cursor
    return statuses


def _responses(declared: Route) -> dict[str, Any]:
    success: dict[str, Any] = {"description": SUCCESS[declared.status]}
    if declared.response is not None:
        schema = declared.response
        if declared.paginated:
            schema = _page(declared.paginated, schema)
        success["content"] = _json(schema)
    responses: dict[str, Any] = {str(declared.status): success}
    for status in sorted(_error_statuses(declared)):
        responses[str(status)] = _ref("responses", ERROR_RESPONSES[status][0])
    return responses


def _operation(declared: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": declared.handler.__name__,
        "summary": declared.summary,
        "x-permission": declared.permission.value,
    }
    if declared.permission == Permission.PUBLIC:
        operation["security"] = []
    parameters = _parameters(declared)
    if parameters:
        operation["parameters"] = parameters
    if declared.body is not None:
        schema = _ref("schemas", declared.body.__name__)
        operation["requestBody"] = {"required": True, "content": _json(schema)}
    elif declared.upload is not None:
        content = {"multipart/form-data": {"schema": declared.upload}}
        operation["requestBody"] = {"required": True, "content": content}
    operation["responses"] = _responses(declared)
    return operation


def _body_schemas() -> dict[str, Schema]:
    """The request bodies' schemas by model name (a model two routes read is written once)."""
    models: dict[str, type[RequestBody]] = {}
    for declared in ROUTES:
        if declared.body is None:
            continue
        name = declared.body.__name__
        if models.setdefault(name, declared.body) is not declared.body:
            raise ValueError(f"two request bodies named {name}")
    return {name: schema_of(model) for name, model in models.items()}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document served at /api/v1/openapi.json."""
    paths: dict[str, dict[str, Any]] = {}
    for declared in ROUTES:
        paths.setdefault(declared.path, {})[declared.method.lower()] = _operation(declared)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Balai Warga hub API",
            "version": __version__,
            "description": "Broadcasts to RT heads with read tracking. Bearer tokens from "
            "`hub token create USERNAME`. Each operation's `x-permission` says who may use "
            "it: `public` (no token), `read` (any user, within their areas), `write` (staff "
            "and admins, within their areas), `admin`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_body_schemas(), "Error": ERROR, **COMPONENTS},
            "responses": {
                name: {"description": description, "content": _json(_ref("schemas", "Error"))}
                for name, description in ERROR_RESPONSES.values()
            },
        },
    }


@route(
    "GET",
    "/openapi.json",
    summary="This document",
    permission=Permission.PUBLIC,
    response={"type": "object"},
)
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
