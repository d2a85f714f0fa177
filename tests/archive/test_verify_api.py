"""GET /api/v1/public/verify: no token, the contract's two answers, clear refusals of what cannot
be a code, a rate limit per client address on the hub's clock, and its place in the OpenAPI
document."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from models import Member
from tests.archive.conftest import CHECKS_PER_MINUTE, correct, create
from tests.conftest import PUBLIC_URL, FakeClock

URL = "/api/v1/public/verify"


async def verify(client: TestClient, code: str, **headers: str) -> Any:
    resp = await client.get(URL, params={"code": code}, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_genuine_code_answers_as_the_contract_says(
    timed: TestClient, clock: FakeClock, staff: str, rt_heads: list[Member]
) -> None:
    shown = await create(timed, staff)
    code = shown["verification_code"]
    answer = await verify(timed, code.lower())
    assert answer == {
        "genuine": True,
        "title": "Kerja bakti",
        "published_at": clock.now.isoformat(),
        "url": f"{PUBLIC_URL}/arsip/{code}",
    }
    document = await (await timed.get("/api/v1/openapi.json")).json()
    jsonschema.validate(answer, document["components"]["schemas"]["Verification"])

    await correct(timed, staff, shown["id"], "Kerja bakti diundur sepekan.")
    assert (await verify(timed, code))["genuine"] is True  # the code stays its announcement's


async def test_unknown_and_unpublished_codes_are_not_genuine(
    timed: TestClient, clock: FakeClock, staff: str
) -> None:
    later = (clock.now + dt.timedelta(days=2)).isoformat()
    scheduled = await create(timed, staff, send_at=later)  # has its code, not sent yet
    for code in ("7QK-2M4", scheduled["verification_code"]):
        assert await verify(timed, code) == {"genuine": False}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "no_code"),
        ("?code=", "no_code"),
        ("?code=%20%20", "no_code"),
        ("?code=" + "7" * 33, "bad_code"),
        ("?code=7QK-2M", "bad_code"),
        ("?code=7QK%242M4", "bad_code"),  # $
        ("?code=7QK-2M%C3%B6", "bad_code"),  # ö
        ("?code=%00%00%00%00%00%00", "bad_code"),
        ("?code=%F0%9F%99%8F", "bad_code"),  # 🙏
        ("?code=7QK-2MO", "bad_code"),
    ],
)
async def test_what_cannot_be_a_code_is_refused_clearly(
    timed: TestClient, query: str, code: str
) -> None:
    resp = await timed.get(URL + query)
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code and "7QK-2M4" in error["message"]


async def test_checks_are_rate_limited_per_client_on_the_hubs_clock(
    timed: TestClient, clock: FakeClock
) -> None:
    for _ in range(CHECKS_PER_MINUTE):
        assert await verify(timed, "7QK-2M4") == {"genuine": False}
    refused = await timed.get(URL, params={"code": "7QK-2M4"})
    assert refused.status == 429
    assert refused.headers["Retry-After"] == str(60 // CHECKS_PER_MINUTE)
    assert (await refused.json())["error"]["code"] == "rate_limited"
    # Refusals are not counted; bad input is, so a flood of junk is slowed down too.
    clock.advance(seconds=60 // CHECKS_PER_MINUTE)
    assert (await timed.get(URL, params={"code": "junk"})).status == 422
    assert (await timed.get(URL, params={"code": "7QK-2M4"})).status == 429
    clock.advance(seconds=60 // CHECKS_PER_MINUTE)
    assert await verify(timed, "7QK-2M4") == {"genuine": False}


async def test_the_openapi_document_has_the_public_route(timed: TestClient) -> None:
    document = await (await timed.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/public/verify"]["get"]
    assert operation["security"] == [] and operation["x-permission"] == "public"
    assert {"200", "422", "429"} <= set(operation["responses"])
    assert "401" not in operation["responses"]
    [parameter] = operation["parameters"]
    assert parameter["name"] == "code" and parameter["in"] == "query"
