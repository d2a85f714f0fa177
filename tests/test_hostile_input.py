"""Input a hostile client sends, found by bench/probe.py: a 4xx (or a clean store), never a 5xx.

Each case here answered 500 (or 503 for ever, on PostgreSQL) before: digits `str.isdigit()` takes
and `int()` refuses, JSON nested past what the checks can walk, numbers too long to read, charsets
nobody knows, lone surrogates and NUL characters that no database column stores, form bodies that
are not UTF-8.
"""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient

from channels import InboundMessage, StatusKind, StatusUpdate
from hub.app import HUB
from models import Broadcast, InboundEvent, MemberGroup
from tests.factories import bearer, make_member, make_token
from tests.test_dashboard import csrf_token, log_in

A = "Sungai Kunjang/Loa Bakung"


async def test_odd_digits_in_query_and_form_numbers(client: TestClient) -> None:
    token = await make_token()
    for query in ("limit=%C2%B2", "limit=%EF%BC%95", "limit=1" + "0" * 5000):
        resp = await client.get(f"/api/v1/members?{query}", headers=bearer(token))
        assert resp.status == 422, (query, await resp.text())
    await log_in(client)
    for path in ("/?limit=%C2%B2", "/member-groups?edit=%C2%B2", "/sandbox?limit=%C2%B2"):
        resp = await client.get(path)
        assert resp.status in (200, 422), (path, resp.status)
    member = await make_member(f"{A}/RT 001")
    form = {
        "csrf_token": await csrf_token(client),
        "name": "Panitia",
        "members": ["²", str(member.id), "9" * 5000],
        "id": "²",
    }
    resp = await client.post("/member-groups", data=form, allow_redirects=False)
    assert resp.status == 303
    assert await MemberGroup.all().count() == 1


async def test_json_the_checks_cannot_read_is_refused(client: TestClient) -> None:
    token = await make_token()
    await make_member(f"{A}/RT 001")
    headers = {**bearer(token), "Content-Type": "application/json"}
    good = '{"title": "t", "text": "x", "audience": {"areas": ["AREA"]}}'.replace("AREA", A)
    cases = [
        (
            '{"title": "t", "text": "x", "audience": {"members": ' + "[" * 500 + "]" * 500 + "}}",
            400,
        ),
        ('{"title": "t", "text": "x", "ack_required": ' + "1" * 5000 + "}", 400),
        (
            '{"title": "\\ud800", "text": "x", "audience": {"areas": ["AREA"]}}'.replace("AREA", A),
            422,
        ),
        (
            '{"title": "t\\u0000", "text": "x", "audience": {"areas": ["AREA"]}}'.replace(
                "AREA", A
            ),
            422,
        ),
    ]
    for body, status in cases:
        resp = await client.post("/api/v1/broadcasts", data=body, headers=headers)
        assert resp.status == status, (body[:80], await resp.text())
    odd_charset = {**bearer(token), "Content-Type": "application/json; charset=x-nope"}
    resp = await client.post("/api/v1/broadcasts", data=good, headers=odd_charset)
    assert resp.status == 400, await resp.text()
    assert await Broadcast.all().count() == 0


async def test_a_form_that_is_not_utf8_is_a_400(client: TestClient) -> None:
    await log_in(client)
    token = await csrf_token(client)
    body = f"csrf_token={token}&title=".encode() + b"\xff\xfe"
    resp = await client.post(
        "/broadcasts/new",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 400
    assert await Broadcast.all().count() == 0


async def test_nul_and_lone_surrogates_from_a_platform_are_stored_clean(
    client: TestClient,
) -> None:
    hub = client.app[HUB]
    at = dt.datetime(2030, 3, 4, 2, 0, tzinfo=dt.UTC)
    events = [
        InboundMessage("sandbox", "sandbox-9", "m-\x00-1", at, text="halo\x00 \ud800 dunia"),
        StatusUpdate("sandbox", "s-\udfff", StatusKind.READ, at),
    ]
    stored = await hub.dispatcher.store(events)
    assert len(stored) == 2
    message = stored[0][1]
    assert isinstance(message, InboundMessage)
    assert (message.external_id, message.text) == ("m--1", "halo \ufffd dunia")
    keys = sorted(await InboundEvent.all().values_list("external_id", flat=True))
    assert keys == ["msg:m--1", "status:s-\ufffd:read"]
    await hub.dispatcher.process_many(stored)  # and processing them stores what it must
    assert await hub.dispatcher.store(events) == []  # a replay is still one
