"""The staff dashboard: session login, broadcasts, complaints, groups, the inbox, join requests,
participation for officials, and the sandbox phone; beside it the public archive and its check,
which need no login.

Routes sit on the main app next to /healthz, /metrics and /api/v1; each handler is wrapped by
`page()` (in `base`), which does the session check, CSRF on every POST, error pages and security
headers. Nothing under /api/v1 or /webhooks passes through here. One module per part of the
dashboard; they all import from `base` and `texts`, and only this module imports them.
"""

from __future__ import annotations

from aiohttp import web

from hub.runtime import Hub
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    Refused,
    _pending_join_requests,
    _sandbox,
    _when,
    page,
    redirect,
    render,
)
from hub.web.dashboard.broadcasts import (
    broadcast_cancel,
    broadcast_correct,
    broadcast_detail,
    broadcast_list,
    broadcast_live,
    broadcast_pause,
    broadcast_resume,
    broadcasts_live,
)
from hub.web.dashboard.complaints import (
    complaint_assign,
    complaint_detail,
    complaint_file,
    complaint_message,
    complaint_move,
    complaint_note,
    complaints_board,
)
from hub.web.dashboard.compose import compose_page, compose_submit
from hub.web.dashboard.groups import groups_page, link_code_submit
from hub.web.dashboard.inbox import (
    inbox_page,
    message_file,
    message_ticket,
    thread_page,
    thread_reply,
)
from hub.web.dashboard.join_requests import (
    join_request_approve,
    join_request_refuse,
    join_requests_page,
)
from hub.web.dashboard.login import login_page, login_submit, logout
from hub.web.dashboard.member_groups import (
    member_group_delete,
    member_group_submit,
    member_groups_page,
)
from hub.web.dashboard.participation import (
    participation_page,
    participation_person,
    participation_ranking,
)
from hub.web.dashboard.polls import poll_close, poll_detail, poll_list, poll_new, poll_submit
from hub.web.dashboard.public import archive_entry, archive_list, check_page, check_submit
from hub.web.dashboard.sandbox import phone_act, phone_live, phone_open, phone_page, sandbox_list
from hub.web.dashboard.scorecard import report_page, scorecard_note, scorecard_page
from hub.web.dashboard.static import static_file
from hub.web.dashboard.texts import TEXTS

# What other modules use from here (the tests read `_when` and `_pending_join_requests`).
__all__ = [
    "SCOPE",
    "SESSION",
    "TEXTS",
    "Refused",
    "_pending_join_requests",
    "_when",
    "page",
    "redirect",
    "render",
    "setup",
]


# A ticket in a path, by its number (SKJ-2026-000123).
TICKET = r"/complaints/{number:[A-Za-z]{2,8}-\d{4}-\d{1,9}}"


def setup(app: web.Application, hub: Hub) -> None:
    """Add the dashboard's routes to the main app; the sandbox pages only with that channel on."""
    # Ids have at most 9 digits: longer ones would overflow the integer columns (404, not 500).
    routes = [
        web.get("/", broadcast_list),
        web.get("/login", login_page),
        web.post("/login", login_submit),
        web.post("/logout", logout),
        web.get("/broadcasts/live", broadcasts_live),
        web.get("/broadcasts/new", compose_page),
        web.post("/broadcasts/new", compose_submit),
        web.get(r"/broadcasts/{id:\d{1,9}}", broadcast_detail),
        web.get(r"/broadcasts/{id:\d{1,9}}/live", broadcast_live),
        web.post(r"/broadcasts/{id:\d{1,9}}/cancel", broadcast_cancel),
        web.post(r"/broadcasts/{id:\d{1,9}}/pause", broadcast_pause),
        web.post(r"/broadcasts/{id:\d{1,9}}/resume", broadcast_resume),
        web.post(r"/broadcasts/{id:\d{1,9}}/correction", broadcast_correct),
        web.get("/groups", groups_page),
        web.post("/groups/link-codes", link_code_submit),
        web.get("/member-groups", member_groups_page),
        web.post("/member-groups", member_group_submit),
        web.post(r"/member-groups/{id:\d{1,9}}/delete", member_group_delete),
        web.get("/inbox", inbox_page),
        web.get(r"/inbox/{id:\d{1,9}}", thread_page),
        web.post(r"/inbox/{id:\d{1,9}}/reply", thread_reply),
        web.post(r"/inbox/messages/{id:\d{1,9}}/ticket", message_ticket),
        web.get(r"/inbox/messages/{id:\d{1,9}}/files/{file_id:\d{1,9}}", message_file),
        web.get("/join-requests", join_requests_page),
        web.post(r"/join-requests/{id:\d{1,9}}/approve", join_request_approve),
        web.post(r"/join-requests/{id:\d{1,9}}/refuse", join_request_refuse),
        web.get("/complaints", complaints_board),
        web.get(TICKET, complaint_detail),
        web.post(TICKET + "/move", complaint_move),
        web.post(TICKET + "/notes", complaint_note),
        web.post(TICKET + "/messages", complaint_message),
        web.post(TICKET + "/assignee", complaint_assign),
        web.get(TICKET + r"/files/{id:\d{1,9}}", complaint_file),
        web.get("/polls", poll_list),
        web.get("/polls/new", poll_new),
        web.post("/polls/new", poll_submit),
        web.get(r"/polls/{id:\d{1,9}}", poll_detail),
        web.post(r"/polls/{id:\d{1,9}}/close", poll_close),
        web.get("/partisipasi", participation_page),
        web.get("/partisipasi/peringkat", participation_ranking),
        web.get(r"/partisipasi/anggota/{id:\d{1,9}}", participation_person),
        web.get("/partisipasi/rapor", scorecard_page),
        web.post("/partisipasi/rapor/catatan", scorecard_note),
        web.get("/partisipasi/laporan", report_page),
        web.get("/static/{name}", static_file),
        # The public archive and its check (no login).
        web.get("/arsip", archive_list),
        web.get("/arsip/{code}", archive_entry),
        web.get("/cek", check_page),
        web.post("/cek", check_submit),
    ]
    if _sandbox(hub) is not None:
        routes += [
            web.get("/sandbox", sandbox_list),
            web.get(r"/sandbox/{id:\d{1,9}}", phone_page),
            web.get(r"/sandbox/{id:\d{1,9}}/live", phone_live),
            web.post(r"/sandbox/{id:\d{1,9}}/act", phone_act),
            web.post(r"/sandbox/{id:\d{1,9}}/open", phone_open),
        ]
    app.router.add_routes(routes)
