"""Saved member groups: members addressed together, named in an audience by name or id."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hub.broadcast.member_groups import delete_group, get_group, group_view, groups_in, save_group
from hub.web.api.bodies import Id, RequestBody, text
from hub.web.api.guards import SCOPE, USER
from hub.web.api.routes import component, int_id, route
from hub.web.api.schemas import INTEGER, NULLABLE_STRING, STRING, array, described, obj
from hub.web.pagination import page_of, page_request
from hub.web.permissions import Permission
from models import MemberGroup

GroupName = text(1, 100)


class MemberGroupSave(RequestBody):
    """A group's name and all its members (a save replaces them)."""

    name: GroupName
    members: list[Id] = Field(max_length=10000)


MEMBER_GROUP = component(
    "MemberGroup",
    obj(
        id=INTEGER,
        name=STRING,
        area=described(
            NULLABLE_STRING,
            "The area the group belongs to: only users of that area see it "
            "(null: the whole installation, admins only)",
        ),
        members=array(INTEGER),
    ),
)


async def the_group(request: web.Request) -> MemberGroup:
    """The group the path names, if the user may see it (else 404)."""
    return await get_group(int_id(request), request[SCOPE])


@route(
    "GET",
    "/member-groups",
    summary="Saved groups of members",
    permission=Permission.READ,
    paginated="groups",
    response=MEMBER_GROUP,
)
async def list_member_groups(request: web.Request) -> web.Response:
    groups, after = await page_of(groups_in(request[SCOPE]), page_request(request.query))
    return web.json_response({"groups": [await group_view(g) for g in groups], "next": after})


@route(
    "POST",
    "/member-groups",
    summary="Save a group of members to address together",
    permission=Permission.WRITE,
    body=MemberGroupSave,
    status=201,
    response=MEMBER_GROUP,
    errors=(409,),  # the name is taken
)
async def post_member_group(request: web.Request, body: MemberGroupSave) -> web.Response:
    group = await save_group(body.name, body.members, scope=request[SCOPE], user=request[USER])
    return web.json_response(await group_view(group), status=201)


@route(
    "GET",
    "/member-groups/{id}",
    summary="One saved group",
    permission=Permission.READ,
    load=the_group,
    response=MEMBER_GROUP,
)
async def show_member_group(request: web.Request, group: MemberGroup) -> web.Response:
    return web.json_response(await group_view(group))


@route(
    "PUT",
    "/member-groups/{id}",
    summary="Replace a group's name and members",
    permission=Permission.WRITE,
    load=the_group,
    body=MemberGroupSave,
    response=MEMBER_GROUP,
    errors=(409,),
)
async def put_member_group(
    request: web.Request, group: MemberGroup, body: MemberGroupSave
) -> web.Response:
    group = await save_group(
        body.name, body.members, scope=request[SCOPE], user=request[USER], group=group
    )
    return web.json_response(await group_view(group))


@route(
    "DELETE",
    "/member-groups/{id}",
    summary="Delete a group (refused while a scheduled broadcast goes to it)",
    permission=Permission.WRITE,
    load=the_group,
    status=204,
    errors=(409,),
)
async def delete_member_group(request: web.Request, group: MemberGroup) -> web.Response:
    await delete_group(group, scope=request[SCOPE], user=request[USER])
    return web.Response(status=204)
