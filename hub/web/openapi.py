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

BROADCAST_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "text", "audience"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": {"type": "string", "minLength": 1, "maxLength": 4096},
        "audience": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "areas": AREA_LIST,
                "members": {"type": "array", "items": ID},
            },
        },
        "send_at": {"type": ["string", "null"], "format": "date-time"},
        "recurrence": {
            "type": "null",
            "description": "Recurring broadcasts arrive with the broadcast engine; only null now.",
        },
        "ack_required": {"type": "boolean", "default": True},
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
        for name in ("pending", "sent", "delivered", "read", "acknowledged", "failed", "cancelled")
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

BROADCAST = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"enum": ["scheduled", "sending", "sent", "cancelled"]},
        "recipients": {"type": "integer"},
        "ack_required": {"type": "boolean"},
        "send_at": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
        "counts": {"$ref": "#/components/schemas/Counts"},
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
    },
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


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_ERRORS}, **extra}


_ID = {"name": "id", "in": "path", "required": True, "schema": ID}
_AREA_Q = {
    "name": "area",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Area path, e.g. `Sungai Kunjang/Loa Bakung/RT 012`",
}


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
        "paths": {
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
                )
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
                                    "messages": {"type": "array", "items": _ref("SandboxMessage")}
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
                            {"type": "object", "properties": {"id": {"type": "string"}}}, "Accepted"
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
                                "properties": {"groups": {"type": "array", "items": _ref("Group")}},
                            }
                        )
                    },
                )
            },
            "/groups/link-codes": {
                "post": _op(
                    "A one-time code: sent in a group as `/hubungkan <code>`, it links the group",
                    {
                        "201": _json(_ref("LinkCode"), "Created"),
                        "422": {"$ref": "#/components/responses/Invalid"},
                    },
                    requestBody={
                        "required": True,
                        "content": {"application/json": {"schema": _ref("GroupLinkCodeCreate")}},
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
                                    "join_requests": {"type": "array", "items": _ref("JoinRequest")}
                                },
                            }
                        )
                    },
                )
            },
            "/sandbox/members/{id}/open": {
                "post": _op(
                    "The member opens the chat: unread messages become read",
                    {"200": _json({"type": "object", "properties": {"read": {"type": "integer"}}})},
                    parameters=[_ID],
                )
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "BroadcastCreate": BROADCAST_CREATE,
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
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Error": ERROR,
                "Counts": COUNTS,
                "Member": MEMBER,
                "Broadcast": BROADCAST,
                "Recipient": RECIPIENT,
                "SandboxMessage": SANDBOX_MESSAGE,
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
                    ("Invalid", "Well-formed but refused; the message says why"),
                )
            },
        },
    }
