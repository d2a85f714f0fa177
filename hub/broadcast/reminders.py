"""Reminders to RT heads who have not acknowledged, and call lists of the silent for staff.

A delivery of an announcement that asks for confirmation gets one reminder `reminder_after_hours`
after it was sent, if it is still unconfirmed; `escalate_after_hours` after the broadcast started,
the RW heads and the kelurahan's staff get the list of those still silent, with their phone
numbers as tap-to-call and click-to-chat links. Both wait out the quiet hours; 0 turns either off.

Claims are conditional UPDATEs (`reminder_queued_at IS NULL`, `escalated_at IS NULL`) in the same
transaction as the outbox rows they lead to, so several processes may run these jobs on one
SQLite or PostgreSQL database and nobody is reminded or escalated twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels import ChannelClasses
from hub.broadcast.content import summarize
from hub.broadcast.deliveries import ack_payload
from hub.core.config import Config
from hub.core.outbox import outbound, queue_all
from hub.core.texts import text as say
from hub.core.timeutil import in_quiet_hours
from hub.roster.audience import choose_address
from models import (
    Area,
    AreaKind,
    Broadcast,
    BroadcastStatus,
    ChannelAddress,
    Delivery,
    DeliveryStatus,
    Member,
    MessageKind,
    OutboundMessage,
    Seat,
    SeatRole,
)

log = logging.getLogger(__name__)

BATCH = 500
# Nobody is reminded about, or called over, an announcement older than this past its due time:
# a hub that was down for weeks, or one that just gained this feature, must not nudge everyone
# about last month's news.
STALE = dt.timedelta(days=7)
NOTICE_LIMIT = 4096  # longest text message on Telegram and WhatsApp, in UTF-16 code units
REMINDER_SUMMARY = 160  # characters of the announcement quoted in a reminder

# Broadcasts whose deliveries have gone out (not scheduled, paused, cancelled or missed).
_LIVE = [BroadcastStatus.SENDING, BroadcastStatus.SENT]
# Deliveries that reached the platform but were not confirmed: these get a reminder.
_REMINDABLE = [DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ]
_DIGITS = re.compile(r"[0-9]+")


# Reminders ----------------------------------------------------------------------------------


def _due_deliveries(
    broadcast_id: int, sent_before: dt.datetime, enabled_channels: Collection[str]
) -> QuerySet[Delivery]:
    # A delivery on a channel switched off now is not taken: it waits until the channel is back.
    return Delivery.filter(
        broadcast_id=broadcast_id,
        status__in=_REMINDABLE,
        reminder_queued_at__isnull=True,
        sent_at__lte=sent_before,
        channel__in=list(enabled_channels),
    )


async def queue_reminders(
    config: Config, now: dt.datetime, enabled_channels: Collection[str], *, batch_size: int = BATCH
) -> dict[str, int]:
    """Queue one reminder for each unconfirmed delivery sent `reminder_after_hours` ago."""
    hours = config.broadcast.reminder_after_hours
    if hours <= 0 or not enabled_channels:
        return {"queued": 0}
    sent_before = now - dt.timedelta(hours=hours)
    broadcasts = await Broadcast.filter(
        ack_required=True,
        status__in=_LIVE,
        started_at__lte=sent_before,  # no delivery is sent before its broadcast started
        started_at__gt=sent_before - STALE,
    ).order_by("id")
    if in_quiet_hours(now, config.tz, config.broadcast.quiet_hours):
        held = 0
        for broadcast in broadcasts:
            held += await _due_deliveries(broadcast.id, sent_before, enabled_channels).count()
        return {"queued": 0, "held_for_quiet_hours": held}
    queued = errors = 0
    for broadcast in broadcasts:
        try:
            queued += await _remind(
                config, broadcast, sent_before, enabled_channels, now, batch_size
            )
        except Exception:  # one broken broadcast must not keep the others' reminders back
            log.exception("could not queue reminders for broadcast %s", broadcast.id)
            errors += 1
    return {"queued": queued, "errors": errors}


async def _remind(
    config: Config,
    broadcast: Broadcast,
    sent_before: dt.datetime,
    enabled_channels: Collection[str],
    now: dt.datetime,
    batch_size: int,
) -> int:
    """Reminders for one broadcast, a batch at a time (a city's broadcast has 100k deliveries)."""
    lang = config.hub.language
    message_text = say(
        lang,
        "reminder",
        title=broadcast.title,
        summary=summarize(broadcast.text, REMINDER_SUMMARY),
    )
    template_params = [broadcast.title, summarize(broadcast.text)]
    label = say(lang, "ack_button")
    queued = 0
    after_id = 0
    while True:
        rows = (
            await _due_deliveries(broadcast.id, sent_before, enabled_channels)
            .filter(id__gt=after_id)
            .order_by("id")
            .limit(batch_size)
            .values("id", "member_id", "channel", "address")
        )
        if not rows:
            return queued
        after_id = rows[-1]["id"]
        rows = await _reachable(rows)
        if not rows:
            continue
        async with in_transaction():
            rows = await _claim(rows, now)
            await queue_all(
                [
                    outbound(
                        MessageKind.REMINDER,
                        delivery_id=row["id"],
                        member_id=row["member_id"],
                        channel=row["channel"],
                        address=row["address"],
                        text=message_text,
                        buttons=[{"label": label, "payload": ack_payload(row["id"])}],
                        # Outside WhatsApp's 24-hour window the approved reminder template goes.
                        template="reminder",
                        template_params=template_params,
                        due=now,
                    )
                    for row in rows
                ]
            )
        queued += len(rows)


async def _reachable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose address has not opted out or been blocked since the announcement."""
    addresses = {row["address"] for row in rows}
    closed = {
        (channel, address)
        for channel, address, opted_out_at, blocked_at in await ChannelAddress.filter(
            address__in=list(addresses)
        ).values_list("channel", "address", "opted_out_at", "blocked_at")
        if opted_out_at is not None or blocked_at is not None
    }
    # Left unclaimed: if they opt in again (MULAI), the reminder still comes.
    return [row for row in rows if (row["channel"], row["address"]) not in closed]


async def _claim(rows: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Take the deliveries for this process; the ones another process took are left out."""
    ids = [row["id"] for row in rows]
    taken = await Delivery.filter(id__in=ids, reminder_queued_at__isnull=True).update(
        reminder_queued_at=now
    )
    if taken == len(ids):
        return rows
    # Another process claimed some of them first. Its claim committed together with its
    # reminders (PostgreSQL made this UPDATE wait for that commit; SQLite has one writer), so
    # the rows that already have a reminder are its, and the rest are ours.
    theirs = set(
        await OutboundMessage.filter(delivery_id__in=ids, kind=MessageKind.REMINDER).values_list(
            "delivery_id", flat=True
        )
    )
    return [row for row in rows if row["id"] not in theirs]


# Call lists ---------------------------------------------------------------------------------


@dataclass
class CallRow:
    """One silent recipient of a broadcast, as staff call them."""

    member_id: int
    name: str
    area: str | None  # path of the seat the member holds (or last held)
    rt: str | None  # the RT's name when that seat is an RT
    phone: str | None
    channel: str | None
    status: str
    reminders: int
    tel_link: str | None
    whatsapp_link: str | None
    local_area: str = ""  # the area below its kelurahan: "RT 003", "RW 01/RT 003"
    kelurahan: Area | None = dataclasses.field(default=None, repr=False)
    rw: Area | None = dataclasses.field(default=None, repr=False)  # the RT's RW, if any

    def as_dict(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "member_id": self.member_id,
            "name": self.name,
            "area": self.area,
            "rt": self.rt,
            "phone": self.phone,
            "channel": self.channel,
            "status": self.status,
            "reminders": self.reminders,
            "tel_link": self.tel_link,
            "whatsapp_link": self.whatsapp_link,
        }


def phone_links(phone: str | None) -> tuple[str | None, str | None]:
    """The tap-to-call (`tel:+62...`) and click-to-chat (`https://wa.me/62...`) links."""
    digits = "".join(_DIGITS.findall(phone or ""))
    if not digits:
        return None, None
    return f"tel:+{digits}", f"https://wa.me/{digits}"


def silent_statuses(broadcast: Broadcast) -> list[DeliveryStatus]:
    """Deliveries that have not reached the broadcast's goal (confirmed, or read if none asked).

    Failed and skipped recipients are silent too: the announcement never reached them, so
    they are the first ones staff must call. Cancelled deliveries were never meant to go.
    """
    reached = {DeliveryStatus.ACKNOWLEDGED, DeliveryStatus.CANCELLED}
    if not broadcast.ack_required:
        reached.add(DeliveryStatus.READ)
    return [status for status in DeliveryStatus if status not in reached]


async def call_list(broadcast: Broadcast) -> list[CallRow]:
    """The broadcast's silent recipients, by area then name."""
    rows: list[CallRow] = []
    areas: dict[int, Area] = {}
    after_id = 0
    while True:
        batch = list(
            await Delivery.filter(
                broadcast_id=broadcast.id,
                status__in=silent_statuses(broadcast),
                id__gt=after_id,
            )
            .order_by("id")
            .limit(BATCH)
            .select_related("member")
        )
        if not batch:
            break
        after_id = batch[-1].id
        rows.extend(await _call_rows(batch, areas))
    rows.sort(key=lambda r: (r.area is None, (r.area or "").casefold(), r.name.casefold()))
    return rows


async def _call_rows(deliveries: Sequence[Delivery], areas: dict[int, Area]) -> list[CallRow]:
    member_ids = [d.member_id for d in deliveries]
    seats: dict[int, list[Seat]] = defaultdict(list)
    for seat in await Seat.filter(member_id__in=member_ids):
        seats[seat.member_id].append(seat)
    await _load_areas({s.area_id for found in seats.values() for s in found}, areas)
    rows = []
    for d in deliveries:
        seat = _seat_of(seats.get(d.member_id, []))
        area = areas.get(seat.area_id) if seat else None
        kelurahan, rw = _kelurahan_and_rw(area, areas)
        tel, whatsapp = phone_links(d.member.phone)
        local = area.path if area else ""
        if area is not None and kelurahan is not None and area.id != kelurahan.id:
            local = area.path.removeprefix(kelurahan.path + "/")
        rows.append(
            CallRow(
                member_id=d.member_id,
                name=d.member.name,
                area=area.path if area else None,
                rt=area.name if area and area.kind == AreaKind.RT else None,
                phone=d.member.phone,
                channel=d.channel or None,
                status=d.status.value,
                reminders=d.reminders,
                tel_link=tel,
                whatsapp_link=whatsapp,
                local_area=local,
                kelurahan=kelurahan,
                rw=rw,
            )
        )
    return rows


def _seat_of(seats: list[Seat]) -> Seat | None:
    """The seat a member is called for: a current one (an RT first), else the last one held."""
    current = [s for s in seats if s.ended_at is None]
    if current:
        return min(current, key=lambda s: (s.role != SeatRole.KETUA_RT, s.id))
    return max(seats, key=lambda s: (s.ended_at, s.id), default=None)


async def _load_areas(ids: Iterable[int], areas: dict[int, Area]) -> None:
    """Fill `areas` with these areas and their ancestors (a tree is at most four deep)."""
    wanted = {i for i in ids if i not in areas}
    while wanted:
        for area in await Area.filter(id__in=list(wanted)):
            areas[area.id] = area
        wanted = {
            a.parent_id
            for a in areas.values()
            if a.parent_id is not None and a.parent_id not in areas
        }


def _kelurahan_and_rw(area: Area | None, areas: dict[int, Area]) -> tuple[Area | None, Area | None]:
    """The kelurahan an area lies in, and the RW right above it when it is an RT in one."""
    kelurahan = None
    node = area
    while node is not None:
        if node.kind == AreaKind.KELURAHAN:
            kelurahan = node
            break
        node = areas.get(node.parent_id) if node.parent_id is not None else None
    rw = None
    if area is not None and area.kind == AreaKind.RT and area.parent_id is not None:
        parent = areas.get(area.parent_id)
        rw = parent if parent is not None and parent.kind == AreaKind.RW else None
    return kelurahan, rw


# Escalation ---------------------------------------------------------------------------------


async def escalate(
    config: Config, now: dt.datetime, enabled_channels: ChannelClasses
) -> dict[str, int]:
    """Send the call list of the still silent to RW heads and kelurahan staff, once each."""
    hours = config.broadcast.escalate_after_hours
    if hours <= 0:
        return {"escalated": 0}
    started_before = now - dt.timedelta(hours=hours)
    due = Broadcast.filter(
        ack_required=True,
        status__in=_LIVE,
        escalated_at__isnull=True,
        started_at__lte=started_before,
        started_at__gt=started_before - STALE,
    )
    if in_quiet_hours(now, config.tz, config.broadcast.quiet_hours):
        return {"escalated": 0, "held_for_quiet_hours": await due.count()}
    summary = {"escalated": 0, "silent": 0, "notices": 0, "unreachable": 0, "errors": 0}
    for broadcast in await due.order_by("id"):
        try:
            result = await _escalate_one(config, broadcast, now, enabled_channels)
        except Exception:
            log.exception("could not escalate broadcast %s", broadcast.id)
            summary["errors"] += 1
            continue
        if result is None:
            continue  # another process did it
        summary["escalated"] += 1
        for key, value in result.items():
            summary[key] += value
    return summary


async def _escalate_one(
    config: Config, broadcast: Broadcast, now: dt.datetime, enabled_channels: ChannelClasses
) -> dict[str, int] | None:
    rows = await call_list(broadcast)
    notices, unreachable = await _notices(config, broadcast, rows, now, enabled_channels)
    async with in_transaction():
        taken = await Broadcast.filter(id=broadcast.id, escalated_at__isnull=True).update(
            escalated_at=now
        )
        if not taken:
            return None
        await queue_all(notices)
    if rows and not notices:
        log.warning(
            "broadcast %s: %d silent recipients but no RW head or staff to tell; "
            "the call list is on the dashboard",
            broadcast.id,
            len(rows),
        )
    return {"silent": len(rows), "notices": len(notices), "unreachable": unreachable}


async def _notices(
    config: Config,
    broadcast: Broadcast,
    rows: list[CallRow],
    now: dt.datetime,
    enabled_channels: ChannelClasses,
) -> tuple[list[OutboundMessage], int]:
    """The call-list messages: each RW head gets their RTs, each kelurahan's staff all of it."""
    lists = await _call_lists(rows)
    if not lists:
        return [], 0
    members = {
        m.id: m
        for m in await Member.filter(id__in=list({m for m, _, _ in lists})).prefetch_related(
            "addresses"
        )
    }
    started = broadcast.started_at or now
    hours = int((now - started).total_seconds() // 3600)
    messages = []
    unreachable: set[int] = set()
    for member_id, area, area_rows in lists:
        member = members[member_id]
        address, _ = choose_address(
            member.preferred_channel, list(member.addresses), enabled_channels
        )
        if address is None:
            unreachable.add(member_id)
            continue
        window_open = enabled_channels[address.channel].window_open(address.last_inbound_at, now)
        messages += _call_list_notices(
            config, broadcast, member_id, address, area, area_rows, hours, now, window_open
        )
    if unreachable:
        log.warning(
            "broadcast %s: no reachable address for %d RW head(s) or staff member(s) to call",
            broadcast.id,
            len(unreachable),
        )
    return messages, len(unreachable)


async def _call_lists(rows: list[CallRow]) -> list[tuple[int, Area, list[CallRow]]]:
    """(recipient, area the list is about, its rows) for RW heads and kelurahan staff, once each."""
    by_kelurahan: dict[int, list[CallRow]] = defaultdict(list)
    by_rw: dict[int, list[CallRow]] = defaultdict(list)
    kelurahans: dict[int, Area] = {}
    rws: dict[int, Area] = {}
    for row in rows:
        if row.kelurahan is not None:
            kelurahans[row.kelurahan.id] = row.kelurahan
            by_kelurahan[row.kelurahan.id].append(row)
        if row.rw is not None:
            rws[row.rw.id] = row.rw
            by_rw[row.rw.id].append(row)
    if not kelurahans and not rws:
        return []

    # Staff seated on the kelurahan or above it (its kecamatan); RW heads on the RW itself.
    staff_areas = {k.id for k in kelurahans.values()} | {
        k.parent_id for k in kelurahans.values() if k.parent_id is not None
    }
    staff_by_area = await _seated(SeatRole.STAFF, staff_areas)
    heads_by_rw = await _seated(SeatRole.KETUA_RW, rws)

    lists: list[tuple[int, Area, list[CallRow]]] = []
    for rw_id, rw_rows in by_rw.items():
        lists += [(member_id, rws[rw_id], rw_rows) for member_id in sorted(heads_by_rw[rw_id])]
    for kelurahan_id, kelurahan_rows in by_kelurahan.items():
        kelurahan = kelurahans[kelurahan_id]
        staff = staff_by_area[kelurahan_id] | staff_by_area.get(kelurahan.parent_id or 0, set())
        lists += [(member_id, kelurahan, kelurahan_rows) for member_id in sorted(staff)]
    return lists


async def _seated(role: SeatRole, area_ids: Collection[int]) -> dict[int, set[int]]:
    """The members seated now in `role`, by area, on the given areas."""
    seats = await Seat.filter(
        ended_at__isnull=True, role=role, area_id__in=list(area_ids)
    ).values_list("area_id", "member_id")
    by_area: dict[int, set[int]] = defaultdict(set)
    for area_id, member_id in seats:
        by_area[area_id].add(member_id)
    return by_area


def _call_list_notices(
    config: Config,
    broadcast: Broadcast,
    member_id: int,
    address: ChannelAddress,
    area: Area,
    area_rows: list[CallRow],
    hours: int,
    now: dt.datetime,
    window_open: bool,
) -> list[OutboundMessage]:
    """One recipient's call list, as free text or, outside the window, as the template."""
    lang = config.hub.language
    template, template_params = None, None
    if window_open:
        bodies = call_list_messages(lang, broadcast.title, area.path, hours, area_rows)
    else:
        # Outside the free-text window (WhatsApp's 24 hours) only an approved template may
        # go: one message with the count and a link to the list on the dashboard, not the
        # list itself. The channel sends by the same rule, whose margin covers the minutes
        # the message may wait in the queue.
        url = f"{config.hub.public_url.rstrip('/')}/broadcasts/{broadcast.id}#daftar-telepon"
        count = str(len(area_rows))
        template, template_params = "call_list", [count, broadcast.title, url]
        bodies = [
            say(lang, "call_list_link", title=broadcast.title, count=count, area=area.path, url=url)
        ]
    return [
        outbound(
            MessageKind.NOTICE,
            member_id=member_id,
            channel=address.channel,
            address=address.address,
            text=body,
            template=template,
            template_params=template_params,
            due=now,
        )
        for body in bodies
    ]


def _units(text: str) -> int:
    """Length as the messengers count it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _label(language: str, prefix: str, value: str | None) -> str:
    """A status or channel name in the hub's language; an unknown one as it is."""
    try:
        return say(language, f"{prefix}{value or 'none'}")
    except KeyError:
        return value or ""


def call_list_entry(language: str, number: int, row: CallRow) -> str:
    """One silent recipient in a call-list message, with the links to call or chat."""
    entry = say(
        language,
        "call_list_row",
        number=number,
        name=row.name,
        area=row.local_area or "—",
        channel=_label(language, "channel_", row.channel),
        status=_label(language, "status_", row.status),
        reminders=row.reminders,
    )
    if row.tel_link and row.whatsapp_link:
        links = say(language, "call_list_links", tel=row.tel_link, wa=row.whatsapp_link)
        return entry + "\n" + links
    return entry + "\n" + say(language, "call_list_no_phone")


def call_list_messages(
    language: str, title: str, area: str, hours: int, rows: Sequence[CallRow]
) -> list[str]:
    """The call list as messages, each under the messengers' text limit."""
    head = say(language, "call_list_head", title=title, area=area, count=len(rows), hours=hours)
    widest_part = say(language, "call_list_part", part=len(rows), parts=len(rows))
    budget = NOTICE_LIMIT - _units(head) - _units(widest_part) - 1
    chunks: list[list[str]] = [[]]
    used = 0
    for number, row in enumerate(rows, 1):
        entry = call_list_entry(language, number, row)
        size = _units(entry) + 2  # the blank line before it
        if chunks[-1] and used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(entry)
        used += size
    if len(chunks) == 1:
        return ["\n\n".join([head, *chunks[0]])]
    return [
        "\n\n".join(
            [head + "\n" + say(language, "call_list_part", part=i, parts=len(chunks)), *chunk]
        )
        for i, chunk in enumerate(chunks, 1)
    ]
