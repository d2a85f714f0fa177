"""GET /api/v1/participation and its companions over the hand-counted month of
tests/insight/conftest.py: the contract's shape, the documented schemas, the caller's areas, pages,
filters and mistakes."""

from __future__ import annotations

import csv
import io
from typing import Any

import jsonschema
import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from models import Member, UserRole
from tests.factories import bearer, make_token
from tests.insight.conftest import ELSEWHERE, KELURAHAN

MARCH = "from=2030-03-01&to=2030-03-31"


async def get(client: TestClient, token: str, path: str, status: int = 200) -> Any:
    resp = await client.get(f"/api/v1{path}", headers=bearer(token))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def check_schema(client: TestClient, path: str, answer: Any) -> None:
    """The answer matches the 200 response the OpenAPI document publishes for the path."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"][path]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    resolver_schema = {**schema, "components": document["components"]}
    jsonschema.Draft202012Validator(resolver_schema).validate(answer)


async def test_the_contract_shape_with_counts_beside_rates(
    client: TestClient, month: dict[str, Member]
) -> None:
    token = await make_token()
    answer = await get(client, token, f"/participation?{MARCH}")
    await check_schema(client, "/participation", answer)
    summary = answer["summary"]
    for key in ("members", "active", "passive", "unreachable", "read_rate", "ack_rate",
                "median_ack_minutes"):  # fmt: skip
        assert key in summary
    assert (summary["members"], summary["active"], summary["passive"]) == (7, 2, 2)
    assert (summary["unreachable"], summary["insufficient"]) == (1, 2)
    assert (summary["acknowledged"], summary["ack_asked"]) == (11, 23)
    assert summary["ack_rate"] == pytest.approx(11 / 23)
    assert summary["median_ack_minutes"] == 15
    rows = {r["name"]: r for r in answer["members"]}
    ani = rows["Ani"]
    assert {
        k: ani[k] for k in ("broadcasts", "read", "acknowledged", "complaints", "poll_votes")
    } == {"broadcasts": 7, "read": 7, "acknowledged": 5, "complaints": 2, "poll_votes": 1}
    assert (ani["read_rate"], ani["ack_rate"], ani["median_ack_minutes"]) == (1.0, 1.0, 30)
    assert ani["level"] == "active" and ani["area"] == f"{KELURAHAN}/RT 001"
    eka = rows["Eka"]
    assert (eka["level"], eka["broadcasts"], eka["read_rate"], eka["opted_out"]) == (
        None, 0, None, 5,
    )  # fmt: skip
    assert (rows["Dedi"]["holds_seat"], rows["Budi"]["holds_seat"]) == (False, True)
    assert answer["period"] == {"from": "2030-03-01", "to": "2030-03-31"}
    assert answer["next"] is None


async def test_staff_see_their_own_areas_only(client: TestClient, month: dict[str, Member]) -> None:
    token = await make_token(UserRole.OFFICIAL, (KELURAHAN,))
    answer = await get(client, token, f"/participation?{MARCH}")
    assert "Fajar" not in {r["name"] for r in answer["members"]}
    assert answer["summary"]["members"] == 6
    refused = await get(client, token, f"/participation?area={ELSEWHERE}&{MARCH}", 403)
    assert "Fajar" not in str(refused)
    ranking = await get(client, token, f"/participation/ranking?{MARCH}")
    assert [r["area"] for r in ranking["ranking"]] == [KELURAHAN]
    fajar = month["Fajar"]
    await get(client, token, f"/participation/members/{fajar.id}?{MARCH}", 404)


async def test_pages_and_the_level_filter(client: TestClient, month: dict[str, Member]) -> None:
    token = await make_token()
    first = await get(client, token, f"/participation?{MARCH}&limit=4")
    assert len(first["members"]) == 4 and first["next"]
    second = await get(client, token, f"/participation?{MARCH}&limit=4&cursor={first['next']}")
    names = [r["name"] for r in first["members"] + second["members"]]
    assert sorted(names) == ["Ani", "Budi", "Citra", "Dedi", "Eka", "Fajar", "Gita"]
    assert second["next"] is None
    assert second["summary"] == first["summary"]  # the summary counts every row, not the page
    passive = await get(client, token, f"/participation?{MARCH}&level=passive")
    assert sorted(r["name"] for r in passive["members"]) == ["Budi", "Gita"]
    unsure = await get(client, token, f"/participation?{MARCH}&level=insufficient")
    assert sorted(r["name"] for r in unsure["members"]) == ["Dedi", "Eka"]


async def test_areas_trend_ranking_and_a_person(
    client: TestClient, month: dict[str, Member]
) -> None:
    token = await make_token()
    areas = await get(client, token, f"/participation/areas?area=Sungai Kunjang&{MARCH}")
    await check_schema(client, "/participation/areas", areas)
    assert areas["area"]["area"] == "Sungai Kunjang" and areas["area"]["rt_heads"] == 7
    by_name = {a["area"]: a for a in areas["areas"]}
    assert by_name[KELURAHAN]["levels"]["unreachable"] == 1
    assert (by_name[KELURAHAN]["acknowledged"], by_name[KELURAHAN]["ack_asked"]) == (8, 20)

    trend = await get(client, token, f"/participation/trend?area={KELURAHAN}&{MARCH}")
    await check_schema(client, "/participation/trend", trend)
    assert [w["week_start"] for w in trend["weeks"]][:2] == ["2030-02-25", "2030-03-04"]
    assert trend["weeks"][0]["acknowledged"] == 3  # Ani, Dedi, Gita on B1 (not Fajar)

    ranking = await get(client, token, f"/participation/ranking?{MARCH}")
    await check_schema(client, "/participation/ranking", ranking)
    # Karang Asam Ulu 3 of 3 (bound 0.44), Loa Bakung 8 of 20 (bound 0.22)
    assert [(r["rank"], r["area"]) for r in ranking["ranking"]] == [
        (1, ELSEWHERE),
        (2, KELURAHAN),
    ]

    dedi = month["Dedi"]
    person = await get(client, token, f"/participation/members/{dedi.id}?{MARCH}")
    await check_schema(client, "/participation/members/{id}", person)
    assert person["member"]["name"] == "Dedi"
    assert [s["area"] for s in person["seats"]] == [f"{KELURAHAN}/RT 002"]
    assert person["total"]["level"] is None and person["total"]["broadcasts"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "from=2030-02-30",
        "from=2030-03-10&to=2030-03-01",
        "from=2020-01-01&to=2030-01-01",
        "level=sleepy",
        "area=Nowhere/At All",
        "limit=0",
        "cursor=xyz",
    ],
)
async def test_mistakes_are_422(client: TestClient, db: str, query: str) -> None:
    answer = await get(client, await make_token(), f"/participation?{query}", 422)
    assert answer["error"]["code"]


async def test_bad_kind_and_unknown_person(client: TestClient, db: str) -> None:
    token = await make_token()
    await get(client, token, "/participation/ranking?kind=desa", 422)
    await get(client, token, "/participation/members/99999", 404)
    await get(client, token, "/participation/members/abc", 404)


async def test_tables_download_as_csv_and_xlsx_with_formulas_neutralised(
    client: TestClient, month: dict[str, Member]
) -> None:
    token = await make_token()
    await Member.filter(id=month["Gita"].id).update(name='=HYPERLINK("http://x","klik")')
    resp = await client.get(f"/api/v1/participation?{MARCH}&format=csv", headers=bearer(token))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="partisipasi-ketua-rt-2030-03-01-2030-03-31.csv"'
    )
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Nama", "Wilayah", "Masih menjabat", "Tingkat"]
    assert len(rows) == 1 + 7  # every row, not a page
    by_name = {row[0]: row for row in rows[1:]}
    assert '\'=HYPERLINK("http://x","klik")' in by_name
    ani = dict(zip(rows[0], by_name["Ani"], strict=True))
    assert (ani["Tingkat"], ani["Dikonfirmasi"], ani["Diminta konfirmasi"]) == ("aktif", "5", "5")
    assert ani["Telepon"].startswith("'+62")  # text, not a number a spreadsheet mangles

    resp = await client.get(
        f"/api/v1/participation/ranking?{MARCH}&format=xlsx", headers=bearer(token)
    )
    assert resp.status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:2] == ["Peringkat", "Wilayah"]
    assert [(row[0], row[1]) for row in values[1:]] == [(1, ELSEWHERE), (2, KELURAHAN)]

    members = await client.get(f"/api/v1/participation?{MARCH}&format=xlsx", headers=bearer(token))
    sheet = openpyxl.load_workbook(io.BytesIO(await members.read())).active
    assert sheet is not None
    names = [row[0] for row in sheet.iter_rows()]
    formula = next(c for c in names if c.value and str(c.value).startswith("=HYPERLINK"))
    assert formula.data_type == "s"  # kept as text, never run

    await get(client, token, f"/participation/trend?{MARCH}&format=pdf", 422)
