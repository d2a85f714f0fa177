"""Reminders and escalation: timing on a controlled clock, exactly once, and the call list."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from channels.sandbox import SandboxChannel
from hub.app import HUB, Hub, create_app
from hub.broadcast.deliveries import ack_payload
from hub.broadcast.reminders import NOTICE_LIMIT, CallRow, call_list_messages, queue_reminders
from hub.core.config import ConfigError, load_config
from jobs.reminders import escalate_silent, send_reminders
from models import (
    Broadcast,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    OutboxState,
    SeatRole,
    UserRole,
)
from tests.conftest import (
    CLOCK_START,
    FakeClock,
    make_config,
    whatsapp_config,
    whatsapp_on_the_hub_clock,
)
from tests.factories import PASSWORD, bearer, make_member, make_token, make_user
from tests.fake_graph import FakeGraphAPI, signed_webhook, status_notification
from tests.fake_graph import status as status_entry
from tests.test_whatsapp_hub import BUDI, SITI, SUMMARY, TEXT, TITLE, whatsapp_member

WITA = zoneinfo.ZoneInfo("Asia/Makassar")
LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"
KARANG_ASAM = "Sungai Kunjang/Karang Asam"
RW1 = f"{LOA_BAKUNG}/RW 01"


@pytest.fixture(autouse=True)
def sandbox_on_the_test_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[None]:
    """The simulated phones stamp sends and taps with the test's clock, like the hub does."""
    monkeypatch.setattr("channels.sandbox._now", clock)
    yield


def hub_of(client: TestClient) -> Hub:
    return client.app[HUB]


def sandbox(hub: Hub) -> SandboxChannel:
    channel = hub.channels["sandbox"]
    assert isinstance(channel, SandboxChannel)
    return channel


def phone(hub: Hub, member: Member) -> list[str]:
    """The texts on the member's simulated phone, oldest first."""
    return [m.text for m in sandbox(hub).messages(f"sandbox-{member.id}")]


async def send_all(hub: Hub) -> None:
    while await hub.sender.run_once():
        pass


