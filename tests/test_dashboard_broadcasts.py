"""The dashboard's broadcast page: pause and resume a scheduled broadcast, correct a sent one."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from aiohttp.test_utils import TestClient

from hub.access.auth import Scope
from hub.app import Hub
from hub.broadcast.service import BroadcastRequest, create_broadcast
from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    MemberGroup,
    MemberGroupEntry,
    MessageKind,
    OutboundMessage,
    UserRole,
)
from tests.factories import make_member
from tests.test_dashboard import compose, csrf_token, log_in

LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"


async def scheduled(hub: Hub) -> Broadcast:
    return await create_broadcast(
        hub.config,
        BroadcastRequest(
            title="Ronda",
            text="Jadwal ronda malam.",
            areas=[LOA_BAKUNG],
            send_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        ),
        user=None,
        scope=await Scope.of(None),
        enabled_channels=hub.enabled_channels,
        now=dt.datetime.now(dt.UTC),
    )


async def post(client: TestClient, url: str, **fields: str) -> tuple[int, str]:
    data = {"csrf_token": await csrf_token(client), **fields}
    resp = await client.post(url, data=data, allow_redirects=False)
    return resp.status, resp.headers.get("Location", "")


async def test_pause_and_resume_from_the_broadcast_page(client: TestClient, hub: Hub) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    broadcast = await scheduled(hub)
    url = f"/broadcasts/{broadcast.id}"
    page = await (await client.get(url)).text()
    assert f'action="{url}/pause"' in page and f'action="{url}/resume"' not in page

    status, location = await post(client, f"{url}/pause")
    assert status == 303
    page = await (await client.get(location)).text()
    assert "Pengumuman ditahan" in page and "Ditahan" in page
    assert f'action="{url}/resume"' in page
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.PAUSED

    status, location = await post(client, f"{url}/pause")  # paused already
    assert "notice=not_pausable" in location
    status, location = await post(client, f"{url}/resume")
    assert "notice=resumed" in location
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SCHEDULED


async def test_a_recurring_broadcast_shows_its_rhythm(client: TestClient, hub: Hub) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    series = await create_broadcast(
        hub.config,
        BroadcastRequest(
            title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], recurrence="0 8 * * 1"
        ),
        user=None,
        scope=await Scope.of(None),
        enabled_channels=hub.enabled_channels,
        now=dt.datetime.now(dt.UTC),
    )
    page = await (await client.get(f"/broadcasts/{series.id}")).text()
    assert "berulang (cron <code>0 8 * * 1</code>)" in page


async def test_correct_a_sent_broadcast_from_its_page(client: TestClient, hub: Hub) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    _, _, location = await compose(
        client, title="Kerja bakti", text="Pukul 07.00", areas=[LOA_BAKUNG]
    )
    while await hub.sender.run_once():
        pass
    broadcast = await Broadcast.get()
    url = f"/broadcasts/{broadcast.id}"
    page = await (await client.get(url)).text()
    assert f'action="{url}/correction"' in page

    status, location = await post(
        client, f"{url}/correction", title="Kerja bakti", text="Pukul 08.00\r\nbukan 07.00"
    )
    assert (status, location) == (303, f"{url}?notice=corrected")
    page = await (await client.get(location)).text()
    assert "Koreksi disimpan" in page and "Riwayat koreksi (1)" in page
    await broadcast.refresh_from_db()
    assert broadcast.text == "Pukul 08.00\nbukan 07.00"
    assert await OutboundMessage.filter(kind=MessageKind.CORRECTION).count() == 1  # sandbox edits

    status, location = await post(
        client, f"{url}/correction", title="Kerja bakti", text="Pukul 08.00\nbukan 07.00"
    )
    assert "notice=nothing_to_correct" in location
    status, _ = await post(client, f"{url}/correction", title="Kerja bakti", text="  ")
    assert status == 422
    assert await OutboundMessage.filter(kind=MessageKind.CORRECTION).count() == 1


async def test_officials_see_no_pause_or_correction(client: TestClient, hub: Hub) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    broadcast = await scheduled(hub)
    await log_in(client, UserRole.OFFICIAL)
    url = f"/broadcasts/{broadcast.id}"
    page = await (await client.get(url)).text()
    assert "/pause" not in page
    status, _ = await post(client, f"{url}/pause")
    assert status == 403
    assert (await Broadcast.get(id=broadcast.id)).status == BroadcastStatus.SCHEDULED


# Composing: when, groups, preview ------------------------------------------------------------


async def test_compose_schedules_at_a_local_time(client: TestClient, hub: Hub) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    status, _, location = await compose(
        client, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], when="at",
        send_at="2035-01-02T08:00",
    )  # fmt: skip
    assert status == 303, location
    broadcast = await Broadcast.get()
    assert location == f"/broadcasts/{broadcast.id}?notice=scheduled"
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.send_at == dt.datetime(2035, 1, 2, 8, 0, tzinfo=hub.config.tz)


async def test_compose_a_recurring_broadcast(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    status, _, _ = await compose(
        client, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], when="repeat",
        cron="0  8 * * 1",
    )  # fmt: skip
    assert status == 303
    assert (await Broadcast.get()).recurrence_cron == "0 8 * * 1"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"when": "at", "send_at": ""}, "Isi tanggal dan jam kirim."),
        ({"when": "at", "send_at": "besok"}, "tidak dapat dibaca"),
        ({"when": "at", "send_at": "2020-01-02T08:00"}, "Waktu kirim sudah lewat."),
        ({"when": "repeat", "cron": ""}, "Isi jadwal cron"),
        ({"when": "repeat", "cron": "0 8 31 2 *"}, "Jadwal cron tidak valid"),
        ({"when": "repeat", "cron": "* * * * *"}, "sekali per jam"),
        ({"groups": ["Tidak ada"]}, "Grup yang dipilih tidak ditemukan"),
    ],
)
async def test_compose_refuses_impossible_schedules_and_keeps_the_values(
    client: TestClient, fields: dict[str, object], says: str
) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    status, page, _ = await compose(
        client, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], **fields
    )
    assert status == 422
    assert says in html.unescape(page)
    assert 'value="Ronda"' in page
    assert await Broadcast.all().count() == 0


async def test_compose_preview_counts_without_creating_anything(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    opted_out = await make_member(f"{LOA_BAKUNG}/RT 002")
    await ChannelAddress.filter(member=opted_out).update(opted_out_at=dt.datetime.now(dt.UTC))
    group = await MemberGroup.create(name="Panitia")
    outside = await make_member("Sungai Kunjang/Karang Asam/RT 001")
    await MemberGroupEntry.create(group=group, member=outside)
    await log_in(client)
    page = await (await client.get("/broadcasts/new")).text()
    assert 'name="groups" value="Panitia"' in page

    status, page, _ = await compose(
        client, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], groups=["Panitia"],
        action="preview",
    )  # fmt: skip
    assert status == 200
    assert "<strong>3 penerima</strong>: Sandbox 2." in page
    assert "1 berhenti berlangganan" in page
    assert await Broadcast.all().count() == 0


# Saved member groups ---------------------------------------------------------------------------


async def test_staff_save_edit_and_delete_a_member_group(client: TestClient) -> None:
    first = await make_member(f"{LOA_BAKUNG}/RT 001", name="Budi")
    second = await make_member(f"{LOA_BAKUNG}/RT 002", name="Siti")
    await log_in(client)
    page = await (await client.get("/member-groups")).text()
    assert "Belum ada kelompok penerima." in page

    status, location = await post(client, "/member-groups", name="Panitia", members=str(first.id))
    assert (status, location) == (303, "/member-groups?notice=saved")
    group = await MemberGroup.get()
    page = await (await client.get(f"/member-groups?edit={group.id}")).text()
    assert "Budi" in page and "Ubah kelompok" in page

    data = [
        ("csrf_token", await csrf_token(client)),
        ("id", str(group.id)),
        ("name", "Panitia 17 Agustus"),
        ("members", str(first.id)),
        ("members", str(second.id)),
    ]
    resp = await client.post("/member-groups", data=data, allow_redirects=False)
    assert resp.status == 303
    await group.refresh_from_db()
    assert group.name == "Panitia 17 Agustus"
    assert await MemberGroupEntry.filter(group=group).count() == 2

    status, _ = await post(client, "/member-groups", name="panitia 17 agustus")
    assert status == 409
    status, _ = await post(client, "/member-groups", name="   ")
    assert status == 422
    status, location = await post(client, f"/member-groups/{group.id}/delete")
    assert location == "/member-groups?notice=deleted"
    assert await MemberGroup.all().count() == 0


async def test_officials_cannot_change_member_groups(client: TestClient) -> None:
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client, UserRole.OFFICIAL)
    page = await (await client.get("/member-groups")).text()
    assert "Kelompok baru" not in page
    status, _ = await post(client, "/member-groups", name="Panitia", members=str(member.id))
    assert status == 403
    assert await MemberGroup.all().count() == 0


async def test_compose_with_the_report_button(client: TestClient) -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await log_in(client)
    page = await (await client.get("/broadcasts/new")).text()
    assert 'name="report_button"' in page and "Laporkan masalah" in page
    status, _, location = await compose(
        client, title="Ronda", text="Jadwal ronda.", areas=[LOA_BAKUNG], report_button="1"
    )
    assert status == 303, location
    broadcast = await Broadcast.get()
    assert broadcast.report_button is True
    shown = html.unescape(await (await client.get(f"/broadcasts/{broadcast.id}")).text())
    assert 'dengan tombol "Laporkan masalah"' in shown
