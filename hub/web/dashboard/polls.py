"""Jajak pendapat: the list, the form (audience as the compose page picks it), and a poll's live
results as bars with the turnout per area; staff close one early."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from hub.core.errors import Forbidden, HubError
from hub.feedback.polls.results import results_of
from hub.feedback.polls.service import (
    PollRequest,
    close_poll,
    create_poll,
    eligible_deliveries,
    get_poll,
    polls_in,
    stop_native_polls,
)
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _areas_in_scope,
    _field,
    _hub,
    _path_id,
    _require_write,
    _saved_groups,
    _text,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import POLL_TEXTS, TEXTS
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import Poll, PollStatus

REFRESH_SECONDS = 10  # an open poll's page reloads itself: results as they come in
BAR_WIDTH = 400  # the longest bar, in the chart's own units


@page(Permission.READ)
async def poll_list(request: web.Request) -> web.StreamResponse:
    """The polls in the user's areas, newest first."""
    hub = _hub(request)
    found, after = await page_of(
        polls_in(request[SCOPE]), page_request(request.query, 50), newest_first=True
    )
    rows = []
    for poll in found:
        rows.append(
            {
                "id": poll.id,
                "question": poll.question,
                "status": poll.status.value,
                "status_label": POLL_TEXTS[poll.status.value],
                "closes": _when(poll.closes_at, hub.config.tz),
                "voters": await poll.votes.all().count(),
                "eligible": await eligible_deliveries(poll).count(),
            }
        )
    return await render(request, "polls.html", nav="polls", polls=rows, next_cursor=after)


async def _form(
    request: web.Request, values: dict[str, Any], error: str = "", status: int = 200
) -> web.Response:
    scope = request[SCOPE]
    return await render(
        request,
        "poll_new.html",
        status=status,
        nav="polls",
        areas=await _areas_in_scope(scope),
        groups=await _saved_groups(scope),
        values=values,
        errors={"areas": error if values.get("error_field") == "areas" else ""},
        error=error,
    )


_EMPTY = {
    "question": "",
    "options": "",
    "areas": [],
    "groups": [],
    "closes_at": "",
    "send_result": True,
}
# The audience's refusals, said as the compose page says them.
_AUDIENCE_ERRORS = {
    "empty_audience": "areas_empty",
    "no_recipients": "areas_nobody",
    "unknown_area": "areas_unknown",
    "unknown_group": "groups_unknown",
}


@page(Permission.WRITE)
async def poll_new(request: web.Request) -> web.StreamResponse:
    """An empty poll form."""
    _require_write(request)
    return await _form(request, dict(_EMPTY))


@page(Permission.WRITE)
async def poll_submit(request: web.Request) -> web.StreamResponse:
    """Create the poll, or show the form again with what is wrong."""
    scope = _require_write(request)
    hub = _hub(request)
    form = await request.post()
    values = {
        "question": _field(form, "question"),
        "options": _field(form, "options").replace("\r\n", "\n"),
        "areas": [_text(v) for v in form.getall("areas", []) if isinstance(v, str)],
        "groups": [_text(v) for v in form.getall("groups", []) if isinstance(v, str)],
        "closes_at": _field(form, "closes_at"),
        "send_result": _field(form, "send_result") == "1",
    }
    options = [line.strip() for line in values["options"].split("\n") if line.strip()]
    try:
        closes_at = dt.datetime.fromisoformat(values["closes_at"]) if values["closes_at"] else None
    except ValueError:
        return await _form(request, values, POLL_TEXTS["closes_at_invalid"], 422)
    try:
        poll = await create_poll(
            hub.config,
            PollRequest(
                question=values["question"],
                options=options,
                areas=values["areas"],
                groups=values["groups"],
                closes_at=closes_at,  # a naive time is the hub's
                send_result=values["send_result"],
            ),
            user=request[SESSION].user,
            scope=scope,
            enabled_channels=hub.enabled_channels,
            now=hub.clock(),
        )
    except HubError as exc:
        key = "areas_forbidden" if isinstance(exc, Forbidden) else _AUDIENCE_ERRORS.get(exc.code)
        if key is not None:
            return await _form(request, values | {"error_field": "areas"}, TEXTS[key], 422)
        return await _form(request, values, POLL_TEXTS.get(exc.code, TEXTS["bad_request"]), 422)
    hub.sender.wake()
    return redirect(f"/polls/{poll.id}")


def _bars(options: list[tuple[str, int]], voters: int) -> list[dict[str, Any]]:
    """Each option's bar: its width in the chart and its share of the votes."""
    most = max((votes for _, votes in options), default=0)
    return [
        {
            "number": n,
            "text": text,
            "votes": votes,
            "width": round(BAR_WIDTH * votes / most) if most else 0,
            "share": f"{round(100 * votes / voters)}%" if voters else "0%",
        }
        for n, (text, votes) in enumerate(options, 1)
    ]


@page(Permission.READ)
async def poll_detail(request: web.Request) -> web.StreamResponse:
    """A poll's results as bars, its turnout per area, and (for staff) the close button."""
    hub = _hub(request)
    poll = await get_poll(_path_id(request), request[SCOPE])
    results = await results_of(poll, request[SCOPE])
    return await render(
        request,
        "poll.html",
        nav="polls",
        poll=poll,
        status_label=POLL_TEXTS[poll.status.value],
        closes=_when(poll.closes_at, hub.config.tz),
        closed=_when(poll.closed_at, hub.config.tz),
        bars=_bars(results.options, results.voters),
        bar_width=BAR_WIDTH,
        results=results,
        turnout=f"{round(100 * results.turnout)}%",
        areas=[
            {
                "area": a.area or "—",
                "eligible": a.eligible,
                "voters": a.voters,
                "turnout": f"{round(100 * a.turnout)}%",
            }
            for a in results.areas
        ],
        refresh=REFRESH_SECONDS if poll.status == PollStatus.OPEN else 0,
    )


@page(Permission.WRITE)
async def poll_close(request: web.Request) -> web.StreamResponse:
    """Close the poll now; its native polls are stopped on the platform afterwards."""
    scope = _require_write(request)
    hub = _hub(request)
    poll: Poll = await get_poll(_path_id(request), scope)
    if poll.status == PollStatus.OPEN:
        poll = await close_poll(hub.config, poll.id, scope, hub.clock(), user=request[SESSION].user)
        hub.sender.wake()
        stopping = stop_native_polls(poll, hub.channels, hub.sender.limiter)
        hub.tasks.start(stopping, name=f"close-poll-{poll.id}")
    return redirect(f"/polls/{poll.id}")
