"""The OpenAPI document: served without a token, valid, and true to the routes and the server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from hub.app import HUB
from hub.core.timeutil import utcnow
from hub.feedback.complaints.tickets import file_ticket
from hub.web.api.bodies import schema_of
from hub.web.api.broadcasts import BroadcastCreate
from hub.web.permissions import Permission, permission_of, routes_of
from models import Broadcast, InboxDirection, InboxMessage, TicketKind
from tests.factories import bearer, make_member, make_token

BROADCAST_CREATE = schema_of(BroadcastCreate)
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


async def fetch_document(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    return await resp.json()


def api_routes(app: web.Application) -> set[tuple[str, str]]:
    """(path, method) for every route the /api/v1 sub-application registers."""
    subapps = [
        r.get_info()["app"]
        for r in app.router.resources()
        if isinstance(r, web.PrefixedSubAppResource) and r.get_info()["prefix"] == "/api/v1"
    ]
    assert len(subapps) == 1
    routes = set()
    for route in subapps[0].router.routes():
        # aiohttp adds a HEAD route beside every GET; it answers like the GET it shadows.
        if route.method == "HEAD":
            continue
        assert route.resource is not None
        path = route.resource.canonical.removeprefix("/api/v1")
        routes.add((path, route.method.lower()))
    return routes


async def test_the_document_is_public_and_valid_openapi(client: TestClient) -> None:
    document = await fetch_document(client)
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/api/v1"}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_every_route_is_documented_and_every_documented_path_exists(
    client: TestClient,
) -> None:
    document = await fetch_document(client)
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert documented == api_routes(client.app)


async def test_every_route_is_documented_with_its_declared_permission(client: TestClient) -> None:
    document = await fetch_document(client)
    documented = {
        (path, method): operation["x-permission"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    declared = {
        (path.removeprefix("/api/v1"), method.lower()): permission_of(handler)
        for method, path, handler in routes_of(client.app)
        if path.startswith("/api/v1/")
    }
    assert documented == declared
    for (path, method), permission in documented.items():
        operation = document["paths"][path][method]
        public = permission == Permission.PUBLIC
        assert (operation.get("security") == []) == public, (method, path)
        assert ("401" in operation["responses"]) != public, (method, path)


async def test_the_document_says_which_operations_need_no_token(client: TestClient) -> None:
    document = await fetch_document(client)
    assert document["security"] == [{"bearer": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            public = operation.get("security") == []
            resp = await client.request(method.upper(), "/api/v1" + path.replace("{id}", "1"))
            assert (resp.status != 401) == public, (method, path, resp.status)


async def test_every_error_response_is_the_error_schema(client: TestClient) -> None:
    document = await fetch_document(client)
    error_ref = {"$ref": "#/components/schemas/Error"}
    for name, response in document["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == error_ref, name
    token = await make_token()
    resp = await client.get("/api/v1/members/12345", headers=bearer(token))
    jsonschema.validate(await resp.json(), document["components"]["schemas"]["Error"])


async def test_responses_match_their_documented_schemas(client: TestClient) -> None:
    document = await fetch_document(client)
    schemas = document["components"]["schemas"]
    token = await make_token()
    member = await make_member("Sungai Kunjang/Loa Bakung/RT 001")

    def check(instance: Any, schema: dict[str, Any]) -> None:
        resolver_schema = {**schema, "components": document["components"]}
        jsonschema.Draft202012Validator(resolver_schema).validate(instance)

    body = {"title": "Rapat", "text": "Rapat RT.", "audience": {"members": [member.id]}}
    created = await (
        await client.post("/api/v1/broadcasts", json=body, headers=bearer(token))
    ).json()
    view = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}", headers=bearer(token))
    ).json()
    check(view, schemas["Broadcast"])
    member_view = await (
        await client.get(f"/api/v1/members/{member.id}", headers=bearer(token))
    ).json()
    check(member_view, schemas["Member"])
    recipients = await (
        await client.get(f"/api/v1/broadcasts/{created['id']}/recipients", headers=bearer(token))
    ).json()
    for recipient in recipients["recipients"]:
        check(recipient, schemas["Recipient"])


def body(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Posyandu",
        "text": "Posyandu Sabtu pukul 08.00 di balai RT.",
        "audience": {"areas": ["Sungai Kunjang/Loa Bakung"]},
        **changes,
    }


# Bodies where the schema alone decides; audience contents are valid in every one of them.
CASES = [
    ("minimal", body()),
    ("every field", body(send_at=None, recurrence=None, ack_required=False)),
    ("members too", body(audience={"areas": ["Sungai Kunjang/Loa Bakung"], "members": []})),
    ("send_at with offset", body(send_at="2035-01-02T08:00:00+08:00")),
    ("additional property", body(priority="high")),
    ("additional audience property", body(audience={"areas": [], "rt": ["001"]})),
    ("no title", {"text": "x", "audience": {"areas": ["Sungai Kunjang/Loa Bakung"]}}),
    ("no audience", {"title": "x", "text": "y"}),
    ("empty title", body(title="")),
    ("title too long", body(title="x" * 201)),
    ("text too long", body(text="x" * 4097)),
    # The schema's 4096 bounds the text alone; with its title and footer the announcement must
    # also fit the channels (tests/test_schedule.py checks that refusal).
    ("long text that fits", body(text="x" * 3900)),
    ("ack_required a string", body(ack_required="true")),
    ("recurrence given", body(recurrence={"cron": "0 8 * * 1"})),
    ("send_at a number", body(send_at=20350102)),
    ("member id a string", body(audience={"members": ["7"]})),
    ("member id too big", body(audience={"members": [2**31]})),
]


@pytest.mark.parametrize(("label", "payload"), CASES, ids=[c[0] for c in CASES])
async def test_the_server_accepts_exactly_what_the_schema_accepts(
    client: TestClient, label: str, payload: dict[str, Any]
) -> None:
    document = await fetch_document(client)
    schema = document["components"]["schemas"]["BroadcastCreate"]
    assert schema == BROADCAST_CREATE
    schema_accepts = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).is_valid(payload)
    token = await make_token()
    await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    resp = await client.post("/api/v1/broadcasts", json=payload, headers=bearer(token))
    server_accepts = resp.status == 201
    assert server_accepts == schema_accepts, (label, resp.status, await resp.text())
    if not server_accepts:
        assert 400 <= resp.status < 500
        assert await Broadcast.all().count() == 0


async def test_the_statuses_the_server_answers_are_documented(client: TestClient) -> None:
    document = await fetch_document(client)
    token = await make_token()
    member = await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    requests = [
        ("get", "/members", {"params": {"area": "Nowhere"}}),
        ("get", "/members", {}),
        ("get", "/members/{id}", {"path_id": 999}),
        ("get", "/members/{id}/invite", {"path_id": member.id}),
        ("post", "/broadcasts", {"data": b"{", "content_type": "application/json"}),
        ("post", "/broadcasts", {"json": {"title": "x"}}),
        ("post", "/broadcasts/{id}/cancel", {"path_id": 999}),
        ("post", "/sandbox/members/{id}/messages", {"path_id": member.id, "json": {}}),
        ("get", "/sandbox/members/{id}/messages", {"path_id": member.id}),
    ]
    for method, path, options in requests:
        url = "/api/v1" + path.replace("{id}", str(options.get("path_id", "")))
        headers = bearer(token)
        if "content_type" in options:
            headers["Content-Type"] = options["content_type"]
        resp = await client.request(
            method.upper(),
            url,
            params=options.get("params"),
            json=options.get("json"),
            data=options.get("data"),
            headers=headers,
        )
        documented = document["paths"][path][method]["responses"]
        assert str(resp.status) in documented, (method, path, resp.status, await resp.text())


async def test_every_operation_with_a_body_answers_and_documents_415(client: TestClient) -> None:
    document = await fetch_document(client)
    token = await make_token()
    member = await make_member("Sungai Kunjang/Loa Bakung/RT 001")
    broadcast = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Rapat", "text": "Rapat RT.", "audience": {"members": [member.id]}},
        headers=bearer(token),
    )
    group = await client.post(
        "/api/v1/member-groups",
        json={"name": "Rapat", "members": [member.id]},
        headers=bearer(token),
    )
    question = await InboxMessage.create(
        member=member, direction=InboxDirection.IN, channel="sandbox", address="sandbox-1",
        text="Kapan rapat?", created_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    ticket = await file_ticket(
        client.app[HUB].tickets, kind=TicketKind.COMPLAINT, category="jalan", member=member,
        channel="sandbox", address="sandbox-1", description="Jalan rusak", now=utcnow(),
    )  # fmt: skip
    ids = {
        "/broadcasts": (await broadcast.json())["id"],
        "/member-groups": (await group.json())["id"],
        "/sandbox": member.id,
        "/inbox/members": member.id,
        "/inbox/messages": question.id,
        "/complaints": ticket.number,
    }
    with_body = [
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and "requestBody" in operation
    ]
    assert len(with_body) >= 9  # broadcasts, their changes, groups, link codes, sandbox, files
    for path, method in with_body:
        assert "415" in document["paths"][path][method]["responses"], (method, path)
        id_ = next((value for prefix, value in ids.items() if path.startswith(prefix)), "")
        resp = await client.request(
            method.upper(),
            "/api/v1" + path.replace("{id}", str(id_)).replace("{ticket}", str(id_)),
            data=b"title=Rapat",
            headers=bearer(token) | {"Content-Type": "text/plain"},
        )
        assert resp.status == 415, (method, path, resp.status, await resp.text())
