"""Request bodies: read as JSON, refused in the one error shape, validated by pydantic models.

Each body is a `RequestBody` (unknown fields refused) built from the types below, which say
exactly what the API takes: strict strings and booleans, ids as 32-bit integers ("1" and `true`
are not ids; `7.0` is, as JSON Schema has it), limits as the columns allow. The same models give
the OpenAPI document its request schemas (`schema_of`), so what is published is what is checked.
What pydantic does not look at (nesting depth, NUL and lone surrogates anywhere, keys included)
is checked before it sees the body.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import ErrorDetails, PydanticCustomError

from hub.core.errors import HubError, UnsupportedMediaType, ValidationFailed
from hub.web.params import ID_MAX

T = TypeVar("T")
BodyT = TypeVar("BodyT", bound="RequestBody")

# No request body of the API nests deeper than this; deeper is refused before anything walks it.
MAX_JSON_DEPTH = 32


class RequestBody(BaseModel):
    """A JSON object the API reads; fields it does not name are refused."""

    model_config = ConfigDict(extra="forbid")


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 7.0 is the integer 7 (JSON Schema agrees); 7.5 stays a float.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("not_null", "may be left out, but not null")
    return value


def _drop_null_branch(schema: dict[str, Any]) -> None:
    """The published schema of a `Given` field: the type itself, no null, no default."""
    branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    else:
        schema["anyOf"] = branches
    schema.pop("default", None)


def text(min_length: int = 0, max_length: int | None = None) -> Any:
    """A strict string type with length limits (counted in characters, as JSON Schema does)."""
    return Annotated[
        str, Strict(), StringConstraints(min_length=min_length or None, max_length=max_length)
    ]


# An id: a 32-bit integer column's positive range.
Id = Annotated[int, Strict(), Field(ge=1, le=ID_MAX), BeforeValidator(_whole_number)]
Flag = Annotated[bool, Strict()]

# An optional field that, when given, must not be null (`Given[Title]`): None means left out.
Given = Annotated[T | None, BeforeValidator(_not_null), Field(json_schema_extra=_drop_null_branch)]

SEND_AT_EXAMPLE = "2026-12-01T08:00:00+08:00"


def _parse_send_at(value: Any) -> dt.datetime | None:
    """ISO-8601 read as Python reads it; refused when the database could not store it in UTC."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is not None:
            parsed.astimezone(dt.UTC)  # the database stores UTC: year 9999 at -12:00 overflows
        return parsed
    except (ValueError, OverflowError):
        raise PydanticCustomError(
            "iso_datetime", "expected ISO-8601, e.g. {example}", {"example": SEND_AT_EXAMPLE}
        ) from None


# A time to send: ISO-8601 text or null; naive times are read in the hub's timezone later.
SendAt = Annotated[
    dt.datetime | None,
    BeforeValidator(_parse_send_at),
    WithJsonSchema({"type": ["string", "null"], "format": "date-time"}),
]


# Who a broadcast (or a poll) goes to, shared by the API modules that address RT heads.
AreaPath = text(1, 500)  # as long as Area.path
GroupName = text(1, 100)


class Audience(RequestBody):
    """Who a broadcast goes to: everyone seated in the areas, the members, the saved groups.
    Its fields are those BroadcastRequest and PollRequest name recipients by (`model_dump()`)."""

    areas: list[AreaPath] = Field(default_factory=list, max_length=500)
    members: list[Id] = Field(default_factory=list)
    groups: list[GroupName] = Field(
        default_factory=list,
        max_length=100,
        description="Names of saved member groups in your areas (see /member-groups)",
    )
    group_ids: list[Id] = Field(
        default_factory=list,
        max_length=100,
        description="Ids of saved member groups in your areas; a broadcast keeps its groups "
        "by id, so renaming a group does not change where it goes",
    )


# Reading a body ------------------------------------------------------------------------------


def check_values(body: Any) -> None:
    """Refuse what the databases cannot store or the checks cannot walk: nesting beyond
    MAX_JSON_DEPTH, NUL characters (PostgreSQL stores none) and lone surrogates (not Unicode)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationFailed("text must not contain NUL (\\u0000) characters")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationFailed(
                        "text must be valid Unicode (no lone \\ud800-\\udfff escapes)"
                    ) from None
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise HubError("the body is nested too deeply", code="malformed_json")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((key, depth))
                stack.append((item, depth + 1))


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object: 415 for another type, 400 when it is not JSON (or not
    an object, or too deep), 422 for NUL or lone surrogates."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        body = await request.json()
    # Too deep, a number too long to read, a charset nobody knows: all malformed.
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
        raise HubError("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise HubError("the body must be a JSON object", code="malformed_json")
    check_values(body)
    return body


# What pydantic says, in JSON's words (an object, not a dictionary) and in the API's voice;
# any other error keeps pydantic's own message.
_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected an array",
    "int_type": "expected a whole number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "string_too_short": "too short: at least {min_length} characters",
    "string_too_long": "too long: at most {max_length} characters",
    "too_long": "too many items: at most {max_length}",
    "greater_than_equal": "must be {ge} or more",
    "less_than_equal": "must be {le} or less",
}


def _refusal(error: ErrorDetails) -> ValidationFailed:
    where = ".".join(str(part) for part in error["loc"]) or "body"
    template = _MESSAGES.get(error["type"])
    if error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        template = "must not be empty"
    try:
        message = template.format(**error.get("ctx", {})) if template else error["msg"]
    except (KeyError, IndexError):
        message = error["msg"]
    return ValidationFailed(f"{where}: {message}", field=where)


def validate(model: type[BodyT], body: dict[str, Any]) -> BodyT:
    """The body as `model`; the first problem found is a 422 `invalid` naming its field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _refusal(exc.errors()[0]) from None


async def read_body(request: web.Request, model: type[BodyT]) -> BodyT:
    """The request's JSON body as `model` (see read_json and validate for what is refused)."""
    return validate(model, await read_json(request))


# The published schema ------------------------------------------------------------------------


class _Schema(GenerateJsonSchema):
    """Pydantic's JSON Schema without a title on every field (the field's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].removeprefix("#/$defs/")]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline(target, definitions), **_inline(rest, definitions)}
    return {key: _inline(value, definitions) for key, value in node.items()}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema (2020-12, as OpenAPI 3.1 takes it), nested models written out
    in place, so the schema stands alone wherever it is put."""
    schema = model.model_json_schema(schema_generator=_Schema)
    definitions = schema.pop("$defs", {})
    return _inline(schema, definitions)
