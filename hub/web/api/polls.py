"""Polls: create one (a broadcast with options, sent now), list and show them with their
results and turnout per area, close one early."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import Field
from tortoise.functions import Count

from hub.feedback.polls.results import results_of
from hub.feedback.polls.service import (
    OPTION_MAX,
    OPTIONS_MAX,
    OPTIONS_MIN,
    QUESTION_MAX,
    PollRequest,
    close_poll,
    create_poll,
    eligible_deliveries,
    get_poll,
    polls_in,
    stop_native_polls,
)
from hub.runtime import HUB, Hub
from hub.web.api.bodies import Audience, Flag, RequestBody, SendAt, text
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import component, int_id, iso, route
from hub.web.api.schemas import (
    BOOLEAN,
    INTEGER,
    NULLABLE_DATE_TIME,
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
from models import Poll, PollVote

# Request bodies ------------------------------------------------------------------------------

Question = text(1, QUESTION_MAX)
Option = text(1, OPTION_MAX)


class PollCreate(RequestBody):
    """A new poll, sent now to its audience; one answer per RT head, changeable until it closes."""

    question: Question
    options: list[Option] = Field(
        min_length=OPTIONS_MIN,
        max_length=OPTIONS_MAX,
        description="2 to 10 different answers, in the order shown",
    )
    audience: Audience
    closes_at: SendAt = Field(
        None,
        description="ISO-8601, in the future; without an offset it is read in the hub's "
        "timezone. Null: open until staff close it.",
    )
    send_result: Flag = Field(False, description="tell every voter the result when it closes")


# Response bodies -----------------------------------------------------------------------------

STATUS = one_of("open", "closed")
TURNOUT = described({"type": "number"}, "voters / eligible, 0..1")
# What every poll shows, in the list and alone (see _basics).
BASICS = dict(
    id=INTEGER,
    broadcast_id=INTEGER,
    question=STRING,
    status=STATUS,
    closes_at=NULLABLE_DATE_TIME,
    closed_at=NULLABLE_DATE_TIME,
    created_at=STRING,
)
POLL = component(
    "Poll",
    obj(
        **BASICS,
        send_result=BOOLEAN,
        options=array(obj(text=STRING, votes=INTEGER)),
        voters=INTEGER,
        eligible=described(INTEGER, "recipients not cancelled, skipped or failed"),
        turnout=TURNOUT,
        areas=described(
            array(obj(area=NULLABLE_STRING, eligible=INTEGER, voters=INTEGER, turnout=TURNOUT)),
            "turnout per area (the recipients' RT when it was sent), within your areas",
        ),
    ),
)
POLL_SUMMARY = component("PollSummary", obj(**BASICS, voters=INTEGER, eligible=INTEGER))
CREATED = obj(id=INTEGER, broadcast_id=INTEGER, status=STATUS, recipients=INTEGER)


# Loading and shaping -------------------------------------------------------------------------


async def the_poll(request: web.Request) -> Poll:
    """The poll the path names, if the user may see it (else 404)."""
    return await get_poll(int_id(request), request[SCOPE])


def _basics(poll: Poll) -> dict[str, Any]:
    return {
        "id": poll.id,
        "broadcast_id": poll.broadcast_id,
        "question": poll.question,
        "status": poll.status.value,
        "closes_at": iso(poll.closes_at),
        "closed_at": iso(poll.closed_at),
        "created_at": poll.created_at.isoformat(),
    }


async def poll_view(request: web.Request, poll: Poll) -> dict[str, Any]:
    """A poll as the API shows it, with its results."""
    results = await results_of(poll, request[SCOPE])
    return {**_basics(poll), "send_result": poll.send_result, **results.as_dict()}


async def _summaries(polls: Sequence[Poll]) -> list[dict[str, Any]]:
    """A page of polls with their voters and eligible recipients, two queries for the page."""
    ids = [p.id for p in polls]
    voters = dict(
        await PollVote.filter(poll_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("poll_id")
        .values_list("poll_id", "n")
    )
    summaries = []
    for poll in polls:
        eligible = await eligible_deliveries(poll).count()
        summaries.append({**_basics(poll), "voters": voters.get(poll.id, 0), "eligible": eligible})
    return summaries


# Routes --------------------------------------------------------------------------------------


@route(
    "GET",
    "/polls",
    summary="Recent polls with their voters",
    permission=Permission.READ,
    paginated="polls",
    response=POLL_SUMMARY,
)
async def list_polls(request: web.Request) -> web.Response:
    found, after = await page_of(
        polls_in(request[SCOPE]), page_request(request.query), newest_first=True
    )
    return web.json_response({"polls": await _summaries(found), "next": after})


@route(
    "POST",
    "/polls",
    summary="Create a poll, sent now to its audience (a broadcast with options)",
    permission=Permission.WRITE,
    body=PollCreate,
    status=201,
    response=CREATED,
)
async def post_poll(request: web.Request, body: PollCreate) -> web.Response:
    hub: Hub = request.app[HUB]
    poll = await create_poll(
        hub.config,
        PollRequest(
            question=body.question,
            options=list(body.options),
            closes_at=body.closes_at,
            send_result=body.send_result,
            **body.audience.model_dump(),
        ),
        **sent_by(request),
    )
    hub.sender.wake()
    answer = {
        "id": poll.id,
        "broadcast_id": poll.broadcast_id,
        "status": poll.status.value,
        "recipients": poll.broadcast.recipients,
    }
    return web.json_response(answer, status=201)


@route(
    "GET",
    "/polls/{id}",
    summary="A poll with its results and the turnout per area",
    permission=Permission.READ,
    load=the_poll,
    response=POLL,
)
async def show_poll(request: web.Request, poll: Poll) -> web.Response:
    return web.json_response(await poll_view(request, poll))


@route(
    "POST",
    "/polls/{id}/close",
    summary="Close a poll now: no more votes; the result goes to the voters if asked",
    permission=Permission.WRITE,
    load=the_poll,
    response=POLL,
    errors=(409,),  # closed already
)
async def post_close(request: web.Request, poll: Poll) -> web.Response:
    hub: Hub = request.app[HUB]
    poll = await close_poll(hub.config, poll.id, request[SCOPE], hub.clock(), user=request[USER])
    hub.sender.wake()
    # Stopping the native polls on the platform is a courtesy, paced: not in the request.
    stopping = stop_native_polls(poll, hub.channels, hub.sender.limiter)
    hub.tasks.start(stopping, name=f"close-poll-{poll.id}")
    return web.json_response(await poll_view(request, poll))
