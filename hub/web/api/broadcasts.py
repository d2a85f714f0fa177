"""Broadcasts: create, list and show them; their recipients and call list; cancel, preview,
change, pause, resume and correct them."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from hub.broadcast.content import resolve_audience
from hub.broadcast.corrections import correct_broadcast
from hub.broadcast.queries import (
    broadcasts_in,
    deliveries_of,
    get_broadcast,
    summaries_of,
    summary_of,
)
from hub.broadcast.reminders import call_list
from hub.broadcast.service import (
    BroadcastChanges,
    BroadcastRequest,
    cancel_broadcast,
    create_broadcast,
    pause_broadcast,
    resume_broadcast,
    update_broadcast,
)
from hub.roster.audience import preview
from hub.roster.members import current_area_path
from hub.runtime import HUB, Hub
from hub.web.api.bodies import Audience, Flag, Given, Id, RequestBody, SendAt, text
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import component, int_id, iso, route
from hub.web.api.schemas import (
    BOOLEAN,
    INTEGER,
    NULLABLE_DATE_TIME,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    STRING,
    array,
    described,
    obj,
    one_of,
)
from hub.web.api.sending import sent_by
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import Broadcast, Delivery

# Request bodies ------------------------------------------------------------------------------

Title = text(1, 200)
Text = text(1, 4096)
Cron = text(9, 120)


class Recurrence(RequestBody):
    """A series: one run at every time the cron expression names."""

    cron: Cron = Field(
        description="minute hour day month weekday in the hub's timezone "
        '(weekday 0 or 7 = Sunday, 1 = Monday): "0 8 * * 1" is every Monday 08:00'
    )


SEND_AT = (
    "ISO-8601; without an offset it is read in the hub's timezone. "
    "Null: now (or, with a recurrence, from now on)."
)
ATTACHMENTS = "Ids from POST /attachments, sent with the announcement in this order."
PUBLISH = (
    "Publish it in the public archive (/arsip): it gets a verification code printed under each "
    "RT head's copy, which anyone can check (/cek, GET /public/verify); a series' runs get one "
    "each."
)
REPORT_BUTTON = (
    "A 'Laporkan masalah' button under each RT head's copy that starts a complaint about it "
    "(left out of WhatsApp templates outside the 24-hour window)."
)


class BroadcastCreate(RequestBody):
    """A new broadcast: sent now, at send_at, or as a series."""

    title: Title
    text: Text
    audience: Audience
    send_at: SendAt = Field(None, description=SEND_AT)
    recurrence: Recurrence | None = None
    ack_required: Flag = True
    report_button: Flag = Field(False, description=REPORT_BUTTON)
    publish: Flag = Field(False, description=PUBLISH)
    attachments: list[Id] = Field(default_factory=list, max_length=10, description=ATTACHMENTS)


class BroadcastUpdate(RequestBody):
    """Changes to a scheduled or paused broadcast; what is left out stays as it was (null
    clears send_at or recurrence)."""

    title: Given[Title] = None
    text: Given[Text] = None
    audience: Given[Audience] = None
    send_at: SendAt = Field(None, description=SEND_AT)
    recurrence: Recurrence | None = None
    ack_required: Given[Flag] = None
    report_button: Given[Flag] = Field(None, description=REPORT_BUTTON)
    publish: Given[Flag] = Field(None, description=PUBLISH)
    attachments: Given[list[Id]] = Field(None, max_length=10, description=ATTACHMENTS)

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _changes_something(self) -> BroadcastUpdate:
        if not self.model_fields_set:
            raise PydanticCustomError("empty", "name at least one field to change")
        return self


class BroadcastCorrection(RequestBody):
    """The corrected text (and title) of a sent broadcast."""

    title: Given[Title] = None
    text: Text


class AudiencePreviewRequest(RequestBody):
    """An audience to count, nothing written."""

    audience: Audience


# Response bodies -----------------------------------------------------------------------------

STATES = ("pending", "sent", "delivered", "read", "acknowledged", "failed", "skipped", "cancelled")
COUNTS = component("Counts", obj(**{state: INTEGER for state in STATES}))
# Messages of a broadcast that are not deliveries (cancelled ones are not counted).
MESSAGE_COUNTS = obj(pending=INTEGER, sent=INTEGER, failed=INTEGER)

BROADCAST = component(
    "Broadcast",
    obj(
        id=INTEGER,
        title=STRING,
        status=one_of("scheduled", "paused", "sending", "sent", "cancelled", "missed"),
        recipients=INTEGER,
        ack_required=BOOLEAN,
        report_button=BOOLEAN,
        published=described(BOOLEAN, "in the public archive"),
        verification_code=described(
            NULLABLE_STRING, "7QK-2M4: printed under each copy (null: unpublished, or a series)"
        ),
        published_at=described(NULLABLE_STRING, "when it went out and became public"),
        send_at=described(NULLABLE_STRING, "a series: its next run"),
        recurrence={"type": ["object", "null"], "properties": {"cron": STRING}},
        series_id=described(NULLABLE_INTEGER, "the series of this run"),
        audience={"type": "object"},
        created_at=STRING,
        corrected_at=NULLABLE_STRING,
        counts=COUNTS,
        group_posts=described(
            MESSAGE_COUNTS, "posts in linked group chats, their corrections included"
        ),
        corrections=described(
            MESSAGE_COUNTS, "corrections sent to recipients (edits or marked resends)"
        ),
    ),
)
CREATED = obj(id=INTEGER, status=STRING, recipients=INTEGER)

RECIPIENT = component(
    "Recipient",
    obj(
        member_id=INTEGER,
        name=STRING,
        area=NULLABLE_STRING,
        channel=NULLABLE_STRING,
        status=STRING,
        sent_at=NULLABLE_DATE_TIME,
        delivered_at=NULLABLE_DATE_TIME,
        read_at=NULLABLE_DATE_TIME,
        acknowledged_at=NULLABLE_DATE_TIME,
        failure_reason=NULLABLE_STRING,
        reminders=INTEGER,
        attempts=INTEGER,
    ),
)

CALL_LIST_ENTRY = component(
    "CallListEntry",
    obj(
        member_id=INTEGER,
        name=STRING,
        area=NULLABLE_STRING,
        rt=NULLABLE_STRING,
        phone=NULLABLE_STRING,
        channel=NULLABLE_STRING,
        status=STRING,
        reminders=INTEGER,
        tel_link=described(NULLABLE_STRING, "tel:+62..."),
        whatsapp_link=described(NULLABLE_STRING, "https://wa.me/62..."),
    ),
)

PER_CHANNEL = {"type": "object", "additionalProperties": INTEGER}
AUDIENCE_PREVIEW = component(
    "AudiencePreview",
    obj(
        recipients=INTEGER,
        by_channel=PER_CHANNEL,
        templates=described(
            INTEGER,
            "recipients outside their channel's free-text window (WhatsApp: 24 hours, less "
            "5 minutes, since they last wrote) who get the approved template",
        ),
        skipped=described(INTEGER, "opted out: not sent, by choice"),
        unreachable=PER_CHANNEL,
    ),
)

CORRECTION_RESULT = obj(
    broadcast=BROADCAST,
    edited=INTEGER,
    resent=INTEGER,
    updated_before_sending=INTEGER,
)


# Loading and shaping -------------------------------------------------------------------------


async def the_broadcast(request: web.Request) -> Broadcast:
    """The broadcast the path names, if the user may see it (else 404)."""
    return await get_broadcast(int_id(request), request[SCOPE])


def _recipient(delivery: Delivery) -> dict[str, Any]:
    return {
        "member_id": delivery.member_id,
        "name": delivery.member.name,
        "area": current_area_path(delivery.member),
        "channel": delivery.channel or None,
        "status": delivery.status.value,
        "sent_at": iso(delivery.sent_at),
        "delivered_at": iso(delivery.delivered_at),
        "read_at": iso(delivery.read_at),
        "acknowledged_at": iso(delivery.acknowledged_at),
        "failure_reason": delivery.failure_reason,
        "reminders": delivery.reminders,
        "attempts": delivery.attempts,
    }


# Routes --------------------------------------------------------------------------------------


@route(
    "GET",
    "/broadcasts",
    summary="Recent broadcasts with their counts",
    permission=Permission.READ,
    paginated="broadcasts",
    response=BROADCAST,
)
async def list_broadcasts(request: web.Request) -> web.Response:
    found, after = await page_of(
        broadcasts_in(request[SCOPE]), page_request(request.query), newest_first=True
    )
    return web.json_response({"broadcasts": await summaries_of(found), "next": after})


@route(
    "POST",
    "/broadcasts",
    summary="Create a broadcast (sent now, or at send_at)",
    permission=Permission.WRITE,
    body=BroadcastCreate,
    status=201,
    response=CREATED,
)
async def post_broadcast(request: web.Request, body: BroadcastCreate) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await create_broadcast(
        hub.config,
        BroadcastRequest(
            title=body.title,
            text=body.text,
            send_at=body.send_at,
            recurrence=body.recurrence.cron if body.recurrence else None,
            ack_required=body.ack_required,
            report_button=body.report_button,
            publish=body.publish,
            attachments=body.attachments,
            **body.audience.model_dump(),
        ),
        **sent_by(request),
    )
    hub.sender.wake()
    return web.json_response(
        {"id": broadcast.id, "status": broadcast.status.value, "recipients": broadcast.recipients},
        status=201,
    )


@route(
    "GET",
    "/broadcasts/{id}",
    summary="A broadcast and its counts",
    permission=Permission.READ,
    load=the_broadcast,
    response=BROADCAST,
)
async def show_broadcast(request: web.Request, broadcast: Broadcast) -> web.Response:
    return web.json_response(await summary_of(broadcast))


@route(
    "GET",
    "/broadcasts/{id}/recipients",
    summary="Each recipient's delivery",
    permission=Permission.READ,
    load=the_broadcast,
    paginated="recipients",
    response=RECIPIENT,
)
async def broadcast_recipients(request: web.Request, broadcast: Broadcast) -> web.Response:
    deliveries, after = await page_of(deliveries_of(broadcast), page_request(request.query))
    return web.json_response({"recipients": [_recipient(d) for d in deliveries], "next": after})


@route(
    "GET",
    "/broadcasts/{id}/call-list",
    summary="Recipients who have not confirmed (or read, when no confirmation was asked), "
    "incl. failed ones, with tap-to-call and click-to-chat links",
    permission=Permission.READ,
    load=the_broadcast,
    response=obj(broadcast_id=INTEGER, silent=array(CALL_LIST_ENTRY)),
)
async def broadcast_call_list(request: web.Request, broadcast: Broadcast) -> web.Response:
    rows = await call_list(broadcast)
    return web.json_response(
        {"broadcast_id": broadcast.id, "silent": [row.as_dict() for row in rows]}
    )


@route(
    "POST",
    "/broadcasts/{id}/cancel",
    summary="Stop what has not been sent yet",
    permission=Permission.WRITE,
    load=the_broadcast,
    response=BROADCAST,
    errors=(422,),  # not cancellable any more
)
async def post_cancel(request: web.Request, broadcast: Broadcast) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await cancel_broadcast(broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await summary_of(broadcast))


@route(
    "POST",
    "/broadcasts/preview",
    summary="How many an audience reaches, per channel, and how many need a template",
    permission=Permission.READ,
    body=AudiencePreviewRequest,
    response=AUDIENCE_PREVIEW,
)
async def post_preview(request: web.Request, body: AudiencePreviewRequest) -> web.Response:
    hub: Hub = request.app[HUB]
    wanted = body.audience
    audience = await resolve_audience(
        wanted.areas, wanted.members, wanted.groups, request[SCOPE], wanted.group_ids
    )
    result = await preview(audience.member_ids, hub.enabled_channels, hub.clock())
    return web.json_response(result.as_dict())


def _changes(body: BroadcastUpdate) -> BroadcastChanges:
    given = body.model_fields_set
    return BroadcastChanges(
        title=body.title,
        text=body.text,
        audience=body.audience.model_dump() if body.audience else None,
        send_at=body.send_at,
        clear_send_at="send_at" in given and body.send_at is None,
        recurrence=body.recurrence.cron if body.recurrence else None,
        clear_recurrence="recurrence" in given and body.recurrence is None,
        ack_required=body.ack_required,
        report_button=body.report_button,
        publish=body.publish,
        attachments=body.attachments,
    )


@route(
    "PATCH",
    "/broadcasts/{id}",
    summary="Change a scheduled or paused broadcast (validated as at creation)",
    permission=Permission.WRITE,
    load=the_broadcast,
    body=BroadcastUpdate,
    response=BROADCAST,
    errors=(409,),  # sending already
)
async def patch_broadcast(
    request: web.Request, broadcast: Broadcast, body: BroadcastUpdate
) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await update_broadcast(hub.config, broadcast, _changes(body), **sent_by(request))
    return web.json_response(await summary_of(broadcast))


@route(
    "POST",
    "/broadcasts/{id}/pause",
    summary="Hold a scheduled broadcast or series until it is resumed",
    permission=Permission.WRITE,
    load=the_broadcast,
    response=BROADCAST,
    errors=(409,),
)
async def post_pause(request: web.Request, broadcast: Broadcast) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await pause_broadcast(broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await summary_of(broadcast))


@route(
    "POST",
    "/broadcasts/{id}/resume",
    summary="Schedule a paused broadcast again (a time that passed meanwhile becomes now)",
    permission=Permission.WRITE,
    load=the_broadcast,
    response=BROADCAST,
    errors=(409,),
)
async def post_resume(request: web.Request, broadcast: Broadcast) -> web.Response:
    hub: Hub = request.app[HUB]
    broadcast = await resume_broadcast(hub.config, broadcast, user=request[USER], now=hub.clock())
    return web.json_response(await summary_of(broadcast))


@route(
    "POST",
    "/broadcasts/{id}/correction",
    summary="Correct a sent broadcast: edited in place where the platform can, else sent "
    "again marked as a correction to those who received it",
    permission=Permission.WRITE,
    load=the_broadcast,
    body=BroadcastCorrection,
    response=CORRECTION_RESULT,
    errors=(409,),
)
async def post_correction(
    request: web.Request, broadcast: Broadcast, body: BroadcastCorrection
) -> web.Response:
    hub: Hub = request.app[HUB]
    result = await correct_broadcast(
        hub.config,
        broadcast,
        title=body.title,
        text=body.text,
        user=request[USER],
        enabled_channels=hub.enabled_channels,
        now=hub.clock(),
    )
    hub.sender.wake()
    await broadcast.refresh_from_db()
    return web.json_response({"broadcast": await summary_of(broadcast), **result.as_dict()})
