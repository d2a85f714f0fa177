"""Composing a broadcast: the form with its attachments and schedule, the audience preview."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from hub.access.auth import Scope
from hub.broadcast.content import TITLE_MAX, resolve_audience
from hub.broadcast.service import BroadcastRequest, create_broadcast
from hub.core.errors import Forbidden, HubError
from hub.files.media import MAX_ATTACHMENTS
from hub.roster.audience import preview as preview_audience
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _areas_in_scope,
    _field,
    _hub,
    _require_write,
    _saved_groups,
    _text,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import CHANNELS, TEXTS
from hub.web.media import read_form
from hub.web.params import ids_of
from hub.web.permissions import Permission
from models import Attachment, BroadcastStatus

FORM_FIELDS = ("summary", "form", "title", "text", "areas", "attachments", "when")


def _form_error(exc: HubError, text_limit: int, file_mb: int = 0) -> tuple[str, str]:
    """The form field a domain error belongs to, and what to say there in Bahasa Indonesia."""
    field_texts = {
        "empty_audience": ("areas", "areas_empty"),
        "no_recipients": ("areas", "areas_nobody"),
        "unknown_area": ("areas", "areas_unknown"),
        "empty_title": ("title", "title_empty"),
        "title_too_long": ("title", "title_long"),
        "empty_text": ("text", "text_empty"),
        "text_too_long": ("text", "text_long"),
        "attachment_too_large": ("attachments", "attachment_too_large"),
        "attachment_type_not_allowed": ("attachments", "attachment_type_not_allowed"),
        "attachment_empty": ("attachments", "attachment_empty"),
        "unknown_attachment": ("attachments", "unknown_attachment"),
        "too_many_attachments": ("attachments", "too_many_attachments"),
        "unknown_group": ("areas", "groups_unknown"),
        "past_schedule": ("when", "send_at_past"),
        "recurrence_too_frequent": ("when", "cron_too_frequent"),
    }
    if exc.code == "invalid_cron":
        return "when", TEXTS["cron_invalid"].format(reason=exc.message.split(": ", 1)[-1])
    if isinstance(exc, Forbidden):
        return "areas", TEXTS["areas_forbidden"]
    if exc.code in field_texts:
        field, key = field_texts[exc.code]
        limits = {"title": TITLE_MAX, "attachment_too_large": file_mb}
        limit = limits.get(field, limits.get(key, text_limit))
        if key == "too_many_attachments":
            limit = MAX_ATTACHMENTS
        return field, TEXTS[key].format(limit=limit)
    return "form", TEXTS["bad_request"]


def _size_label(size: int) -> str:
    """`350 KB`, `1,2 MB`: a file's size as Indonesian readers write it."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


async def _attachment_views(ids: list[int], scope: Scope) -> list[dict[str, Any]]:
    """The attachments with these ids that exist in the user's areas, in that order, as the form
    lists them."""
    found = {a.id: a for a in await Attachment.filter(id__in=ids) if scope.covers_all(a.area_keys)}
    return [
        {"id": i, "filename": found[i].filename, "size": _size_label(found[i].size)}
        for i in ids
        if i in found
    ]


async def _preview(request: web.Request, values: dict[str, Any]) -> dict[str, Any]:
    """How many the chosen audience reaches, per channel, as the compose form shows it."""
    hub = _hub(request)
    audience = await resolve_audience(values["areas"], [], values["groups"], request[SCOPE])
    result = await preview_audience(audience.member_ids, hub.enabled_channels, hub.clock())
    return {
        "recipients": result.recipients,
        "by_channel": [(CHANNELS.get(c, c), n) for c, n in sorted(result.by_channel.items())],
        "templates": result.templates,
        "skipped": result.skipped,
        "unreachable": sum(result.unreachable.values()),
    }


def _schedule_of(values: dict[str, Any]) -> tuple[dt.datetime | None, str | None]:
    """send_at and cron from the form's "Waktu kirim"; raises _FormError for what is missing."""
    if values["when"] == "at":
        if not values["send_at"]:
            raise _FormError("when", "send_at_missing")
        try:
            return dt.datetime.fromisoformat(values["send_at"]), None  # the hub's timezone
        except ValueError:
            raise _FormError("when", "send_at_invalid") from None
    if values["when"] == "repeat":
        if not values["cron"]:
            raise _FormError("when", "cron_missing")
        return None, values["cron"]
    return None, None


