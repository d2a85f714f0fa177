"""Shorthand for the response schemas the route modules publish (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

INTEGER: Schema = {"type": "integer"}
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INTEGER: Schema = {"type": ["integer", "null"]}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}


def obj(**properties: Schema) -> Schema:
    """An object with these properties (others may appear: responses grow, clients ignore)."""
    return {"type": "object", "properties": properties}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def described(schema: Schema, description: str) -> Schema:
    return {**schema, "description": description}


def one_of(*values: str) -> Schema:
    return {"enum": list(values)}


ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": STRING, "message": STRING},
        }
    },
}
