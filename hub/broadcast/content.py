"""What a broadcast says, when and to whom, checked before it is stored.

The announcement as rendered, its summary, its length as the messengers count it, and the
content, schedule and audience checks that creating and changing a broadcast share; corrections
and reminders render and summarize through here too. The life of a broadcast is in `service`,
sending it out in `fanout`, reading it back in `queries`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from channels import ChannelClasses
from hub.access.auth import Scope
from hub.broadcast.publication import CODE_PLACEHOLDER, code_footer
from hub.broadcast.schedule import Recurrence, parse_recurrence
from hub.core.config import Config
from hub.core.errors import ValidationFailed
from hub.core.texts import text as say
from hub.roster.audience import (
    audience_member_ids,
    groups_by_id,
    members_of_groups,
    reach_of,
    resolve_areas,
    resolve_groups,
)
from models import Area, Broadcast

TITLE_MAX = 200


def render_broadcast(config: Config, broadcast: Broadcast) -> str:
    """The message an RT head sees."""
    return render_announcement(
        config,
        broadcast.title,
        broadcast.text,
        broadcast.ack_required,
        broadcast.verification_code,
    )


def render_announcement(
    config: Config, title: str, text: str, ack_required: bool, code: str | None = None
) -> str:
    """The announcement with the hub's lines around it; a published one's verification code
    (`code`, as stored) at its foot."""
    lang = config.hub.language
    body = say(lang, "broadcast", title=title, text=text, hub=config.hub.name)
    if ack_required:
        body += "\n\n" + say(lang, "broadcast_ack_hint")
    if code is not None:
        body += "\n\n" + code_footer(config, code)
    return body


SUMMARY_LENGTH = 300


def summarize(text: str, limit: int = SUMMARY_LENGTH) -> str:
    """The start of a text on one line, cut at a word, for template variables and previews."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def message_length(text: str) -> int:
    """Length as the messengers count it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def check_content(
    config: Config,
    title: str,
    text: str,
    ack_required: bool,
    enabled_channels: ChannelClasses,
    published: bool = False,
) -> tuple[str, str]:
    """The stripped title and text; raises ValidationFailed if empty or too long to send (a
    published one with its verification code line)."""
    title = title.strip()
    body = text.strip()
    if not title:
        raise ValidationFailed("title must not be empty", field="title", code="empty_title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(
            f"title is longer than {TITLE_MAX} characters", field="title", code="title_too_long"
        )
    if not body:
        raise ValidationFailed("text must not be empty", field="text", code="empty_text")
    limit = config.broadcast.max_text_length
    if len(body) > limit:
        raise ValidationFailed(
            f"text is {len(body)} characters, more than the limit of {limit}",
            field="text",
            code="text_too_long",
        )
    # The announcement as sent (title, text, hub name, ack hint, code line) must fit every
    # channel it may go out on: a message cut by the platform would be worse than a clear
    # refusal now. Every code is as long as the placeholder.
    limits = {name: channel.text_limit for name, channel in enabled_channels.items()}
    if limits:
        name, channel_limit = min(limits.items(), key=lambda item: item[1])
        code = CODE_PLACEHOLDER if published else None
        length = message_length(render_announcement(config, title, body, ack_required, code))
        if length > channel_limit:
            raise ValidationFailed(
                f"the announcement is {length} characters with its title and footer; {name} "
                f"takes at most {channel_limit}: shorten the text by {length - channel_limit}",
                field="text",
                code="text_too_long",
            )
    return title, body


@dataclass(frozen=True)
class Schedule:
    send_at: dt.datetime | None  # None: now
    recurrence: Recurrence | None


def check_schedule(
    config: Config, send_at: dt.datetime | None, cron: str | None, now: dt.datetime
) -> Schedule:
    """Validate when a broadcast goes out; raises ValidationFailed for impossible schedules."""
    if send_at is not None:
        if send_at.tzinfo is None:
            send_at = send_at.replace(tzinfo=config.tz)
        if send_at < now - dt.timedelta(minutes=1):
            raise ValidationFailed("send_at is in the past", field="send_at", code="past_schedule")
    if cron is None:
        return Schedule(send_at, None)
    recurrence = parse_recurrence(cron, config.tz, now)
    start = max(now, send_at) if send_at else now
    # The first run is the first time the cron fires at or after the start.
    first = recurrence.next_run(start - dt.timedelta(microseconds=1))
    if first is None:
        raise ValidationFailed(
            f"recurrence.cron: {cron!r} never fires after {start.isoformat()}",
            field="recurrence.cron",
            code="invalid_cron",
        )
    return Schedule(first, recurrence)


@dataclass(frozen=True)
class Audience:
    areas: list[Area]
    member_ids: list[int]
    stored: dict[str, Any]  # as kept on the broadcast, to be resolved again when it goes out
    reach: list[str]  # the area keys it reaches: who may see the broadcast (BroadcastArea)


async def resolve_audience(
    areas: Sequence[str],
    members: Sequence[int],
    groups: Sequence[str],
    scope: Scope,
    group_ids: Sequence[int] = (),
) -> Audience:
    """Who a request addresses, checked against the scope; raises for unknown or empty ones.

    Saved groups are named by name (`groups`) or by id (`group_ids`), only among those in scope.
    """
    if not areas and not members and not groups and not group_ids:
        raise ValidationFailed(
            "the audience is empty: name areas, groups or members", code="empty_audience"
        )
    resolved = await resolve_areas(areas)
    for area in resolved:
        scope.require_area(area)
    saved_groups = await resolve_groups(groups, scope) | await groups_by_id(group_ids, scope)
    group_members = await members_of_groups(saved_groups.values())
    named = sorted(set(members) | set(group_members))
    member_ids = await audience_member_ids(resolved, named)
    await scope.require_members(named)
    if not member_ids:
        raise ValidationFailed("nobody holds a seat in that audience", code="no_recipients")
    stored = {
        "areas": [a.path for a in resolved],
        "members": sorted(set(members)),
        "groups": sorted(saved_groups),
        "group_ids": sorted(saved_groups.values()),
    }
    reach = await reach_of(resolved, named, scope)
    return Audience(resolved, member_ids, stored, reach)
