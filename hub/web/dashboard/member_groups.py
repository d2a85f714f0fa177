"""Saved member groups ("Kelompok penerima"): named lists of members a broadcast can address."""

from __future__ import annotations

from aiohttp import web

from hub.broadcast.member_groups import (
    broadcasts_using,
    delete_group,
    get_group,
    group_view,
    groups_in,
    save_group,
)
from hub.core.errors import HubError
from hub.roster.members import current_area_path, members_in
from hub.web.dashboard.base import (
    SCOPE,
    SESSION,
    _field,
    _hub_error_text,
    _path_id,
    _require_write,
    page,
    redirect,
    render,
)
from hub.web.dashboard.texts import TEXTS
from hub.web.pagination import page_of, page_request
from hub.web.params import ids_of, whole_number
from hub.web.permissions import Permission
from models import Member

GROUPS_PAGE = 50
PICKER_LIMIT = 200  # members listed to pick from; a search narrows them


async def _member_groups_page(
    request: web.Request, *, status: int = 200, error: str = "", notice: str = ""
) -> web.Response:
    scope = request[SCOPE]
    found, after = await page_of(groups_in(scope), page_request(request.query, GROUPS_PAGE))
    groups = []
    for group in found:
        view = await group_view(group)
        names = (
            await Member.filter(id__in=view["members"])
            .order_by("name")
            .values_list("name", flat=True)
        )
        groups.append(
            {"id": group.id, "name": group.name, "members": names, "ids": view["members"]}
        )
    editing = None
    wanted = request.query.get("edit", "")
    if (wanted_id := whole_number(wanted)) is not None:
        group = await groups_in(scope).get_or_none(id=wanted_id)
        if group is not None:
            view = await group_view(group)
            editing = {"id": group.id, "name": group.name, "members": view["members"]}
    search = " ".join(request.query.get("q", "").split())[:100]
    members = []
    if scope.can_write:
        # The picker: members whose name matches the search, and those in the group edited.
        picked = members_in(None, scope)
        if search:
            picked = picked.filter(name__icontains=search)
        chosen = editing["members"] if editing else []
        shown = await picked.order_by("name").limit(PICKER_LIMIT).prefetch_related("seats__area")
        shown += (
            await Member.filter(id__in=chosen)
            .exclude(id__in=[m.id for m in shown])
            .prefetch_related("seats__area")
        )
        members = [{"id": m.id, "name": m.name, "area": current_area_path(m) or ""} for m in shown]
    return await render(
        request,
        "member_groups.html",
        status=status,
        nav="member_groups",
        groups=groups,
        next_page=f"/member-groups?cursor={after}" if after else "",
        editing=editing,
        members=members,
        search=search,
        more_members=len(members) >= PICKER_LIMIT,
        error=error,
        notice=notice,
    )


@page()
async def member_groups_page(request: web.Request) -> web.StreamResponse:
    """The saved groups, one of them open for editing with `?edit=<id>`."""
    saved = request.query.get("notice", "")
    return await _member_groups_page(request, notice=TEXTS.get(f"group_{saved}", ""))


@page(Permission.WRITE)
async def member_group_submit(request: web.Request) -> web.StreamResponse:
    """Save a new group, or an edited one when the form carries its id."""
    scope = _require_write(request)
    form = await request.post()
    ids = ids_of(form.getall("members", []))
    existing = None
    if (group_id := whole_number(_field(form, "id"))) is not None:
        existing = await get_group(group_id, scope)
    try:
        await save_group(
            _field(form, "name"),
            ids,
            scope=scope,
            user=request[SESSION].user,
            group=existing,
        )
    except HubError as exc:
        known = ("group_exists", "group_spans_areas")
        key = exc.code if exc.code in known else {"empty_name": "group_name_empty"}.get(exc.code)
        message = TEXTS[key] if key else _hub_error_text(exc)
        return await _member_groups_page(request, status=exc.status, error=message)
    return redirect("/member-groups?notice=saved")


@page(Permission.WRITE)
async def member_group_delete(request: web.Request) -> web.StreamResponse:
    """Delete a saved group."""
    scope = _require_write(request)
    group = await get_group(_path_id(request), scope)
    using = await broadcasts_using(group)
    if using:
        ids = ", ".join(f"#{i}" for i in using)
        error = TEXTS["group_in_use"].format(ids=ids)
        return await _member_groups_page(request, status=409, error=error)
    await delete_group(group, scope=scope, user=request[SESSION].user)
    return redirect("/member-groups?notice=deleted")
