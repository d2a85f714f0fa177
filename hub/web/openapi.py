"""The OpenAPI 3.1 document, built from the same request schemas the API validates against."""

from __future__ import annotations

from typing import Any

from hub import __version__

# Ids are 32-bit integer columns; larger numbers are refused here, not by the database.
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
AREA_LIST = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 500},  # as long as Area.path
    "maxItems": 500,
}

AUDIENCE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "areas": AREA_LIST,
        "members": {"type": "array", "items": ID},
        "groups": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "maxItems": 100,
            "description": "Names of saved member groups in your areas (see /member-groups)",
        },
        "group_ids": {
            "type": "array",
            "items": ID,
            "maxItems": 100,
            "description": "Ids of saved member groups in your areas; a broadcast keeps its groups "
            "by id, so renaming a group does not change where it goes",
        },
    },
}

RECURRENCE: dict[str, Any] = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["cron"],
            "properties": {
                "cron": {
                    "type": "string",
                    "minLength": 9,
                    "maxLength": 120,
                    "description": "minute hour day month weekday in the hub's timezone "
                    '(weekday 0 or 7 = Sunday, 1 = Monday): "0 8 * * 1" is every Monday 08:00',
                }
            },
        },
    ]
}

BROADCAST_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "text", "audience"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
        "audience": AUDIENCE,
        "send_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "ISO-8601; without an offset it is read in the hub's timezone. "
            "Null: now (or, with a recurrence, from now on).",
        },
        "recurrence": RECURRENCE,
        "ack_required": {"type": "boolean", "default": True},
        "attachments": {
            "type": "array",
            "items": ID,
            "maxItems": 10,
            "description": "Ids from POST /attachments, sent with the announcement in this order.",
        },
    },
}

# Changes to a scheduled or paused broadcast; what is left out stays as it was.
BROADCAST_UPDATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        name: BROADCAST_CREATE["properties"][name]
        for name in (
            "title",
            "text",
            "audience",
            "send_at",
            "recurrence",
            "ack_required",
            "attachments",
        )
    },
}

BROADCAST_CORRECTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
    },
}

AUDIENCE_PREVIEW_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["audience"],
    "properties": {"audience": AUDIENCE},
}

MEMBER_GROUP_SAVE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "members"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "members": {"type": "array", "items": ID, "maxItems": 10000},
    },
}

GROUP_LINK_CODE_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["area"],
    "properties": {"area": {"type": "string", "minLength": 1, "maxLength": 500}},
}

SANDBOX_ACT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "maxLength": 4096},
        "button": {"type": "string", "minLength": 1, "maxLength": 200},
        "reply_to": {"type": "string", "minLength": 1},
    },
    "anyOf": [{"required": ["text"]}, {"required": ["button"]}],
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

COUNTS = {
    "type": "object",
    "properties": {
        name: {"type": "integer"}
        for name in (
            "pending",
            "sent",
            "delivered",
            "read",
            "acknowledged",
            "failed",
            "skipped",
            "cancelled",
        )
    },
}

MEMBER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "area": {"type": ["string", "null"]},
        "rt": {"type": ["string", "null"]},
        "role": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "channels": {"type": "array", "items": {"type": "string"}},
        "preferred_channel": {"type": ["string", "null"]},
        "status": {"enum": ["reachable", "opted_out", "blocked", "not_joined"]},
    },
}

# Messages of a broadcast that are not deliveries (cancelled ones are not counted).
MESSAGE_COUNTS = {
    "type": "object",
    "properties": {name: {"type": "integer"} for name in ("pending", "sent", "failed")},
}

BROADCAST = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"enum": ["scheduled", "paused", "sending", "sent", "cancelled", "missed"]},
        "recipients": {"type": "integer"},
        "ack_required": {"type": "boolean"},
        "send_at": {"type": ["string", "null"], "description": "a series: its next run"},
        "recurrence": {
            "type": ["object", "null"],
            "properties": {"cron": {"type": "string"}},
        },
        "series_id": {"type": ["integer", "null"], "description": "the series of this run"},
        "audience": {"type": "object"},
        "created_at": {"type": "string"},
        "corrected_at": {"type": ["string", "null"]},
        "counts": {"$ref": "#/components/schemas/Counts"},
        "group_posts": {
            **MESSAGE_COUNTS,
            "description": "posts in linked group chats, their corrections included",
        },
        "corrections": {
            **MESSAGE_COUNTS,
            "description": "corrections sent to recipients (edits or marked resends)",
        },
    },
}

TS = {"type": ["string", "null"], "format": "date-time"}
RECIPIENT = {
    "type": "object",
    "properties": {
        "member_id": {"type": "integer"},
        "name": {"type": "string"},
        "area": {"type": ["string", "null"]},
        "channel": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "sent_at": TS,
        "delivered_at": TS,
        "read_at": TS,
        "acknowledged_at": TS,
        "failure_reason": {"type": ["string", "null"]},
        "reminders": {"type": "integer"},
        "attempts": {"type": "integer"},
    },
}

