"""Saved member groups ("Kelompok penerima"): named lists of members a broadcast can address."""

from __future__ import annotations

from aiohttp import web

from hub.errors import HubError
from hub.member_groups import delete_group, get_group, group_view, list_groups, save_group
from hub.members import current_area_path, members_in
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
from models import Member


async def _member_groups_page(
    request: web.Request, *, status: int = 200, error: str = "", notice: str = ""
) -> web.Response:
    scope = request[SCOPE]
    groups = []
    for group in await list_groups():
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
    if wanted.isdigit():
        editing = next(
            ({"id": g["id"], "name": g["name"], "members": g["ids"]} for g in groups
             if g["id"] == int(wanted)),
            None,
        )  # fmt: skip
    members = [
        {"id": m.id, "name": m.name, "area": current_area_path(m) or ""}
        for m in await members_in(None, scope)
    ] if scope.can_write else []  # fmt: skip
    return await render(
        request,
        "member_groups.html",
        status=status,
        nav="member_groups",
        groups=groups,
        editing=editing,
        members=members,
        error=error,
        notice=notice,
    )


@page()
async def member_groups_page(request: web.Request) -> web.StreamResponse:
    """The saved groups, one of them open for editing with `?edit=<id>`."""
    saved = request.query.get("notice", "")
    return await _member_groups_page(request, notice=TEXTS.get(f"group_{saved}", ""))


@page()
async def member_group_submit(request: web.Request) -> web.StreamResponse:
    """Save a new group, or an edited one when the form carries its id."""
    scope = _require_write(request)
    form = await request.post()
    ids = [int(v) for v in form.getall("members", []) if isinstance(v, str) and v.isdigit()]
    existing = None
    if _field(form, "id").isdigit():
        existing = await get_group(int(_field(form, "id")))
    try:
        await save_group(
            _field(form, "name"),
            [i for i in ids if i < 2**31],
            scope=scope,
            user=request[SESSION].user,
            group=existing,
        )
    except HubError as exc:
        key = {"group_exists": "group_exists", "empty_name": "group_name_empty"}.get(exc.code)
        message = TEXTS[key] if key else _hub_error_text(exc)
        return await _member_groups_page(request, status=exc.status, error=message)
    return redirect("/member-groups?notice=saved")


@page()
async def member_group_delete(request: web.Request) -> web.StreamResponse:
    """Delete a saved group."""
    scope = _require_write(request)
    group = await get_group(_path_id(request))
    await delete_group(group, scope=scope, user=request[SESSION].user)
    return redirect("/member-groups?notice=deleted")
