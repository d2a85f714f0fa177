"""The complaints API: lists with filters in scope, one ticket, every move told to the RT head's
phone, notes that stay inside, messages, assignment, SLA by working days, files in scope."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from channels.sandbox import SandboxChannel
from hub.app import HUB, Hub
from hub.core.config import Config
from hub.feedback.complaints.tickets import file_ticket
from models import (
    AuditLog,
    FeedbackFile,
    Member,
    OutboundMessage,
    Ticket,
    TicketEvent,
    TicketKind,
    User,
    UserRole,
)
from tests.conftest import FakeClock, make_config
from tests.factories import bearer, make_member, make_user

KELURAHAN = "Sungai Kunjang/Loa Bakung"
OTHER = "Sungai Kunjang/Karang Asam"
WITA = dt.timezone(dt.timedelta(hours=8))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # Monday 11 March 2030 is a holiday here: deadlines step over it like over a weekend.
    return make_config(
        feedback={"ticket_prefixes": ("Sungai Kunjang=SKJ",), "holidays": ("2030-03-11",)},
        broadcast={"media_dir": str(tmp_path / "media")},
    )


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def phone(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


async def shown(hub: Hub, member: Member) -> list[str]:
    """What the member's sandbox phone shows once the sender has run."""
    await hub.sender.run_once()
    return [m.text for m in phone(hub).messages(f"sandbox-{member.id}")]


async def file(hub: Hub, member: Member, **values: Any) -> Ticket:
    """A ticket the member filed from their sandbox phone, at the hub's now."""
    values = {
        "kind": TicketKind.COMPLAINT,
        "category": "drainase/banjir",
        "description": "Got mampet di depan masjid",
        **values,
    }
    return await file_ticket(
        hub.tickets,
        member=member,
        channel="sandbox",
        address=f"sandbox-{member.id}",
        now=hub.clock(),
        **values,
    )


async def staff_token(client: TestClient, area: str = KELURAHAN, role: str = "staff") -> str:
    from hub.access.auth import create_token

    return await create_token(await make_user(UserRole(role), (area,)))


async def patch(client: TestClient, token: str, number: str, **body: Any) -> tuple[int, Any]:
    resp = await client.patch(f"/api/v1/complaints/{number}", json=body, headers=bearer(token))
    return resp.status, await resp.json()