class _FormError(Exception):
    def __init__(self, field: str, key: str) -> None:
        super().__init__(key)
        self.field = field
        self.key = key


async def _compose_form(
    request: web.Request,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    preview: dict[str, Any] | None = None,
) -> web.Response:
    return await render(
        request,
        "compose.html",
        status=status,
        nav="compose",
        areas=await _areas_in_scope(request[SCOPE]),
        groups=await _saved_groups(request[SCOPE]),
        preview=preview,
        quiet_hours=_hub(request).config.broadcast.quiet_hours,
        values=values,
        errors=dict.fromkeys(FORM_FIELDS, "") | (errors or {}),
        title_max=TITLE_MAX,
        text_max=_hub(request).config.broadcast.max_text_length,
        file_mb=_hub(request).config.broadcast.max_attachment_mb,
        files_max=MAX_ATTACHMENTS,
    )


@page(Permission.WRITE)
async def compose_page(request: web.Request) -> web.StreamResponse:
    """An empty compose form."""
    _require_write(request)
    values = {
        "title": "",
        "text": "",
        "areas": [],
        "groups": [],
        "ack_required": True,
        "report_button": False,
        "publish": False,
        "attachments": [],
        "when": "now",
        "send_at": "",
        "cron": "",
    }
    return await _compose_form(request, values)


@page(Permission.WRITE)
async def compose_submit(request: web.Request) -> web.StreamResponse:
    """Preview the audience, or create the broadcast; the form again, marked, when refused."""
    scope = _require_write(request)
    hub = _hub(request)
    user = request[SESSION].user
    refused: HubError | None = None
    uploaded: list[Attachment] = []
    if request.content_type == "multipart/form-data":  # the form carries files
        text_bytes = hub.config.web.max_body_kb * 1024
        form, uploaded, refused = await read_form(
            request, hub.media, user, scope, text_bytes=text_bytes
        )
    else:
        form = await request.post()
    # Files uploaded with an earlier try of this form come back as ids (their checkboxes).
    kept = ids_of(form.getall("attachments", []))
    attachment_ids = list(dict.fromkeys(kept + [a.id for a in uploaded]))
    values = {
        "title": _field(form, "title"),
        # Browsers send textarea line breaks as CRLF; count them as one character, as typed.
        "text": _field(form, "text").replace("\r\n", "\n"),
        "areas": [_text(v) for v in form.getall("areas", []) if isinstance(v, str)],
        "groups": [_text(v) for v in form.getall("groups", []) if isinstance(v, str)],
        "ack_required": _field(form, "ack_required") == "1",
        "report_button": _field(form, "report_button") == "1",
        "publish": _field(form, "publish") == "1",
        "attachments": await _attachment_views(attachment_ids, scope),
        "when": _field(form, "when") if _field(form, "when") in ("at", "repeat") else "now",
        "send_at": _field(form, "send_at"),
        "cron": " ".join(_field(form, "cron").split()),
    }
    file_mb = hub.config.broadcast.max_attachment_mb
    if refused is not None:
        field, message = _form_error(refused, hub.config.broadcast.max_text_length, file_mb)
        errors = {field: message, "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=refused.status)
    try:
        if _field(form, "action") == "preview":
            return await _compose_form(request, values, preview=await _preview(request, values))
        send_at, cron = _schedule_of(values)
        broadcast = await create_broadcast(
            hub.config,
            BroadcastRequest(
                title=values["title"],
                text=values["text"],
                areas=values["areas"],
                groups=values["groups"],
                send_at=send_at,
                recurrence=cron,
                ack_required=values["ack_required"],
                report_button=values["report_button"],
                publish=values["publish"],
                attachments=[a["id"] for a in values["attachments"]],
            ),
            user=user,
            scope=scope,
            enabled_channels=hub.enabled_channels,
            now=hub.clock(),
        )
    except _FormError as exc:
        errors = {exc.field: TEXTS[exc.key], "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=422)
    except HubError as exc:
        field, message = _form_error(exc, hub.config.broadcast.max_text_length, file_mb)
        errors = {field: message, "summary": TEXTS["form_invalid"]}
        return await _compose_form(request, values, errors, status=422)
    hub.sender.wake()
    notice = "scheduled" if broadcast.status == BroadcastStatus.SCHEDULED else "created"
    return redirect(f"/broadcasts/{broadcast.id}?notice={notice}")
