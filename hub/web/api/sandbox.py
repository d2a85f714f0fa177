"""The sandbox phone: what the hub sent to a member's simulated phone, and acting as them."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from channels.sandbox import SandboxChannel, SandboxError
from hub.core.errors import NotFound, ValidationFailed
from hub.roster.members import get_member
from hub.runtime import HUB, Hub
from hub.web.api.bodies import Given, RequestBody, text
from hub.web.api.guards import SCOPE
from hub.web.api.routes import Query, component, int_id, route
from hub.web.api.schemas import BOOLEAN, DATE_TIME, INTEGER, STRING, array, obj
from hub.web.permissions import Permission

Phone = tuple[SandboxChannel, str]
Typed = text(0, 4096)
ButtonPayload = text(1, 200)
MessageId = text(1)


class SandboxAct(RequestBody):
    """What the member does: type text, tap a button, or reply to a message (with text)."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["text"]}, {"required": ["button"]}]}
    )

    text: Typed = ""
    button: Given[ButtonPayload] = None
    reply_to: Given[MessageId] = None

    @model_validator(mode="after")
    def _does_something(self) -> SandboxAct:
        if not {"text", "button"} & self.model_fields_set:
            raise PydanticCustomError("nothing_to_do", "send text or button")
        return self


SANDBOX_MESSAGE = component(
    "SandboxMessage",
    obj(
        id=STRING,
        text=STRING,
        buttons=array(obj(label=STRING, payload=STRING)),
        sent_at=DATE_TIME,
        from_member=BOOLEAN,
        attachments=array(obj(filename=STRING, content_type=STRING, url=STRING)),
    ),
)
INCLUDE_OWN = Query(
    "include_own",
    "`1` or `true`: the member's own messages too",
    {"type": "string", "enum": ["1", "true"]},
)


async def sandbox_phone(request: web.Request) -> Phone:
    """The sandbox channel and the phone of the member the path names (else 404)."""
    hub: Hub = request.app[HUB]
    channel = hub.channels.get("sandbox")
    if not isinstance(channel, SandboxChannel):
        raise NotFound("the sandbox channel is not enabled")
    member = await get_member(int_id(request), request[SCOPE])
    address = next((a for a in member.addresses if a.channel == "sandbox"), None)
    if address is None:
        raise NotFound(f"member {member.id} has no sandbox phone")
    return channel, address.address


@route(
    "GET",
    "/sandbox/members/{id}/messages",
    summary="What the hub sent to a member's simulated phone, oldest first",
    permission=Permission.READ,
    load=sandbox_phone,
    response=obj(messages=array(SANDBOX_MESSAGE)),
    query=(INCLUDE_OWN,),
)
async def sandbox_messages(request: web.Request, phone: Phone) -> web.Response:
    channel, address = phone
    include_own = request.query.get("include_own") in ("1", "true")
    messages = [
        {
            "id": m.id,
            "text": m.text,
            "buttons": [{"label": b.label, "payload": b.payload} for b in m.buttons],
            "sent_at": m.sent_at.isoformat(),
            "from_member": not m.from_hub,
            "attachments": [
                {"filename": f.filename, "content_type": f.content_type, "url": f.url}
                for f in m.attachments
            ],
        }
        for m in channel.messages(address, include_own=include_own)
    ]
    return web.json_response({"messages": messages})


@route(
    "POST",
    "/sandbox/members/{id}/messages",
    summary="Act as the member: type text, tap a button or reply",
    permission=Permission.WRITE,
    body=SandboxAct,  # read before the phone is looked up, as it always was
    status=202,
    response=obj(id=STRING),
)
async def sandbox_act(request: web.Request, body: SandboxAct) -> web.Response:
    channel, address = await sandbox_phone(request)
    try:
        event = await channel.act(
            address, text=body.text, button=body.button, reply_to=body.reply_to
        )
    except SandboxError as exc:
        raise ValidationFailed(str(exc), code="sandbox") from None
    return web.json_response({"id": event.external_id}, status=202)


@route(
    "POST",
    "/sandbox/members/{id}/open",
    summary="The member opens the chat: unread messages become read",
    permission=Permission.WRITE,  # reading as the member marks deliveries read
    load=sandbox_phone,
    response=obj(read=INTEGER),
)
async def sandbox_open(request: web.Request, phone: Phone) -> web.Response:
    channel, address = phone
    updates = await channel.open_chat(address)
    return web.json_response({"read": len(updates)})