CALL_LIST_ENTRY = {
    "type": "object",
    "properties": {
        "member_id": {"type": "integer"},
        "name": {"type": "string"},
        "area": {"type": ["string", "null"]},
        "rt": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "channel": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "reminders": {"type": "integer"},
        "tel_link": {"type": ["string", "null"], "description": "tel:+62..."},
        "whatsapp_link": {"type": ["string", "null"], "description": "https://wa.me/62..."},
    },
}

SANDBOX_MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "text": {"type": "string"},
        "buttons": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "payload": {"type": "string"}},
            },
        },
        "sent_at": {"type": "string", "format": "date-time"},
        "from_member": {"type": "boolean"},
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "filename": {"type": "string"},
                    "content_type": {"type": "string"},
                    "url": {"type": "string"},
                },
            },
        },
    },
}

ATTACHMENT = {
    "type": "object",
    "required": ["id", "filename", "content_type", "size", "url"],
    "properties": {
        "id": {"type": "integer"},
        "filename": {"type": "string"},
        "content_type": {"enum": ["application/pdf", "image/jpeg", "image/png"]},
        "size": {"type": "integer", "description": "bytes"},
        "url": {"type": "string", "description": "Public download link; its token is the secret"},
    },
}

ATTACHMENT_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/NotFound"},
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An operation; one that reads a body also answers 415 when it comes in another type."""
    responses = {**responses, **_ERRORS}
    if "requestBody" in extra:
        responses.setdefault("415", {"$ref": "#/components/responses/UnsupportedMediaType"})
    return {"summary": summary, "responses": responses, **extra}


_ID = {"name": "id", "in": "path", "required": True, "schema": ID}
_AREA_Q = {
    "name": "area",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Area path, e.g. `Sungai Kunjang/Loa Bakung/RT 012`",
}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


_CONFLICT = {"409": {"$ref": "#/components/responses/Conflict"}}
_INVALID = {"422": {"$ref": "#/components/responses/Invalid"}}


def _broadcast_lifecycle_paths() -> dict[str, Any]:
    """Preview, edit, pause, resume and correct broadcasts; saved member groups."""
    group_list = {
        "type": "object",
        "properties": {"groups": {"type": "array", "items": _ref("MemberGroup")}},
    }
    return {
        "/broadcasts/preview": {
            "post": _op(
                "How many an audience reaches, per channel, and how many need a template",
                {"200": _json(_ref("AudiencePreview")), **_INVALID},
                requestBody=_body("AudiencePreviewRequest"),
            )
        },
        "/broadcasts/{id}/pause": {
            "post": _op(
                "Hold a scheduled broadcast or series until it is resumed",
                {"200": _json(_ref("Broadcast")), **_CONFLICT},
                parameters=[_ID],
            )
        },
        "/broadcasts/{id}/resume": {
            "post": _op(
                "Schedule a paused broadcast again (a time that passed meanwhile becomes now)",
                {"200": _json(_ref("Broadcast")), **_CONFLICT},
                parameters=[_ID],
            )
        },
        "/broadcasts/{id}/correction": {
            "post": _op(
                "Correct a sent broadcast: edited in place where the platform can, else sent "
                "again marked as a correction to those who received it",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "broadcast": _ref("Broadcast"),
                                "edited": {"type": "integer"},
                                "resent": {"type": "integer"},
                                "updated_before_sending": {"type": "integer"},
                            },
                        }
                    ),
                    **_CONFLICT,
                    **_INVALID,
                },
                parameters=[_ID],
                requestBody=_body("BroadcastCorrection"),
            )
        },
        "/member-groups": {
            "get": _op("Saved groups of members", {"200": _json(group_list)}),
            "post": _op(
                "Save a group of members to address together",
                {"201": _json(_ref("MemberGroup"), "Created"), **_CONFLICT, **_INVALID},
                requestBody=_body("MemberGroupSave"),
            ),
        },
        "/member-groups/{id}": {
            "get": _op("One saved group", {"200": _json(_ref("MemberGroup"))}, parameters=[_ID]),
            "put": _op(
                "Replace a group's name and members",
                {"200": _json(_ref("MemberGroup")), **_CONFLICT, **_INVALID},
                parameters=[_ID],
                requestBody=_body("MemberGroupSave"),
            ),
            "delete": _op(
                "Delete a group (broadcasts scheduled for it go to the rest of their audience)",
                {"204": {"description": "Deleted"}},
                parameters=[_ID],
            ),
        },
    }


_LIFECYCLE_SCHEMAS: dict[str, Any] = {
    "BroadcastUpdate": BROADCAST_UPDATE,
    "BroadcastCorrection": BROADCAST_CORRECTION,
    "AudiencePreviewRequest": AUDIENCE_PREVIEW_REQUEST,
    "MemberGroupSave": MEMBER_GROUP_SAVE,
    "AudiencePreview": {
        "type": "object",
        "properties": {
            "recipients": {"type": "integer"},
            "by_channel": {"type": "object", "additionalProperties": {"type": "integer"}},
            "templates": {
                "type": "integer",
                "description": "recipients outside their channel's free-text window (WhatsApp: "
                "24 hours since they last wrote) who get the approved template",
            },
            "skipped": {"type": "integer", "description": "opted out: not sent, by choice"},
            "unreachable": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "MemberGroup": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "area": {
                "type": ["string", "null"],
                "description": "The area the group belongs to: only users of that area see it "
                "(null: the whole installation, admins only)",
            },
            "members": {"type": "array", "items": {"type": "integer"}},
        },
    },
}

# Lists and the key of their items; each takes ?limit= and ?cursor= and answers "next".
PAGINATED = {
    "/members": "members",
    "/broadcasts": "broadcasts",
    "/broadcasts/{id}/recipients": "recipients",
    "/member-groups": "groups",
    "/groups": "groups",
    "/join-requests": "join_requests",
}
_PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        "description": "Items per page",
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The `next` of the previous page",
    },
]


def _paginate(paths: dict[str, Any]) -> dict[str, Any]:
    """Add the page parameters and `next` to every list operation."""
    for path, key in PAGINATED.items():
        operation = paths[path]["get"]
        operation["parameters"] = [*operation.get("parameters", []), *_PAGE_PARAMETERS]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        schema["properties"]["next"] = {
            "type": ["string", "null"],
            "description": "The cursor of the next page; null on the last",
        }
        schema["required"] = [key, "next"]
    return paths


def openapi_document() -> dict[str, Any]:
    """The whole document served at /api/v1/openapi.json."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Balai Warga hub API",
            "version": __version__,
            "description": "Broadcasts to RT heads with read tracking. Bearer tokens from "
            "`hub token create USERNAME`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paginate(
            _broadcast_lifecycle_paths()
            | {
                "/openapi.json": {
                    "get": {
                        "summary": "This document",
                        "security": [],
                        "responses": {"200": _json({"type": "object"})},
                    }
                },
                "/members": {
                    "get": _op(
                        "Members holding a seat in an area",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "members": {"type": "array", "items": _ref("Member")}
                                    },
                                }
                            ),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        parameters=[_AREA_Q],
                    )
                },
                "/members/{id}": {
                    "get": _op("One member", {"200": _json(_ref("Member"))}, parameters=[_ID])
                },
                "/members/{id}/invite": {
                    "get": _op(
                        "A member's invite code and links",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "code": {"type": "string"},
                                        "telegram_link": {"type": ["string", "null"]},
                                        "whatsapp_link": {"type": ["string", "null"]},
                                    },
                                }
                            )
                        },
                        parameters=[_ID],
                    )
                },
                "/broadcasts": {
                    "get": _op(
                        "Recent broadcasts with their counts",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "broadcasts": {"type": "array", "items": _ref("Broadcast")}
                                    },
                                }
                            )
                        },
                    ),
                    "post": _op(
                        "Create a broadcast (sent now, or at send_at)",
                        {
                            "201": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "status": {"type": "string"},
                                        "recipients": {"type": "integer"},
                                    },
                                },
                                "Created",
                            ),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        requestBody={
                            "required": True,
                            "content": {"application/json": {"schema": _ref("BroadcastCreate")}},
                        },
                    ),
                },
                "/broadcasts/{id}": {
                    "get": _op(
                        "A broadcast and its counts",
                        {"200": _json(_ref("Broadcast"))},
                        parameters=[_ID],
                    ),
                    "patch": _op(
                        "Change a scheduled or paused broadcast (validated as at creation)",
                        {"200": _json(_ref("Broadcast")), **_CONFLICT, **_INVALID},
                        parameters=[_ID],
                        requestBody=_body("BroadcastUpdate"),
                    ),
                },
                "/broadcasts/{id}/recipients": {
                    "get": _op(
                        "Each recipient's delivery",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "recipients": {"type": "array", "items": _ref("Recipient")}
                                    },
                                }
                            )
                        },
                        parameters=[_ID],
                    )
                },
                "/broadcasts/{id}/call-list": {
                    "get": _op(
                        "Recipients who have not confirmed (or read, when no confirmation was "
                        "asked), incl. failed ones, with tap-to-call and click-to-chat links",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "broadcast_id": {"type": "integer"},
                                        "silent": {"type": "array", "items": _ref("CallListEntry")},
                                    },
                                }
                            )
                        },
                        parameters=[_ID],
                    )
                },
                "/broadcasts/{id}/cancel": {
                    "post": _op(
                        "Stop what has not been sent yet",
                        {
                            "200": _json(_ref("Broadcast")),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        parameters=[_ID],
                    )
                },
                "/sandbox/members/{id}/messages": {
                    "get": _op(
                        "What the hub sent to a member's simulated phone, oldest first",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "messages": {
                                            "type": "array",
                                            "items": _ref("SandboxMessage"),
                                        }
                                    },
                                }
                            )
                        },
                        parameters=[_ID],
                    ),
                    "post": _op(
                        "Act as the member: type text, tap a button or reply",
                        {
                            "202": _json(
                                {"type": "object", "properties": {"id": {"type": "string"}}},
                                "Accepted",
                            ),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        parameters=[_ID],
                        requestBody={
                            "required": True,
                            "content": {"application/json": {"schema": _ref("SandboxAct")}},
                        },
                    ),
                },
                "/groups": {
                    "get": _op(
                        "Group chats linked to areas (posts of broadcasts to those areas go there)",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "groups": {"type": "array", "items": _ref("Group")}
                                    },
                                }
                            )
                        },
                    )
                },
                "/groups/link-codes": {
                    "post": _op(
                        "A one-time code: sent in a group as `/hubungkan <code>`, it links the "
                        "group",
                        {
                            "201": _json(_ref("LinkCode"), "Created"),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        requestBody={
                            "required": True,
                            "content": {
                                "application/json": {"schema": _ref("GroupLinkCodeCreate")}
                            },
                        },
                    )
                },
                "/attachments": {
                    "post": _op(
                        "Upload a file to attach to broadcasts (PDF, JPEG or PNG, read from its "
                        "bytes; at most [broadcast] max_attachment_mb)",
                        {
                            "201": _json(_ref("Attachment"), "Created"),
                            "413": _error_response("Larger than max_attachment_mb"),
                            "415": _error_response("Not multipart, or not a PDF, JPEG or PNG"),
                            "422": {"$ref": "#/components/responses/Invalid"},
                        },
                        requestBody={
                            "required": True,
                            "content": {
                                "multipart/form-data": {"schema": _ref("AttachmentUpload")}
                            },
                        },
                    )
                },
                "/join-requests": {
                    "get": _op(
                        "People not on the roster who wrote to the hub, not yet resolved",
                        {
                            "200": _json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "join_requests": {
                                            "type": "array",
                                            "items": _ref("JoinRequest"),
                                        }
                                    },
                                }
                            )
                        },
                    )
                },
                "/sandbox/members/{id}/open": {
                    "post": _op(
                        "The member opens the chat: unread messages become read",
                        {
                            "200": _json(
                                {"type": "object", "properties": {"read": {"type": "integer"}}}
                            )
                        },
                        parameters=[_ID],
                    )
                },
            }
        ),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "BroadcastCreate": BROADCAST_CREATE,
                **_LIFECYCLE_SCHEMAS,
                "SandboxAct": SANDBOX_ACT,
                "GroupLinkCodeCreate": GROUP_LINK_CODE_CREATE,
                "Group": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "channel": {"type": "string"},
                        "title": {"type": "string"},
                        "area": {"type": "string"},
                        "linked_at": {"type": "string", "format": "date-time"},
                    },
                },
                "LinkCode": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "area": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "instruction": {"type": "string"},
                    },
                },
                "JoinRequest": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "channel": {"type": "string"},
                        "name": {"type": "string"},
                        "phone": {"type": ["string", "null"]},
                        "first_text": {"type": "string"},
                        "claims_member_id": {
                            "type": ["integer", "null"],
                            "description": "The RT head whose invite code they sent, when that "
                            "member has an account there already (approve or refuse it on the "
                            "dashboard); null: a stranger",
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Error": ERROR,
                "Counts": COUNTS,
                "Member": MEMBER,
                "Broadcast": BROADCAST,
                "Recipient": RECIPIENT,
                "CallListEntry": CALL_LIST_ENTRY,
                "SandboxMessage": SANDBOX_MESSAGE,
                "Attachment": ATTACHMENT,
                "AttachmentUpload": ATTACHMENT_UPLOAD,
            },
            "responses": {
                name: {
                    "description": description,
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
                for name, description in (
                    ("BadRequest", "Malformed request"),
                    ("Unauthorized", "Missing or invalid bearer token"),
                    ("Forbidden", "Outside the token owner's areas or role"),
                    ("NotFound", "No such object"),
                    ("Conflict", "Not possible in the object's current state"),
                    ("Invalid", "Well-formed but refused; the message says why"),
                    ("UnsupportedMediaType", "The body is not of the type the operation reads"),
                )
            },
        },
    }