async def announce(
    client: TestClient, *, areas: list[str] | None = None, ack_required: bool = True
) -> int:
    """A broadcast sent now to the areas (Loa Bakung by default), with every message sent."""
    resp = await client.post(
        "/api/v1/broadcasts",
        json={
            "title": "Kerja bakti",
            "text": "Kerja bakti hari Minggu pukul 07.00 WITA.",
            "audience": {"areas": areas or [LOA_BAKUNG]},
            "ack_required": ack_required,
        },
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    await send_all(hub_of(client))
    return int((await resp.json())["id"])


async def acknowledge(hub: Hub, member: Member) -> None:
    """The member taps "Sudah dibaca" under the announcement."""
    delivery = await Delivery.get(member_id=member.id)
    await sandbox(hub).act(f"sandbox-{member.id}", button=ack_payload(delivery.id))
    await hub.tasks.wait()
    await send_all(hub)  # the thanks and the edited announcement
    assert (await Delivery.get(id=delivery.id)).status == DeliveryStatus.ACKNOWLEDGED


async def reminders_of(member: Member) -> list[OutboundMessage]:
    return list(
        await OutboundMessage.filter(member_id=member.id, kind=MessageKind.REMINDER).order_by("id")
    )


# Reminders ----------------------------------------------------------------------------------


async def test_one_reminder_after_24_hours_to_those_who_did_not_confirm(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    silent = await make_member(f"{LOA_BAKUNG}/RT 001")
    confirmed = await make_member(f"{LOA_BAKUNG}/RT 002")
    broadcast_id = await announce(timed)
    await acknowledge(hub, confirmed)

    clock.advance(hours=23, minutes=59)
    assert await send_reminders(hub) == {"queued": 0, "errors": 0}
    clock.advance(minutes=1)
    assert await send_reminders(hub) == {"queued": 1, "errors": 0}
    delivery = await Delivery.get(member_id=silent.id)
    assert delivery.reminders == 0  # counted when it is sent, not when it is queued

    await send_all(hub)
    texts = phone(hub, silent)
    assert len(texts) == 2
    assert "Pengingat" in texts[1] and '"Kerja bakti"' in texts[1]
    [reminder] = sandbox(hub).messages(f"sandbox-{silent.id}")[1:]
    assert [(b.label, b.payload) for b in reminder.buttons] == [
        ("✅ Sudah dibaca", ack_payload(delivery.id))
    ]
    assert not any("Pengingat" in text for text in phone(hub, confirmed))
    assert (await Delivery.get(id=delivery.id)).reminders == 1

    # The job runs again, later: still one reminder.
    clock.advance(hours=3)
    assert await send_reminders(hub) == {"queued": 0, "errors": 0}
    await send_all(hub)
    assert len(phone(hub, silent)) == 2
    assert len(await reminders_of(silent)) == 1

    resp = await timed.get(
        f"/api/v1/broadcasts/{broadcast_id}/recipients", headers=bearer(await make_token())
    )
    reminders = {r["member_id"]: r["reminders"] for r in (await resp.json())["recipients"]}
    assert reminders == {silent.id: 1, confirmed.id: 0}

    # The reminder's own button confirms the announcement.
    await sandbox(hub).act(f"sandbox-{silent.id}", button=ack_payload(delivery.id))
    await hub.tasks.wait()
    assert (await Delivery.get(id=delivery.id)).status == DeliveryStatus.ACKNOWLEDGED


async def test_two_processes_queue_each_reminder_once(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    members = [await make_member(f"{LOA_BAKUNG}/RT {n:03d}") for n in range(1, 8)]
    await announce(timed)
    clock.advance(hours=24)

    async def one_process() -> int:
        summary = await queue_reminders(hub.config, clock(), hub.enabled_channels, batch_size=3)
        return summary["queued"]

    first, second = await asyncio.gather(one_process(), one_process())
    assert first + second == len(members)
    assert await one_process() == 0
    for member in members:
        assert len(await reminders_of(member)) == 1
    await send_all(hub)
    assert [len(phone(hub, m)) for m in members] == [2] * len(members)


async def test_no_reminder_without_a_confirmation_to_wait_for(
    timed: TestClient, clock: FakeClock
) -> None:
    """Broadcasts that ask for no confirmation, and cancelled ones, get no reminders."""
    hub = hub_of(timed)
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")
    await announce(timed, ack_required=False)
    # Cancelled while sending: one copy left, the other never will.
    hub.sender.batch_size = 1
    cancelled_id = await announce_without_sending(timed)
    assert await hub.sender.run_once() == 1
    resp = await timed.post(
        f"/api/v1/broadcasts/{cancelled_id}/cancel", headers=bearer(await make_token())
    )
    assert resp.status == 200, await resp.text()
    assert await Delivery.filter(broadcast_id=cancelled_id, status=DeliveryStatus.SENT).count() == 1

    clock.advance(hours=30)
    assert (await send_reminders(hub))["queued"] == 0
    assert await OutboundMessage.filter(kind=MessageKind.REMINDER).count() == 0


async def announce_without_sending(client: TestClient) -> int:
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": "Ronda", "text": "Jadwal ronda.", "audience": {"areas": [LOA_BAKUNG]}},
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    return int((await resp.json())["id"])


async def test_an_opted_out_member_is_not_reminded_until_they_opt_in(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await announce(timed)
    await sandbox(hub).act(f"sandbox-{member.id}", text="BERHENTI")
    await hub.tasks.wait()
    await send_all(hub)
    clock.advance(hours=24)
    assert (await send_reminders(hub))["queued"] == 0
    await sandbox(hub).act(f"sandbox-{member.id}", text="MULAI")
    await hub.tasks.wait()
    assert (await send_reminders(hub))["queued"] == 1


async def test_a_disabled_channel_keeps_its_reminders_waiting(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await announce(timed)
    clock.advance(hours=24)
    assert await queue_reminders(hub.config, clock(), set()) == {"queued": 0}
    assert (await queue_reminders(hub.config, clock(), {"telegram"}))["queued"] == 0
    assert (await Delivery.get(member_id=member.id)).reminder_queued_at is None
    clock.advance(hours=5)
    assert (await queue_reminders(hub.config, clock(), {"sandbox", "telegram"}))["queued"] == 1


async def test_reminders_wait_out_the_quiet_hours(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    # Sent now at 22:30 WITA (staff may send now at night); its reminder is due at 22:30 too.
    clock.now = dt.datetime(2030, 3, 4, 22, 30, tzinfo=WITA).astimezone(dt.UTC)
    await announce(timed)
    clock.advance(hours=24)
    assert await send_reminders(hub) == {"queued": 0, "held_for_quiet_hours": 1}
    clock.now = dt.datetime(2030, 3, 6, 5, 59, tzinfo=WITA).astimezone(dt.UTC)
    assert (await send_reminders(hub))["held_for_quiet_hours"] == 1
    assert await OutboundMessage.filter(kind=MessageKind.REMINDER).count() == 0
    clock.now = dt.datetime(2030, 3, 6, 6, 0, tzinfo=WITA).astimezone(dt.UTC)
    assert (await send_reminders(hub))["queued"] == 1
    await send_all(hub)
    assert (await Delivery.get(member_id=member.id)).reminders == 1


@pytest.mark.parametrize(
    "config",
    [make_config(broadcast={"reminder_after_hours": 0, "escalate_after_hours": 0})],
)
async def test_zero_hours_turns_reminders_and_escalation_off(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(LOA_BAKUNG, role=SeatRole.STAFF)
    await announce(timed)
    clock.advance(days=3)
    assert await send_reminders(hub) == {"queued": 0}
    assert await escalate_silent(hub) == {"escalated": 0}
    assert (
        await OutboundMessage.filter(kind__in=[MessageKind.REMINDER, MessageKind.NOTICE]).count()
        == 0
    )
    assert (await Broadcast.get()).escalated_at is None


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("reminder_after_hours = 0\nescalate_after_hours = 0\n", None),
        ("reminder_after_hours = 0\nescalate_after_hours = 12\n", None),
        ("reminder_after_hours = 24\nescalate_after_hours = 0\n", None),
        (
            "reminder_after_hours = 24\nescalate_after_hours = 12\n",
            "broadcast.escalate_after_hours",
        ),
        ("reminder_after_hours = -1\n", "broadcast.reminder_after_hours"),
    ],
)
def test_reminder_and_escalation_hours_in_the_config(
    tmp_path: Path, toml: str, error: str | None
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[broadcast]\n" + toml)
    if error is None:
        load_config(path, environ={})
    else:
        with pytest.raises(ConfigError) as caught:
            load_config(path, environ={})
        assert caught.value.key == error


# WhatsApp: outside the 24-hour window the reminder goes as its approved template ------------


@pytest_asyncio.fixture
async def wa_timed(db: str, graph: FakeGraphAPI) -> AsyncIterator[tuple[TestClient, FakeClock]]:
    # The channel stamps its sends with the real time; the test clock starts there.
    clock = FakeClock(dt.datetime.now(dt.UTC))
    config = whatsapp_config(graph).replace("broadcast", quiet_hours="")
    app = create_app(config, clock=clock, manage_database=False, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client, clock


async def test_whatsapp_reminder_outside_the_window_is_the_template(
    wa_timed: tuple[TestClient, FakeClock], graph: FakeGraphAPI
) -> None:
    client, clock = wa_timed
    hub = hub_of(client)
    member = await whatsapp_member(SITI)  # never wrote: the window is closed
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": TITLE, "text": TEXT, "audience": {"members": [member.id]}},
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    await send_all(hub)
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT

    clock.advance(hours=24, minutes=1)
    assert (await send_reminders(hub))["queued"] == 1
    await send_all(hub)
    first, sent = graph.messages(SITI)
    assert first["template"]["name"] == "pengumuman_baru"
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "pengingat_pengumuman"
    components = {c["type"]: c for c in sent["template"]["components"]}
    assert [p["text"] for p in components["body"]["parameters"]] == [TITLE, SUMMARY]
    assert components["button"]["parameters"] == [
        {"type": "payload", "payload": ack_payload(delivery.id)}
    ]
    [reminder] = await reminders_of(member)
    assert (reminder.state, reminder.used_template) == (OutboxState.SENT, True)
    assert (await Delivery.get(id=delivery.id)).reminders == 1


async def test_a_failed_reminder_leaves_the_announcement_as_it_was(
    wa_timed: tuple[TestClient, FakeClock], graph: FakeGraphAPI
) -> None:
    client, clock = wa_timed
    hub = hub_of(client)
    member = await whatsapp_member(SITI)
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": TITLE, "text": TEXT, "audience": {"members": [member.id]}},
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    await send_all(hub)
    clock.advance(hours=24, minutes=1)
    await send_reminders(hub)
    await send_all(hub)
    [reminder] = await reminders_of(member)
    failed = status_notification(
        [status_entry(reminder.external_id or "", "failed", error_code=131026)]
    )
    body, headers = signed_webhook(failed)
    assert (await client.post("/webhooks/whatsapp", data=body, headers=headers)).status == 200
    await hub.tasks.wait()
    await hub.dispatcher.process_pending()
    delivery = await Delivery.get(member_id=member.id)
    assert delivery.status == DeliveryStatus.SENT  # still waiting for the confirmation
    assert await OutboundMessage.filter(member_id=member.id).count() == 2  # no fallback resend


async def test_a_reminder_queued_before_the_confirmation_is_not_sent(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    await announce(timed)
    clock.advance(hours=24, minutes=1)
    assert (await send_reminders(hub))["queued"] == 1
    await acknowledge(hub, member)  # taps "Sudah dibaca" before the sender reached the reminder
    [reminder] = await reminders_of(member)
    assert reminder.state == OutboxState.CANCELLED
    assert not any("🔔" in text for text in phone(hub, member))
    assert (await Delivery.get(member_id=member.id)).reminders == 0


# Escalation ---------------------------------------------------------------------------------


async def kelurahan_roster() -> dict[str, Member]:
    """Two kelurahan: Loa Bakung with an RW (and its head) and an RT directly under it."""
    return {
        "rt1": await make_member(f"{RW1}/RT 001", name="Budi"),  # stays silent
        "rt2": await make_member(f"{RW1}/RT 002", name="Siti"),  # confirms
        "rt3": await make_member(f"{LOA_BAKUNG}/RT 003", name="Ahmad", channels=()),  # fails
        "ka1": await make_member(f"{KARANG_ASAM}/RT 001", name="Dewi"),  # stays silent
        "rw_head": await make_member(RW1, name="Pak RW", role=SeatRole.KETUA_RW),
        "lb_staff": await make_member(LOA_BAKUNG, name="Staf LB", role=SeatRole.STAFF),
        "ka_staff": await make_member(KARANG_ASAM, name="Staf KA", role=SeatRole.STAFF),
        "camat_staff": await make_member("Sungai Kunjang", name="Staf Kec", role=SeatRole.STAFF),
    }


RT_AREAS = [f"{RW1}/RT 001", f"{RW1}/RT 002", f"{LOA_BAKUNG}/RT 003", f"{KARANG_ASAM}/RT 001"]


def links(member: Member) -> tuple[str, str]:
    assert member.phone is not None
    return f"tel:{member.phone}", f"https://wa.me/{member.phone.removeprefix('+')}"


async def test_escalation_at_48_hours_tells_the_rw_head_and_the_staff_once(
    timed: TestClient, clock: FakeClock
) -> None:
    hub = hub_of(timed)
    people = await kelurahan_roster()
    broadcast_id = await announce(timed, areas=RT_AREAS)
    await acknowledge(hub, people["rt2"])
    assert (await Delivery.get(member_id=people["rt3"].id)).status == DeliveryStatus.FAILED

    clock.advance(hours=47, minutes=59)
    assert (await escalate_silent(hub))["escalated"] == 0
    clock.advance(minutes=1)
    summary = await escalate_silent(hub)
    assert summary["escalated"] == 1
    assert summary["silent"] == 3  # Budi, Ahmad (failed) and Dewi
    assert summary["notices"] == 5  # RW head 1, Loa Bakung staff 1, Karang Asam 1, kecamatan 2
    await send_all(hub)

    [rw_list] = phone(hub, people["rw_head"])
    assert "Daftar telepon" in rw_list and '"Kerja bakti"' in rw_list
    assert "Budi" in rw_list and "RT 001" in rw_list
    assert all(link in rw_list for link in links(people["rt1"]))
    assert "Ahmad" not in rw_list and "Dewi" not in rw_list  # not in this RW

    [lb_list] = phone(hub, people["lb_staff"])
    assert "Budi" in lb_list and "Ahmad" in lb_list and "Dewi" not in lb_list
    assert "Siti" not in lb_list  # she confirmed
    assert all(link in lb_list for link in links(people["rt3"]))
    assert "gagal terkirim" in lb_list  # Ahmad's announcement never reached him

    [ka_list] = phone(hub, people["ka_staff"])
    assert "Dewi" in ka_list and "Budi" not in ka_list
    camat = phone(hub, people["camat_staff"])
    assert len(camat) == 2 and sorted(camat) == sorted([lb_list, ka_list])

    broadcast = await Broadcast.get(id=broadcast_id)
    assert broadcast.escalated_at == clock()
    clock.advance(hours=1)
    assert (await escalate_silent(hub))["escalated"] == 0
    # (The other notice is the confirmed announcement edited in place.)
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE, edit_of__isnull=True).count() == 5


async def test_a_call_list_outside_the_whatsapp_window_is_one_template(
    wa_timed: tuple[TestClient, FakeClock], graph: FakeGraphAPI
) -> None:
    client, clock = wa_timed
    hub = hub_of(client)
    silent = await whatsapp_member(SITI)  # in RT 001 of Loa Bakung; never confirms
    staff = await make_member(LOA_BAKUNG, name="Staf LB", role=SeatRole.STAFF, channels=())
    await ChannelAddress.create(member=staff, channel="whatsapp", address=BUDI)  # never wrote
    staff.preferred_channel = "whatsapp"
    await staff.save()
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": TITLE, "text": TEXT, "audience": {"members": [silent.id]}},
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    broadcast_id = int((await resp.json())["id"])
    await send_all(hub)

    clock.advance(hours=48, minutes=1)
    summary = await escalate_silent(hub)
    assert (summary["escalated"], summary["notices"]) == (1, 1)
    await send_all(hub)
    [notice] = graph.messages(BUDI)
    assert notice["type"] == "template"
    assert notice["template"]["name"] == "daftar_telepon"
    [body] = [c for c in notice["template"]["components"] if c["type"] == "body"]
    url = f"{hub.config.hub.public_url.rstrip('/')}/broadcasts/{broadcast_id}#daftar-telepon"
    assert [p["text"] for p in body["parameters"]] == ["1", TITLE, url]
    sent = await OutboundMessage.get(kind=MessageKind.NOTICE, address=BUDI)
    assert (sent.state, sent.used_template) == (OutboxState.SENT, True)
    assert url in sent.text  # what goes if the window is open when it is sent


@pytest_asyncio.fixture
async def wa_on_the_hub_clock(
    db: str, graph: FakeGraphAPI
) -> AsyncIterator[tuple[TestClient, FakeClock]]:
    """The hub with WhatsApp on the hub's clock, which the test moves."""
    clock = FakeClock(CLOCK_START)
    config = whatsapp_config(graph).replace("broadcast", quiet_hours="")
    app = create_app(config, clock=clock, manage_database=False, run_workers=False)
    whatsapp_on_the_hub_clock(app[HUB])
    async with TestClient(TestServer(app)) as client:
        yield client, clock


@pytest.mark.parametrize(
    ("wrote", "as_template"),
    [
        # Inside 24 hours but past the channel's 5-minute margin: the hub queued the list as free
        # text, WhatsApp refused it as outside the window (for good) and the staff got nothing.
        (dt.timedelta(hours=23, minutes=58), True),
        (dt.timedelta(hours=23, minutes=55), True),  # the margin's edge counts as closed
        (dt.timedelta(hours=23, minutes=54), False),  # inside: the list itself
    ],
)
async def test_a_call_list_near_the_end_of_the_window_is_sent(
    wa_on_the_hub_clock: tuple[TestClient, FakeClock],
    graph: FakeGraphAPI,
    wrote: dt.timedelta,
    as_template: bool,
) -> None:
    client, clock = wa_on_the_hub_clock
    hub = hub_of(client)
    silent = await whatsapp_member(SITI)  # in RT 001 of Loa Bakung; never confirms
    staff = await make_member(LOA_BAKUNG, name="Staf LB", role=SeatRole.STAFF, channels=())
    await staff.update_from_dict({"preferred_channel": "whatsapp"}).save()
    resp = await client.post(
        "/api/v1/broadcasts",
        json={"title": TITLE, "text": TEXT, "audience": {"members": [silent.id]}},
        headers=bearer(await make_token()),
    )
    assert resp.status == 201, await resp.text()
    broadcast_id = int((await resp.json())["id"])
    await send_all(hub)

    clock.advance(hours=48, minutes=1)
    await ChannelAddress.create(
        member=staff, channel="whatsapp", address=BUDI, last_inbound_at=clock() - wrote
    )
    summary = await escalate_silent(hub)
    assert (summary["escalated"], summary["notices"]) == (1, 1)
    queued = await OutboundMessage.get(kind=MessageKind.NOTICE, address=BUDI)
    url = f"{hub.config.hub.public_url.rstrip('/')}/broadcasts/{broadcast_id}#daftar-telepon"
    if as_template:
        assert (queued.template, queued.template_params) == ("call_list", ["1", TITLE, url])
    else:
        assert (queued.template, queued.template_params) == (None, None)

    await send_all(hub)
    [sent_body] = graph.messages(BUDI)
    sent = await OutboundMessage.get(id=queued.id)
    assert (sent.state, sent.failure_reason) == (OutboxState.SENT, None)
    assert sent.used_template is as_template
    if as_template:
        assert sent_body["type"] == "template"
        assert sent_body["template"]["name"] == "daftar_telepon"
    else:
        assert sent_body["type"] == "text"
        assert "Daftar telepon" in sent_body["text"]["body"]


async def test_no_call_list_when_everyone_confirmed(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    member = await make_member(f"{LOA_BAKUNG}/RT 001")
    staff = await make_member(LOA_BAKUNG, role=SeatRole.STAFF)
    broadcast_id = await announce(timed, areas=[f"{LOA_BAKUNG}/RT 001"])
    await acknowledge(hub, member)
    clock.advance(hours=48)
    summary = await escalate_silent(hub)
    assert (summary["escalated"], summary["silent"], summary["notices"]) == (1, 0, 0)
    await send_all(hub)
    assert phone(hub, staff) == []
    assert (await Broadcast.get(id=broadcast_id)).escalated_at is not None


async def test_escalation_waits_out_the_quiet_hours(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    await make_member(f"{LOA_BAKUNG}/RT 001")
    staff = await make_member(LOA_BAKUNG, role=SeatRole.STAFF)
    clock.now = dt.datetime(2030, 3, 4, 23, 0, tzinfo=WITA).astimezone(dt.UTC)
    await announce(timed, areas=[f"{LOA_BAKUNG}/RT 001"])
    clock.advance(hours=48)
    assert await escalate_silent(hub) == {"escalated": 0, "held_for_quiet_hours": 1}
    clock.now = dt.datetime(2030, 3, 7, 6, 0, tzinfo=WITA).astimezone(dt.UTC)
    assert (await escalate_silent(hub))["escalated"] == 1
    await send_all(hub)
    assert len(phone(hub, staff)) == 1


async def test_two_processes_escalate_a_broadcast_once(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(LOA_BAKUNG, role=SeatRole.STAFF)
    await announce(timed, areas=[f"{LOA_BAKUNG}/RT 001"])
    clock.advance(hours=48)
    first, second = await asyncio.gather(escalate_silent(hub), escalate_silent(hub))
    assert first["escalated"] + second["escalated"] == 1
    assert await OutboundMessage.filter(kind=MessageKind.NOTICE).count() == 1


def test_a_long_call_list_is_split_under_the_text_limit() -> None:
    rows = [
        CallRow(
            member_id=n,
            name=f"Ketua RT nomor {n} dengan nama yang cukup panjang sekali 👩‍🌾",
            area=f"{LOA_BAKUNG}/RT {n:03d}",
            rt=f"RT {n:03d}",
            phone=f"+6281200{n:05d}",
            channel="whatsapp",
            status="delivered",
            reminders=1,
            tel_link=f"tel:+6281200{n:05d}",
            whatsapp_link=f"https://wa.me/6281200{n:05d}",
            local_area=f"RT {n:03d}",
        )
        for n in range(1, 121)
    ]
    messages = call_list_messages("id", "Kerja bakti", LOA_BAKUNG, 48, rows)
    assert len(messages) > 1
    for i, message in enumerate(messages, 1):
        assert len(message.encode("utf-16-le")) // 2 <= NOTICE_LIMIT
        assert f"(bagian {i} dari {len(messages)})" in message
        assert message.startswith('📞 *Daftar telepon: "Kerja bakti"*')
    joined = "\n".join(messages)
    for row in rows:
        assert joined.count(f"{row.tel_link}\n") == 1
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", joined, flags=re.MULTILINE)]
    assert numbers == list(range(1, 121))
    assert len(call_list_messages("id", "Kerja bakti", LOA_BAKUNG, 48, rows[:3])) == 1


# The call list on the API and the dashboard -------------------------------------------------


async def test_the_call_list_api(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    people = await kelurahan_roster()
    broadcast_id = await announce(timed, areas=RT_AREAS)
    await acknowledge(hub, people["rt2"])
    clock.advance(hours=24)
    await send_reminders(hub)
    await send_all(hub)

    admin = await make_token()
    resp = await timed.get(f"/api/v1/broadcasts/{broadcast_id}/call-list", headers=bearer(admin))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["broadcast_id"] == broadcast_id
    by_name = {row["name"]: row for row in body["silent"]}
    assert list(by_name) == ["Dewi", "Ahmad", "Budi"]  # by area path: Karang Asam first
    budi = by_name["Budi"]
    tel, wa = links(people["rt1"])
    assert budi == {
        "member_id": people["rt1"].id,
        "name": "Budi",
        "area": f"{RW1}/RT 001",
        "rt": "RT 001",
        "phone": people["rt1"].phone,
        "channel": "sandbox",
        "status": "sent",
        "reminders": 1,
        "tel_link": tel,
        "whatsapp_link": wa,
    }
    assert (by_name["Ahmad"]["status"], by_name["Ahmad"]["channel"]) == ("failed", None)
    assert by_name["Ahmad"]["reminders"] == 0

    url = f"/api/v1/broadcasts/{broadcast_id}/call-list"
    elsewhere = await make_token(UserRole.STAFF, areas=(KARANG_ASAM,))
    resp = await timed.get(url, headers=bearer(elsewhere))
    assert resp.status in (403, 404)
    assert set((await resp.json())["error"]) == {"code", "message"}
    official = await make_token(UserRole.OFFICIAL, areas=("Sungai Kunjang",))
    assert (await timed.get(url, headers=bearer(official))).status == 200
    assert (await timed.get(url)).status == 401
    missing = await timed.get("/api/v1/broadcasts/999999/call-list", headers=bearer(admin))
    assert missing.status == 404
    assert (await timed.get("/api/v1/broadcasts/x/call-list", headers=bearer(admin))).status == 404


async def test_a_broadcast_without_confirmation_lists_who_has_not_read_it(
    timed: TestClient,
) -> None:
    hub = hub_of(timed)
    reader = await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002", name="Belum Baca")
    broadcast_id = await announce(timed, ack_required=False)
    await sandbox(hub).open_chat(f"sandbox-{reader.id}")
    await hub.tasks.wait()
    resp = await timed.get(
        f"/api/v1/broadcasts/{broadcast_id}/call-list", headers=bearer(await make_token())
    )
    assert [row["name"] for row in (await resp.json())["silent"]] == ["Belum Baca"]


_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)"')


async def test_the_dashboard_shows_the_call_list(timed: TestClient, clock: FakeClock) -> None:
    hub = hub_of(timed)
    people = await kelurahan_roster()
    broadcast_id = await announce(timed, areas=RT_AREAS)
    clock.advance(hours=48)
    await escalate_silent(hub)

    user = await make_user(UserRole.STAFF, areas=(LOA_BAKUNG, KARANG_ASAM))
    login = await (await timed.get("/login")).text()
    match = _CSRF.search(login)
    assert match
    resp = await timed.post(
        "/login",
        data={
            "csrf_token": html.unescape(match.group(1)),
            "username": user.username,
            "password": PASSWORD,
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    page = await (await timed.get(f"/broadcasts/{broadcast_id}")).text()
    assert "Daftar telepon" in page
    assert "dikirim ke ketua RW dan staf kelurahan" in page
    for key in ("rt1", "rt2", "rt3", "ka1"):
        tel, wa = links(people[key])
        assert f'href="{tel}"' in page
        assert f'href="{wa}"' in page