async def test_every_step_is_told_on_the_rt_heads_phone(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    token = await staff_token(timed)
    ticket = await file(hub, member)
    steps = [
        ("diverifikasi", {"note": "Kami cek besok"}, "Sudah diverifikasi"),
        ("diproses", {}, "Sedang diproses"),
        ("selesai", {"note": "Sudah dikeruk"}, "Selesai"),
    ]
    for status, extra, label in steps:
        code, body = await patch(timed, token, ticket.number, status=status, **extra)
        assert code == 200, body
        assert body["status"] == status
        latest = (await shown(hub, member))[-1]
        assert ticket.number in latest and label in latest
    assert "Sudah dikeruk" in latest
    assert body["allowed_next"] == ["diproses"]
    assert [h["to_status"] for h in body["history"] if h["kind"] == "status"] == [
        "diverifikasi",
        "diproses",
        "selesai",
    ]

    rejected = await file(hub, member, description="Lampu jalan mati")
    code, body = await patch(timed, token, rejected.number, status="ditolak", reason="Milik PLN")
    assert (code, body["reason"]) == (200, "Milik PLN")
    assert "Milik PLN" in (await shown(hub, member))[-1]

    forwarded = await file(hub, member, description="Jalan berlubang")
    code, body = await patch(
        timed, token, forwarded.number, status="diteruskan", forwarded_to="Dinas PUPR",
        reference="LAPOR-123",
    )  # fmt: skip
    assert (code, body["forwarded_to"], body["reference"]) == (200, "Dinas PUPR", "LAPOR-123")
    assert "Dinas PUPR" in (await shown(hub, member))[-1]
    code, body = await patch(timed, token, forwarded.number, status="selesai")
    assert code == 200 and "Selesai" in (await shown(hub, member))[-1]
    assert len(await shown(hub, member)) == 6


async def test_a_skipped_step_is_409_naming_the_allowed_ones(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    token = await staff_token(timed)
    ticket = await file(hub, member)
    code, body = await patch(timed, token, ticket.number, status="selesai")
    assert code == 409
    assert body["error"]["code"] == "invalid_transition"
    assert "diverifikasi, ditolak, diteruskan" in body["error"]["message"]
    code, body = await patch(timed, token, ticket.number, status="ditolak")
    assert (code, body["error"]["code"]) == (422, "invalid")
    code, body = await patch(timed, token, ticket.number, status="diteruskan")
    assert code == 422
    code, body = await patch(timed, token, ticket.number, status="dibuang")
    assert code == 422
    assert (await Ticket.get(id=ticket.id)).status == "baru"
    assert await OutboundMessage.all().count() == 0


async def test_two_patches_at_once_move_it_once(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    token = await staff_token(timed)
    ticket = await file(hub, member)
    # Neither may follow the other, whichever reads the ticket first (on PostgreSQL the second
    # may read it after the first committed: then the workflow refuses, else the UPDATE does).
    results = await asyncio.gather(
        patch(timed, token, ticket.number, status="diteruskan", forwarded_to="Dinas PUPR"),
        patch(timed, token, ticket.number, status="ditolak", reason="Ganda"),
    )
    assert sorted(code for code, _ in results) == [200, 409]
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="status").count() == 1
    assert len(await shown(hub, member)) == 1


async def test_officials_read_but_do_not_write_and_other_areas_see_nothing(
    timed: TestClient,
) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001", name="Pak Darto")
    ticket = await file(hub, member)
    official = await staff_token(timed, role="official")
    other = await staff_token(timed, area=OTHER)
    resp = await timed.get(f"/api/v1/complaints/{ticket.number}", headers=bearer(official))
    assert resp.status == 200
    code, _ = await patch(timed, official, ticket.number, status="diverifikasi")
    assert code == 403
    code, body = await patch(timed, other, ticket.number, status="diverifikasi")
    assert code == 404 and "Pak Darto" not in str(body)
    resp = await timed.get("/api/v1/complaints", headers=bearer(other))
    assert (await resp.json())["complaints"] == []
    assert (await Ticket.get(id=ticket.id)).status == "baru"


async def test_notes_stay_inside_and_messages_reach_the_rt_head(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    token = await staff_token(timed)
    ticket = await file(hub, member)
    url = f"/api/v1/complaints/{ticket.number}"
    resp = await timed.post(
        f"{url}/notes", json={"text": "Rahasia: kontraktor"}, headers=bearer(token)
    )
    assert resp.status == 201
    assert (await resp.json())["internal"] is True
    assert await OutboundMessage.all().count() == 0
    assert await shown(hub, member) == []
    assert await AuditLog.filter(action="ticket.note", target=ticket.number).count() == 1

    resp = await timed.post(
        f"{url}/messages", json={"text": "Mohon kirim foto lagi"}, headers=bearer(token)
    )
    assert resp.status == 201
    assert any("Mohon kirim foto lagi" in text for text in await shown(hub, member))
    detail = await (await timed.get(url, headers=bearer(token))).json()
    kinds = [(h["kind"], h["internal"]) for h in detail["history"]]
    assert kinds == [("created", False), ("note", True), ("message", False)]
    # Moving it afterwards still sends nothing of the note.
    await patch(timed, token, ticket.number, status="diverifikasi", note="Dicek")
    assert not any("Rahasia" in text for text in await shown(hub, member))
    resp = await timed.post(f"{url}/notes", json={"text": "   "}, headers=bearer(token))
    assert resp.status == 422


async def test_assignment_only_to_staff_who_can_see_the_area(timed: TestClient) -> None:
    hub = hub_of(timed)
    ticket = await file(hub, await make_member(f"{KELURAHAN}/RT 001"))
    token = await staff_token(timed)
    colleague = await make_user(UserRole.STAFF, (KELURAHAN,))
    kecamatan = await make_user(UserRole.STAFF, ("Sungai Kunjang",))
    elsewhere = await make_user(UserRole.STAFF, (OTHER,))
    official = await make_user(UserRole.OFFICIAL, (KELURAHAN,))
    gone = await make_user(UserRole.STAFF, (KELURAHAN,))
    await User.filter(id=gone.id).update(is_active=False)
    url = f"/api/v1/complaints/{ticket.number}/assignee"

    async def assign(user_id: int | None) -> int:
        resp = await timed.put(url, json={"user_id": user_id}, headers=bearer(token))
        return resp.status

    for refused in (elsewhere, official, gone):
        assert await assign(refused.id) == 422
    assert await assign(999999) == 422
    assert (await Ticket.get(id=ticket.id)).assignee_id is None
    assert await assign(kecamatan.id) == 200
    assert await assign(colleague.id) == 200
    assert (await Ticket.get(id=ticket.id)).assignee_id == colleague.id
    listed = await timed.get(f"/api/v1/complaints?assignee={colleague.id}", headers=bearer(token))
    assert [c["number"] for c in (await listed.json())["complaints"]] == [ticket.number]
    assert await assign(None) == 200
    unassigned = await timed.get("/api/v1/complaints?assignee=none", headers=bearer(token))
    assert len((await unassigned.json())["complaints"]) == 1
    events = await TicketEvent.filter(ticket_id=ticket.id, kind="assigned").count()
    assert events == 3


async def test_lists_filter_in_the_database_and_page(timed: TestClient) -> None:
    hub = hub_of(timed)
    here = await make_member(f"{KELURAHAN}/RT 001")
    there = await make_member(f"{KELURAHAN}/RT 002")
    elsewhere = await make_member(f"{OTHER}/RT 001")
    complaint = await file(hub, here)
    service = await file(hub, there, kind=TicketKind.SERVICE, category="domisili")
    await file(hub, elsewhere)
    token = await staff_token(timed)

    async def numbers(query: str) -> list[str]:
        resp = await timed.get(f"/api/v1/complaints{query}", headers=bearer(token))
        assert resp.status == 200, await resp.text()
        return [c["number"] for c in (await resp.json())["complaints"]]

    assert await numbers("") == [service.number, complaint.number]  # newest first
    assert await numbers("?kind=layanan") == [service.number]
    assert await numbers(f"?area={KELURAHAN}/RT 001") == [complaint.number]
    assert await numbers("?status=diverifikasi") == []
    assert await numbers("?status=baru,diverifikasi&kind=aduan") == [complaint.number]
    assert await numbers("?category=domisili") == [service.number]
    first = await (await timed.get("/api/v1/complaints?limit=1", headers=bearer(token))).json()
    assert [c["number"] for c in first["complaints"]] == [service.number]
    second = await timed.get(
        f"/api/v1/complaints?limit=1&cursor={first['next']}", headers=bearer(token)
    )
    assert [c["number"] for c in (await second.json())["complaints"]] == [complaint.number]
    for bad in ("?kind=surat", "?overdue=ya", "?status=hilang", "?assignee=x", "?area=Nowhere"):
        resp = await timed.get(f"/api/v1/complaints{bad}", headers=bearer(token))
        assert resp.status == 422, bad
    resp = await timed.get(f"/api/v1/complaints?area={OTHER}", headers=bearer(token))
    assert resp.status == 403


async def test_overdue_counts_working_days_over_a_weekend_and_a_holiday(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    token = await staff_token(timed)
    # Thursday 7 March 2030, 10:00 WITA: three working days are Friday, Tuesday (Monday is a
    # holiday) and Wednesday, so it is due Wednesday 13 March at 16:00.
    clock.now = dt.datetime(2030, 3, 7, 10, 0, tzinfo=WITA).astimezone(dt.UTC)
    ticket = await file(hub, await make_member(f"{KELURAHAN}/RT 001"))
    assert ticket.due_at == dt.datetime(2030, 3, 13, 16, 0, tzinfo=WITA)

    async def state() -> tuple[bool, int, list[str]]:
        detail = await timed.get(f"/api/v1/complaints/{ticket.number}", headers=bearer(token))
        body = await detail.json()
        late = await timed.get("/api/v1/complaints?overdue=true", headers=bearer(token))
        listed = [c["number"] for c in (await late.json())["complaints"]]
        return body["overdue"], body["working_days_late"], listed

    clock.now = dt.datetime(2030, 3, 12, 9, 0, tzinfo=WITA).astimezone(dt.UTC)  # after the holiday
    assert await state() == (False, 0, [])
    clock.now = dt.datetime(2030, 3, 13, 16, 30, tzinfo=WITA).astimezone(dt.UTC)
    assert await state() == (True, 0, [ticket.number])  # late since closing time today
    clock.now = dt.datetime(2030, 3, 18, 9, 0, tzinfo=WITA).astimezone(dt.UTC)  # next Monday
    assert await state() == (True, 3, [ticket.number])  # Thursday, Friday, Monday
    on_time = await timed.get("/api/v1/complaints?overdue=false", headers=bearer(token))
    assert (await on_time.json())["complaints"] == []
    # Verified: the clock starts again for the next step, and it is no longer late.
    await patch(timed, token, ticket.number, status="diverifikasi")
    assert (await state())[:2] == (False, 0)


async def _stored_file(hub: Hub, ticket: Ticket, member: Member) -> FeedbackFile:
    hub.media.folder.mkdir(parents=True, exist_ok=True)
    name = f"fb-{ticket.id}.jpg"
    (hub.media.folder / name).write_bytes(JPEG)
    return await FeedbackFile.create(
        ticket=ticket, member=member, kind="photo", filename="got.jpg", content_type="image/jpeg",
        size=len(JPEG), sha256=hashlib.sha256(JPEG).hexdigest(), stored_name=name,
        created_at=hub.clock(),
    )  # fmt: skip


async def test_a_file_is_served_only_in_scope(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member)
    other_ticket = await file(hub, await make_member(f"{OTHER}/RT 001"))
    photo = await _stored_file(hub, ticket, member)
    other_photo = await _stored_file(hub, other_ticket, member)
    token, other = await staff_token(timed), await staff_token(timed, area=OTHER)
    detail = await (
        await timed.get(f"/api/v1/complaints/{ticket.number}", headers=bearer(token))
    ).json()
    assert detail["files"] == [
        {"id": photo.id, "kind": "photo", "content_type": "image/jpeg", "size": len(JPEG),
         "url": f"/api/v1/complaints/{ticket.number}/files/{photo.id}"},
    ]  # fmt: skip
    resp = await timed.get(detail["files"][0]["url"], headers=bearer(token))
    assert resp.status == 200 and await resp.read() == JPEG
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Content-Disposition"].startswith("inline")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    refused = [
        (other, f"/api/v1/complaints/{ticket.number}/files/{photo.id}"),
        (token, f"/api/v1/complaints/{ticket.number}/files/{other_photo.id}"),
        (token, f"/api/v1/complaints/{other_ticket.number}/files/{other_photo.id}"),
        (token, f"/api/v1/complaints/{ticket.number}/files/0"),
    ]
    for who, url in refused:
        resp = await timed.get(url, headers=bearer(who))
        assert resp.status == 404, url
        assert await resp.read() != JPEG
    (hub.media.folder / photo.stored_name).unlink()
    resp = await timed.get(detail["files"][0]["url"], headers=bearer(token))
    assert resp.status == 404


async def test_the_catalogue_is_listed(timed: TestClient) -> None:
    token = await staff_token(timed, role="official")
    services = await (await timed.get("/api/v1/services", headers=bearer(token))).json()
    domisili = next(s for s in services["services"] if s["key"] == "domisili")
    assert domisili["resolve_within_days"] == 2
    assert {"name": "KTP-el", "online": True} in domisili["requirements"]
    assert services["next"] is None
    page = await (await timed.get("/api/v1/services?limit=2", headers=bearer(token))).json()
    assert len(page["services"]) == 2 and page["next"]
    rest = await timed.get(f"/api/v1/services?cursor={page['next']}", headers=bearer(token))
    assert (await rest.json())["services"][0]["key"] == services["services"][2]["key"]
    categories = await (
        await timed.get("/api/v1/complaint-categories", headers=bearer(token))
    ).json()
    drainage = next(c for c in categories["categories"] if c["name"] == "drainase/banjir")
    assert drainage == {
        "name": "drainase/banjir",
        "verify_within_days": 3,
        "resolve_within_days": 5,
    }


async def test_answers_match_the_published_schemas(timed: TestClient) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{KELURAHAN}/RT 001")
    ticket = await file(hub, member, location={"latitude": -0.5, "longitude": 117.1})
    await _stored_file(hub, ticket, member)
    token = await staff_token(timed)
    document = await (await timed.get("/api/v1/openapi.json")).json()
    parameters = document["paths"]["/complaints/{ticket}"]["get"]["parameters"]
    assert parameters[0]["name"] == "ticket" and parameters[0]["schema"]["type"] == "string"

    def check(instance: Any, name: str) -> None:
        schema = {**document["components"]["schemas"][name], "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    url = f"/api/v1/complaints/{ticket.number}"
    note = await timed.post(f"{url}/notes", json={"text": "Cek"}, headers=bearer(token))
    check(await note.json(), "ComplaintEvent")
    code, moved = await patch(timed, token, ticket.number, status="diverifikasi", note="Ok")
    assert code == 200
    check(moved, "Complaint")
    listed = await (await timed.get("/api/v1/complaints", headers=bearer(token))).json()
    check(listed["complaints"][0], "ComplaintSummary")
    services = await (await timed.get("/api/v1/services", headers=bearer(token))).json()
    check(services["services"][0], "Service")
    categories = await (
        await timed.get("/api/v1/complaint-categories", headers=bearer(token))
    ).json()
    check(categories["categories"][0], "ComplaintCategory")
