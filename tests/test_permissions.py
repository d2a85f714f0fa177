"""Who may do what: every route × role × other area, for the JSON API and the dashboard.

Two kelurahan, A and B, in one kecamatan. B's staff made B's objects (a broadcast with a file, a
scheduled one for a saved group, one whose group was deleted afterwards, a saved group, a file, a
linked group chat); B's RT head filed a complaint with a photo and sent the inbox a question with a
voice note. Staff and an official of A then probe every route with B's objects: each probe must be
refused with the status in the table, tell nothing of B's RT heads, and change nothing. The
official also probes every route that writes with A's own objects: refused. Someone signed in to
nothing (no token, no session) probes every route too: 401 from the API, the login page (or 401
from the page's script endpoints) from the dashboard, nothing read or written. An admin runs the
same probes to show they can succeed at all.

Every route of the app must appear in these tables: a new route joins them, or this fails.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from hub.access.auth import create_token, open_session
from hub.app import HUB, create_app
from hub.feedback.complaints.tickets import file_ticket
from hub.web.dashboard.base import SESSION_COOKIE
from hub.web.permissions import Permission, permission_of, routes_of
from models import (
    Attachment,
    Broadcast,
    BroadcastArea,
    ChannelAddress,
    Conversation,
    Delivery,
    FeedbackFile,
    GroupChat,
    InboxDirection,
    InboxMessage,
    JoinRequest,
    MemberGroup,
    MemberGroupEntry,
    OutboundMessage,
    Poll,
    PollVote,
    ScorecardNote,
    Ticket,
    TicketEvent,
    TicketKind,
    User,
    UserRole,
)
from tests.conftest import make_config
from tests.factories import bearer, make_area, make_member, make_user

ANONYMOUS = "anonymous"  # the role of a request with no token and no session
KECAMATAN = "Sungai Kunjang"
A = f"{KECAMATAN}/Loa Bakung"
B = f"{KECAMATAN}/Karang Asam"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()


@pytest_asyncio.fixture
async def app_client(db: str, tmp_path: Path) -> AsyncIterator[TestClient]:
    config = make_config(broadcast={"media_dir": str(tmp_path / "media")})
    app = create_app(config, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


@dataclass
class World:
    """The two kelurahan and their objects; `ids[area][noun]` is the id of that area's one."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, dict[str, int]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # B's names and numbers: never shown to A


async def _api(client: TestClient, token: str, method: str, path: str, body: Any = None) -> Any:
    resp = await client.request(method, "/api/v1" + path, json=body, headers=bearer(token))
    text = await resp.text()
    assert resp.status < 300, (method, path, resp.status, text)
    return json.loads(text) if text else None


async def _upload(client: TestClient, token: str) -> int:
    form = FormData()
    form.add_field("file", PDF, filename="perwali.pdf", content_type="application/pdf")
    resp = await client.post("/api/v1/attachments", data=form, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def build_world(client: TestClient) -> World:
    world = World()
    for role, name, areas in (
        ("admin", "admin", ()),
        ("staff_a", "staff", (A,)),
        ("official_a", "official", (A,)),
        ("staff_b", "staff", (B,)),
    ):
        user = await make_user(UserRole(name), areas, username=role)
        world.users[role] = user
        world.tokens[role] = await create_token(user)
    for key, path in (("a", A), ("b", B)):
        token = world.tokens[f"staff_{key}"]
        member = await make_member(f"{path}/RT 001", name=f"Ketua {key.upper()}", phone=None)
        gone = await make_member(f"{path}/RT 002", name=f"Wakil {key.upper()}")
        attachment = await _upload(client, token)
        group = await _api(
            client,
            token,
            "POST",
            "/member-groups",
            {"name": f"Panitia {key}", "members": [member.id]},
        )
        temporary = await _api(
            client,
            token,
            "POST",
            "/member-groups",
            {"name": f"Sementara {key}", "members": [gone.id]},
        )
        sent = await _api(client, token, "POST", "/broadcasts", {
            "title": f"Kerja bakti {key}", "text": "Minggu pagi.",
            "audience": {"areas": [path]}, "attachments": [attachment],
        })  # fmt: skip
        scheduled = await _api(client, token, "POST", "/broadcasts", {
            "title": f"Rapat {key}", "text": "Jumat.", "audience": {"groups": [f"Panitia {key}"]},
            "send_at": LATER,
        })  # fmt: skip
        # A broadcast to a group deleted afterwards: its scope must stay as it was.
        orphan = await _api(client, token, "POST", "/broadcasts", {
            "title": f"Posyandu {key}", "text": "Selasa.",
            "audience": {"groups": [f"Sementara {key}"]},
        })  # fmt: skip
        await _api(client, token, "DELETE", f"/member-groups/{temporary['id']}")
        poll = await _api(client, token, "POST", "/polls", {
            "question": f"Jajak {key}?", "options": ["Ya", "Tidak"], "audience": {"areas": [path]},
        })  # fmt: skip
        chat = await GroupChat.create(
            channel="sandbox", address=f"grup-{key}", title=f"RT {key}",
            area=await make_area(path), linked_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        claim = await JoinRequest.create(
            channel="sandbox", address=f"asing-{key}", name="Orang asing", claimed_member=member
        )
        await Conversation.create(
            channel="sandbox", address=f"asing-{key}", flow="claim", step="pending",
            data={"member_id": member.id, "claimed_at": dt.datetime.now(dt.UTC).isoformat()},
        )  # fmt: skip
        question = await InboxMessage.create(
            member=member, area=await make_area(f"{path}/RT 001"), direction=InboxDirection.IN,
            channel="sandbox", address=f"sandbox-{member.id}", text=f"Pertanyaan {key}",
            created_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        voice = await _inbox_file(client, question, key)
        ticket, photo = await _complaint(client, member, key)
        world.ids[key] = {
            "ticket": ticket.id,
            "number": ticket.number,  # type: ignore[dict-item] - a ticket is named by its number
            "file": photo.id,
            "staff": world.users[f"staff_{key}"].id,
            "member": member.id,
            "message": question.id,
            "inbox_file": voice.id,
            "attachment": attachment,
            "group": group["id"],
            "broadcast": sent["id"],
            "scheduled": scheduled["id"],
            "orphan": orphan["id"],
            "chat": chat.id,
            "claim": claim.id,
            "poll": poll["id"],
        }
        if key == "b":
            world.secrets += [member.name, gone.name, member.phone or "", gone.phone or ""]
            world.secrets += [f"Kerja bakti {key}", f"Rapat {key}", f"Posyandu {key}"]
            world.secrets += [f"Pertanyaan {key}"]
            world.secrets += [f"Got mampet di RT {key}"]
            world.secrets += [f"Jajak {key}?"]
    return world


async def _complaint(client: TestClient, member: Any, key: str) -> tuple[Ticket, FeedbackFile]:
    """A complaint the area's RT head filed from the sandbox, with a photo in the media folder."""
    hub = client.app[HUB]
    now = dt.datetime.now(dt.UTC)
    ticket = await file_ticket(
        hub.tickets, kind=TicketKind.COMPLAINT, category="drainase/banjir", member=member,
        channel="sandbox", address=f"sandbox-{member.id}", description=f"Got mampet di RT {key}",
        now=now,
    )  # fmt: skip
    hub.media.folder.mkdir(parents=True, exist_ok=True)
    (hub.media.folder / f"foto-{key}.jpg").write_bytes(b"photo of a blocked drain, 36 bytes..")
    photo = await FeedbackFile.create(
        ticket=ticket, member=member, kind="photo", filename="got.jpg", content_type="image/jpeg",
        size=36, sha256="0" * 64, stored_name=f"foto-{key}.jpg", created_at=now,
    )  # fmt: skip
    return ticket, photo


async def _inbox_file(client: TestClient, question: InboxMessage, key: str) -> FeedbackFile:
    """A voice note the area's RT head sent with their inbox question, in the media folder."""
    folder = client.app[HUB].feedback_files.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"feedback-suara-{key}.ogg").write_bytes(b"OggS voice note of 30 bytes...")
    return await FeedbackFile.create(
        inbox_message=question, member_id=question.member_id, kind="voice",
        filename="voice.ogg", content_type="audio/ogg", size=30, sha256="0" * 64,
        stored_name=f"feedback-suara-{key}.ogg", created_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip


async def snapshot() -> Any:
    """Everything a refused probe must leave as it was."""
    return (
        await Broadcast.all().order_by("id").values_list(
            "id", "title", "text", "status", "audience", "revisions", "attachment_ids",
            "send_at", "paused_at", "cancelled_at",
        ),
        await BroadcastArea.all().order_by("id").values_list("broadcast_id", "area_key"),
        await Delivery.all().order_by("id").values_list("id", "status", "read_at"),
        await OutboundMessage.all().count(),
        await MemberGroup.all().order_by("id").values_list("id", "name", "area_key"),
        await MemberGroupEntry.all().order_by("id").values_list("group_id", "member_id"),
        await Attachment.all().count(),
        await ChannelAddress.all().order_by("id").values_list("id", "member_id", "opted_out_at"),
        await JoinRequest.all().order_by("id").values_list("id", "resolved_at"),
        await InboxMessage.all().order_by("id").values_list("id", "read_at", "ticket_id"),
        await Ticket.all().order_by("id").values_list("id", "status", "assignee_id", "reason"),
        await TicketEvent.all().count(),
        await Poll.all().order_by("id").values_list("id", "status", "closed_at"),
        await PollVote.all().count(),
        await ScorecardNote.all().order_by("id").values_list("id", "text", "updated_at"),
    )  # fmt: skip


# The JSON API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a probe names: one area's objects (`ids`), its key ("a", "b") and its path."""

    ids: dict[str, int]
    key: str
    path: str


Body = Callable[[Target], Any] | None


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # with {member}, {broadcast}, {group}, {area} filled from the probed area
    permission: Permission
    other_area: int | None  # what staff and officials of A get for B's objects (None: no area)
    body: Body = None  # the JSON body, from the probed area's objects
    target: str = "broadcast"  # which of the area's broadcasts {broadcast} names
    own_url: bool = False  # the URL names A's own objects; only the body names the other area's
    lists: tuple[str, str] = ("", "")  # a list: its key, and the noun none of B's may show
    admin_also: tuple[int, ...] = ()  # answers an admin may get beside 2xx

    def url(self, own: Target, probed: Target) -> str:
        named = own if self.own_url else probed
        values = {**named.ids, "broadcast": named.ids[self.target], "area": named.path}
        return "/api/v1" + self.path.format(**values)


def _broadcast_to(body: dict[str, Any]) -> Body:
    return lambda t: {"title": "Uji", "text": "Isi.", **body}


# fmt: off
API_PROBES = [
    Probe("GET", "/openapi.json", Permission.PUBLIC, None),
    Probe("GET", "/members?area={area}", Permission.READ, 403),
    Probe("GET", "/members", Permission.READ, None, lists=("members", "member")),
    Probe("GET", "/members/{member}", Permission.READ, 404),
    Probe("GET", "/members/{member}/invite", Permission.WRITE, 404),
    Probe("GET", "/broadcasts", Permission.READ, None, lists=("broadcasts", "broadcast")),
    Probe("POST", "/broadcasts", Permission.WRITE, 403,
          lambda t: {"title": "Uji", "text": "Isi.", "audience": {"areas": [t.path]}}),
    Probe("POST", "/broadcasts", Permission.WRITE, 422, lambda t: {
        "title": "Uji", "text": "Isi.", "audience": {"areas": [A]},
        "attachments": [t.ids["attachment"]],
    }),
    Probe("POST", "/broadcasts", Permission.WRITE, 403, lambda t: {
        "title": "Uji", "text": "Isi.", "audience": {"members": [t.ids["member"]]},
    }),
    Probe("POST", "/broadcasts", Permission.WRITE, 422, lambda t: {
        "title": "Uji", "text": "Isi.", "audience": {"groups": [f"Panitia {t.key}"]},
    }),
    Probe("POST", "/broadcasts/preview", Permission.READ, 403,
          lambda t: {"audience": {"areas": [t.path]}}),
    *[
        probe
        for target in ("broadcast", "orphan", "scheduled")
        for probe in (
            Probe("GET", "/broadcasts/{broadcast}", Permission.READ, 404, target=target),
            Probe("GET", "/broadcasts/{broadcast}/recipients", Permission.READ, 404, target=target),
            Probe("GET", "/broadcasts/{broadcast}/call-list", Permission.READ, 404, target=target),
        )
    ],
    Probe("PATCH", "/broadcasts/{broadcast}", Permission.WRITE, 404,
          lambda t: {"title": "Diubah"}, target="scheduled"),
    Probe("PATCH", "/broadcasts/{broadcast}", Permission.WRITE, 422,
          lambda t: {"attachments": [t.ids["attachment"]]}, target="scheduled", own_url=True),
    Probe("POST", "/broadcasts/{broadcast}/pause", Permission.WRITE, 404, target="scheduled"),
    Probe("POST", "/broadcasts/{broadcast}/resume", Permission.WRITE, 404, target="scheduled",
          admin_also=(409,)),  # not paused
    Probe("POST", "/broadcasts/{broadcast}/cancel", Permission.WRITE, 404, target="scheduled"),
    Probe("POST", "/broadcasts/{broadcast}/correction", Permission.WRITE, 404,
          lambda t: {"text": "Koreksi."}, target="orphan"),
    Probe("POST", "/broadcasts/{broadcast}/correction", Permission.WRITE, 404,
          lambda t: {"text": "Koreksi."}),
    Probe("GET", "/member-groups", Permission.READ, None, lists=("groups", "group")),
    Probe("POST", "/member-groups", Permission.WRITE, 403,
          lambda t: {"name": "Baru", "members": [t.ids["member"]]}),
    Probe("GET", "/member-groups/{group}", Permission.READ, 404),
    Probe("PUT", "/member-groups/{group}", Permission.WRITE, 404,
          lambda t: {"name": "Diambil", "members": []}),
    Probe("DELETE", "/member-groups/{group}", Permission.WRITE, 404,
          admin_also=(409,)),  # a scheduled broadcast goes to it
    Probe("POST", "/attachments", Permission.WRITE, None),
    Probe("GET", "/groups", Permission.READ, None, lists=("groups", "chat")),
    Probe("POST", "/groups/link-codes", Permission.WRITE, 403, lambda t: {"area": t.path}),
    Probe("GET", "/join-requests", Permission.WRITE, None, lists=("join_requests", "claim")),
    Probe("GET", "/inbox", Permission.READ, None, lists=("threads", "member")),
    Probe("GET", "/inbox?area={area}", Permission.READ, 403),
    Probe("GET", "/inbox/unread", Permission.READ, None),
    Probe("GET", "/inbox/members/{member}", Permission.READ, 404),
    Probe("POST", "/inbox/members/{member}/read", Permission.WRITE, 404),
    Probe("POST", "/inbox/members/{member}/reply", Permission.WRITE, 404,
          lambda t: {"text": "Balasan."}),
    Probe("POST", "/inbox/messages/{message}/ticket", Permission.WRITE, 404,
          lambda t: {"kind": "aduan", "category": "lainnya"}),
    Probe("GET", "/inbox/messages/{message}/files/{inbox_file}", Permission.READ, 404),
    Probe("GET", "/complaints", Permission.READ, None, lists=("complaints", "ticket")),
    Probe("GET", "/complaints?area={area}", Permission.READ, 403),
    Probe("GET", "/complaints/{number}", Permission.READ, 404),
    Probe("PATCH", "/complaints/{number}", Permission.WRITE, 404,
          lambda t: {"status": "diverifikasi", "note": "Dicek"}),
    Probe("POST", "/complaints/{number}/notes", Permission.WRITE, 404, lambda t: {"text": "x"}),
    Probe("POST", "/complaints/{number}/messages", Permission.WRITE, 404,
          lambda t: {"text": "Halo"}),
    Probe("PUT", "/complaints/{number}/assignee", Permission.WRITE, 404,
          lambda t: {"user_id": None}),
    # A's own ticket to B's staff: they cannot see its area (an admin is refused alike).
    Probe("PUT", "/complaints/{number}/assignee", Permission.WRITE, 422,
          lambda t: {"user_id": t.ids["staff"]}, own_url=True, admin_also=(422,)),
    Probe("GET", "/complaints/{number}/files/{file}", Permission.READ, 404),
    Probe("GET", "/services", Permission.READ, None),
    Probe("GET", "/complaint-categories", Permission.READ, None),
    Probe("GET", "/sandbox/members/{member}/messages", Permission.READ, 404),
    Probe("POST", "/sandbox/members/{member}/messages", Permission.WRITE, 404,
          lambda t: {"text": "halo"}),
    Probe("POST", "/sandbox/members/{member}/open", Permission.WRITE, 404),
    Probe("GET", "/participation", Permission.READ, None),
    Probe("GET", "/participation?area={area}", Permission.READ, 403),
    Probe("GET", "/participation/areas", Permission.READ, None),
    Probe("GET", "/participation/areas?area={area}", Permission.READ, 403),
    Probe("GET", "/participation/trend?area={area}", Permission.READ, 403),
    Probe("GET", "/participation/ranking?area={area}", Permission.READ, 403),
    Probe("GET", "/participation/members/{member}", Permission.READ, 404),
    Probe("GET", "/scorecard", Permission.READ, None),
    Probe("GET", "/scorecard?area={area}&month=2026-01", Permission.READ, 403),
    Probe("PUT", "/scorecard/notes", Permission.WRITE, 403,
          lambda t: {"area": t.path, "month": "2026-01", "text": "Tinjauan bulan ini"}),
    Probe("GET", "/sla", Permission.READ, None),
    Probe("GET", "/sla?area={area}", Permission.READ, 403),
    Probe("GET", "/polls", Permission.READ, None, lists=("polls", "poll")),
    Probe("POST", "/polls", Permission.WRITE, 403, lambda t: {
        "question": "Uji?", "options": ["Ya", "Tidak"], "audience": {"areas": [t.path]},
    }),
    Probe("GET", "/polls/{poll}", Permission.READ, 404),
    Probe("POST", "/polls/{poll}/close", Permission.WRITE, 404),
    # The public archive's check: nobody's objects, no area (B's broadcasts are unpublished).
    Probe("GET", "/public/verify?code=7QK-2M4", Permission.PUBLIC, None),
]
# fmt: on


def _shape(method: str, path: str) -> tuple[str, str]:
    """A route as (method, path with every {placeholder} alike and no query)."""
    return method, re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def _label(probe: Probe) -> str:
    where = f" {probe.target}" if "{broadcast}" in probe.path else ""
    return f"{probe.method} {probe.path}{where}{' own-url' if probe.own_url else ''}"


def _targets(world: World) -> dict[str, Target]:
    return {"a": Target(world.ids["a"], "a", A), "b": Target(world.ids["b"], "b", B)}


async def _send(
    client: TestClient, world: World, role: str, probe: Probe, area: str
) -> tuple[int, str]:
    targets = _targets(world)
    url = probe.url(targets["a"], targets[area])
    signed_in = role != ANONYMOUS and probe.permission != Permission.PUBLIC
    headers = bearer(world.tokens[role]) if signed_in else {}
    if probe.path == "/attachments":
        form = FormData()
        form.add_field("file", PDF, filename="lain.pdf", content_type="application/pdf")
        resp = await client.post(url, data=form, headers=headers)
    else:
        body = probe.body(targets[area]) if probe.body else None
        resp = await client.request(probe.method, url, json=body, headers=headers)
    return resp.status, await resp.text()


def test_every_api_route_is_probed_with_its_declared_permission() -> None:
    app = create_app(make_config(), manage_database=False, run_workers=False)
    declared = {
        _shape(method, path.removeprefix("/api/v1")): permission_of(handler)
        for method, path, handler in routes_of(app)
        if path.startswith("/api/v1/")
    }
    probed = {_shape(p.method, p.path): p.permission for p in API_PROBES}
    assert declared == probed


@pytest.mark.parametrize("probe", API_PROBES, ids=_label)
async def test_api_route_against_roles_and_areas(app_client: TestClient, probe: Probe) -> None:
    world = await build_world(app_client)
    before = await snapshot()
    for area in ("a", "b"):
        status, text = await _send(app_client, world, ANONYMOUS, probe, area)
        if probe.permission == Permission.PUBLIC:
            assert status < 300, text
        else:
            assert status == 401, text
            assert json.loads(text)["error"]["code"] == "unauthorized", text
            assert not any(secret in text for secret in world.secrets), text
        assert await snapshot() == before
    if probe.permission in (Permission.WRITE, Permission.ADMIN):
        # Officials write nothing, not even in their own area.
        status, text = await _send(app_client, world, "official_a", probe, "a")
        assert status == 403, text
        assert await snapshot() == before
    if probe.other_area is not None:
        for role in ("staff_a", "official_a"):
            status, text = await _send(app_client, world, role, probe, "b")
            writes = probe.permission != Permission.READ
            expected = 403 if role == "official_a" and writes else probe.other_area
            assert status == expected, (role, text)
            assert not any(secret in text for secret in world.secrets), (role, text)
            assert await snapshot() == before
    key, noun = probe.lists
    if key:
        readers = ("staff_a", "official_a") if probe.permission == Permission.READ else ("staff_a",)
        for role in readers:
            status, text = await _send(app_client, world, role, probe, "a")
            assert status == 200, text
            seen = {item["id"] for item in json.loads(text)[key]}
            own = {v for k, v in world.ids["a"].items() if k.startswith(noun) or k == noun}
            other = {v for k, v in world.ids["b"].items() if k == noun}
            if noun == "broadcast":
                own = {world.ids["a"][k] for k in ("broadcast", "scheduled", "orphan")}
                other = {world.ids["b"][k] for k in ("broadcast", "scheduled", "orphan")}
            assert own <= seen, (role, "A's own objects are listed")
            assert not seen & other, (role, text)
            assert not any(secret in text for secret in world.secrets), (role, text)
    # An admin may do it: the probe itself is sound.
    status, text = await _send(app_client, world, "admin", probe, "b")
    assert status < 300 or status in probe.admin_also, (status, text)


# The dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    permission: Permission
    other_area: int | None  # status for A's staff and official with B's objects
    form: Callable[[dict[str, int]], dict[str, str]] | None = None
    target: str = "broadcast"
    admin_also: tuple[int, ...] = ()  # answers an admin may get beside 2xx and 3xx

    def url(self, ids: dict[str, int]) -> str:
        return self.path.format(**(ids | {"broadcast": ids[self.target]}))


# fmt: off
DASHBOARD_PAGES = [
    Page("GET", "/", Permission.READ, None),
    Page("GET", "/login", Permission.PUBLIC, None),
    Page("POST", "/login", Permission.PUBLIC, None),
    Page("POST", "/logout", Permission.READ, None),
    Page("GET", "/broadcasts/live", Permission.READ, None),
    Page("GET", "/broadcasts/new", Permission.WRITE, None),
    Page(
        "POST",
        "/broadcasts/new",
        Permission.WRITE,
        422,
        lambda ids: {"title": "Uji", "text": "Isi", "areas": B, "ack_required": "1"},
    ),
    Page("GET", "/broadcasts/{broadcast}", Permission.READ, 404),
    Page("GET", "/broadcasts/{broadcast}", Permission.READ, 404, target="orphan"),
    Page("GET", "/broadcasts/{broadcast}/live", Permission.READ, 404, target="orphan"),
    Page("POST", "/broadcasts/{broadcast}/cancel", Permission.WRITE, 404, target="scheduled"),
    Page("POST", "/broadcasts/{broadcast}/pause", Permission.WRITE, 404, target="scheduled"),
    Page("POST", "/broadcasts/{broadcast}/resume", Permission.WRITE, 404, target="scheduled"),
    Page(
        "POST",
        "/broadcasts/{broadcast}/correction",
        Permission.WRITE,
        404,
        lambda ids: {"text": "Koreksi"},
        target="orphan",
    ),
    Page("GET", "/groups", Permission.READ, None),
    Page("POST", "/groups/link-codes", Permission.WRITE, 422, lambda ids: {"area": B}),
    Page("GET", "/member-groups", Permission.READ, None),
    Page("GET", "/member-groups?edit={group}", Permission.READ, None),
    Page(
        "POST",
        "/member-groups",
        Permission.WRITE,
        404,
        lambda ids: {"id": str(ids["group"]), "name": "Diambil"},
    ),
    Page("POST", "/member-groups/{group}/delete", Permission.WRITE, 404,
         admin_also=(409,)),  # a scheduled broadcast goes to it
    Page("GET", "/inbox", Permission.READ, None),
    Page("GET", "/inbox/{member}", Permission.READ, 404),
    Page("POST", "/inbox/{member}/reply", Permission.WRITE, 404, lambda ids: {"text": "Halo"}),
    Page("POST", "/inbox/messages/{message}/ticket", Permission.WRITE, 404,
         lambda ids: {"kind": "aduan", "category": "lainnya"}),
    Page("GET", "/inbox/messages/{message}/files/{inbox_file}", Permission.READ, 404),
    Page("GET", "/join-requests", Permission.WRITE, None),
    Page("POST", "/join-requests/{claim}/approve", Permission.WRITE, 404),
    Page("POST", "/join-requests/{claim}/refuse", Permission.WRITE, 404),
    Page("GET", "/complaints", Permission.READ, None),
    Page("GET", "/complaints/{number}", Permission.READ, 404),
    Page("POST", "/complaints/{number}/move", Permission.WRITE, 404,
         lambda ids: {"status": "diverifikasi"}),
    Page("POST", "/complaints/{number}/notes", Permission.WRITE, 404, lambda ids: {"text": "x"}),
    Page("POST", "/complaints/{number}/messages", Permission.WRITE, 404,
         lambda ids: {"text": "Halo"}),
    Page("POST", "/complaints/{number}/assignee", Permission.WRITE, 404,
         lambda ids: {"user_id": ""}),
    Page("GET", "/complaints/{number}/files/{file}", Permission.READ, 404),
    Page("GET", "/partisipasi", Permission.READ, None),
    Page("GET", f"/partisipasi?area={B}", Permission.READ, 403),
    Page("GET", "/partisipasi/peringkat", Permission.READ, None),
    Page("GET", f"/partisipasi/peringkat?area={B}", Permission.READ, 403),
    Page("GET", "/partisipasi/anggota/{member}", Permission.READ, 404),
    Page("GET", "/partisipasi/rapor", Permission.READ, None),
    Page("GET", f"/partisipasi/rapor?area={B}", Permission.READ, 403),
    Page("POST", "/partisipasi/rapor/catatan", Permission.WRITE, 403,
         lambda ids: {"area": B, "bulan": "2026-01", "text": "Catatan"}),
    Page("GET", "/partisipasi/laporan", Permission.READ, None),
    Page("GET", f"/partisipasi/laporan?area={B}", Permission.READ, 403),
    Page("GET", "/polls", Permission.READ, None),
    Page("GET", "/polls/new", Permission.WRITE, None),
    Page("POST", "/polls/new", Permission.WRITE, 422,
         lambda ids: {"question": "Uji?", "options": "Ya\nTidak", "areas": B}),
    Page("GET", "/polls/{poll}", Permission.READ, 404),
    Page("POST", "/polls/{poll}/close", Permission.WRITE, 404),
    Page("GET", "/static/{name}", Permission.PUBLIC, None),
    Page("GET", "/arsip", Permission.PUBLIC, None),
    Page("GET", "/arsip/{code}", Permission.PUBLIC, None),
    Page("GET", "/cek", Permission.PUBLIC, None),
    Page("POST", "/cek", Permission.PUBLIC, None),
    Page("GET", "/sandbox", Permission.READ, None),
    Page("GET", "/sandbox/{member}", Permission.READ, 404),
    Page("GET", "/sandbox/{member}/live", Permission.READ, 404),
    Page("POST", "/sandbox/{member}/act", Permission.WRITE, 404, lambda ids: {"text": "halo"}),
    Page("POST", "/sandbox/{member}/open", Permission.WRITE, 404),
]
# fmt: on


def test_every_dashboard_route_is_probed_with_its_declared_permission() -> None:
    app = create_app(make_config(), manage_database=False, run_workers=False)
    routes = {}
    for method, path, handler in routes_of(app):
        if path.startswith("/api/v1/"):
            continue
        if path.startswith(("/webhooks/", "/media/", "/healthz", "/readyz", "/metrics")):
            assert permission_of(handler) == Permission.PUBLIC, path  # their own secrets
            continue
        routes[_shape(method, path)] = permission_of(handler)
    assert routes == {_shape(p.method, p.path): p.permission for p in DASHBOARD_PAGES}


async def _as(client: TestClient, user: User | None) -> str:
    """Sign the client in as `user` (None: signed out); returns the session's CSRF token."""
    client.session.cookie_jar.clear()
    if user is None:
        return ""
    token, session = await open_session(user, 1, dt.datetime.now(dt.UTC))
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: token}, client.make_url("/"))
    return session.csrf_token


async def _visit(
    client: TestClient, world: World, role: str, page: Page, area: str
) -> tuple[int, str]:
    status, text, _ = await _visit_for_location(client, world, role, page, area)
    return status, text


async def _visit_for_location(
    client: TestClient, world: World, role: str, page: Page, area: str
) -> tuple[int, str, str]:
    ids = world.ids[area] | {"name": "app.css"}
    csrf = await _as(client, None if role == ANONYMOUS else world.users[role])
    if page.method == "GET":
        resp = await client.get(page.url(ids), allow_redirects=False)
    else:
        form = {"csrf_token": csrf, **(page.form(ids) if page.form else {})}
        resp = await client.post(page.url(ids), data=form, allow_redirects=False)
    return resp.status, await resp.text(), resp.headers.get("Location", "")


def _signed_out_answer(page: Page) -> int:
    """What a page answers someone signed in to nothing: the page's script endpoints (JSON)
    401, a page the way to the login (302, coming back after), a form's POST 303 to it."""
    if page.path.endswith(("/live", "/open")):
        return 401
    return 302 if page.method == "GET" else 303


@pytest.mark.parametrize(
    "page",
    [p for p in DASHBOARD_PAGES if p.permission != Permission.PUBLIC],
    ids=lambda p: f"{p.method} {p.path} {p.target}",
)
async def test_dashboard_route_against_roles_and_areas(app_client: TestClient, page: Page) -> None:
    world = await build_world(app_client)
    before = await snapshot()
    for area in ("a", "b"):
        status, text, location = await _visit_for_location(app_client, world, ANONYMOUS, page, area)
        assert status == _signed_out_answer(page), (area, status)
        assert status == 401 or location.startswith("/login"), location
        assert not any(secret in text for secret in world.secrets), page.path
        assert await snapshot() == before
    if page.permission == Permission.WRITE:
        status, text = await _visit(app_client, world, "official_a", page, "a")
        assert status == 403, text
        assert await snapshot() == before
    for role in ("staff_a", "official_a"):
        status, text = await _visit(app_client, world, role, page, "b")
        if page.other_area is not None:
            expected = 403 if role == "official_a" and page.permission == Permission.WRITE else None
            assert status == (expected or page.other_area), (role, status)
        else:
            assert status in (200, 303, 403), (role, status)
        assert not any(secret in text for secret in world.secrets), (role, page.path)
        assert await snapshot() == before
    status, text = await _visit(app_client, world, "admin", page, "b")
    assert status < 400 or status in page.admin_also, (status, text[:300])
