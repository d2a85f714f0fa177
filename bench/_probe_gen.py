"""Generated hostile requests for `bench/probe.py`: junk path ids and queries, mutated JSON bodies,
raw bodies no parser should choke on, form junk and malformed multipart bodies.

Everything is built from a seeded `random.Random`, so a run can be repeated request for request.
A generated request says whether it must certainly be refused (`must_refuse`): a junk id names no
object, a body that is not valid JSON or of the wrong type is never taken. Others (an extra field,
a huge string) may be refused or not; for them only the absence of a 5xx is checked.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Path ids: none names an object (the ids of the world are small positive numbers)...
JUNK_IDS = [
    "0", "-1", "2147483648", str(2**31 - 1), str(2**63), str(2**64), "9" * 40, "x", "%00",
    "%2e%2e", "1e3", "0x10", "%C2%B2", "1.5", "a" * 300, "%E2%80%8B1", "1%00",
]  # fmt: skip
# ... but Python's int() reads these as 1 or 10 (a sign, spaces, an underscore, Arabic-Indic or
# full-width digits): an answer for that object is lenient, not wrong.
LENIENT_IDS = ["+1", "%201", "1%20", "%D9%A1", "%EF%BC%91", "01", "1_0"]
LENIENT_LIMITS = ("١٢", "１２")  # 12 in Arabic-Indic and in full-width digits
# Values for ?limit=, ?cursor=, ?area= and the dashboard's ?edit=, ?q=, ?next=, ?notice=.
QUERY_JUNK = [
    "", "0", "-1", "501", "50", "1", "x", "1e2", "9" * 40, "\x00", "²", "١٢", "１２", " 5",
    "%ff", "a" * 5000, "k1:1", "azE6LTE", "azE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "!!!!", "====",
    "/", "//", "Sungai Kunjang", "Sungai Kunjang/Loa Bakung", "a/" * 500, "\ud800",
    "<script>alert(1)</script>", "'; DROP TABLE member; --", "%", "\\", "..",
]  # fmt: skip
QUERY_KEYS = ["limit", "cursor", "area", "edit", "q", "next", "notice", "status", "page", "id"]
# Values put in place of a JSON field.
JSON_JUNK: list[Any] = [
    None, True, False, 0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1.5, 1e308, "", " ",
    "x" * 100_000, "\x00", "a\x00b", "\ud800", "\u202e\u200b", "²", "١٢", [], {}, [None],
    [[[[[[[[[[[]]]]]]]]]]], {"$gt": ""}, "<script>alert(1)</script>", "../../etc/passwd",
    "2026-13-45T99:99:99", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
    "* * * * *", "-1 days", [0], [-1], [2**31], [2**63], ["x"], [1.5], [None, None],
    ["Sungai Kunjang"], ["a" * 10_000], list(range(2000)), {"areas": "x"}, {"areas": [None]},
]  # fmt: skip
WRONG_CONTENT_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/json; charset=x-unknown-charset",
    "application/json; charset=utf-16",
    "application/xml",
]


@dataclass(frozen=True)
class Generated:
    """One request: what it is (`label`), where it goes and whether it must be refused."""

    label: str
    method: str
    path: str  # already percent-encoded
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    must_refuse: bool = False
    lenient: bool = False  # an id or a limit in a form int() takes ("+1", "١٢"...)
    own_auth: bool = False  # `headers` carry the Authorization to send (or its absence)


def _query(rng: random.Random, keys: list[str]) -> tuple[str, bool, bool]:
    """A junk query string over `keys`; whether a list must refuse it (a bad limit or cursor),
    and whether its limit is one int() takes in other digits (lenient)."""
    chosen = rng.sample(keys, k=rng.randint(1, min(3, len(keys))))
    parts, refuse, lenient = [], False, False
    for key in chosen:
        value = rng.choice(QUERY_JUNK)
        lenient |= key == "limit" and value in LENIENT_LIMITS
        if key == "limit" and value not in ("", "50", "1", *LENIENT_LIMITS):
            refuse = True
        if key == "cursor" and value not in ("",):
            refuse = True  # no cursor this list gave out
        encoded = value if value in ("%ff", "%") else quote(value, safe="", errors="surrogatepass")
        parts.append(f"{key}={encoded}")
    if rng.random() < 0.1:
        parts.append(parts[0])  # a key twice
    return "&".join(parts), refuse, lenient


def deep_array(levels: int) -> bytes:
    """`levels` nested JSON arrays."""
    return b"[" * levels + b"]" * levels


def deep_object(levels: int) -> bytes:
    """`levels` nested JSON objects."""
    return b'{"a":' * levels + b"1" + b"}" * levels


# Raw bodies that are not a JSON object, each with whether it must be refused.
RAW_BODIES: list[tuple[str, bytes, bool]] = [
    ("empty body", b"", True),
    ("null", b"null", True),
    ("array", b"[]", True),
    ("number", b"42", True),
    ("string", b'"x"', True),
    ("truncated", b'{"title": "x"', True),
    ("trailing garbage", b'{"title": "x"} xx', True),
    ("invalid UTF-8", b'{"title": "\xff\xfe", "text": "\xc3"}', True),
    ("UTF-8 BOM", b'\xef\xbb\xbf{"title": "x"}', False),
    ("UTF-16", '{"title": "x"}'.encode("utf-16"), True),
    ("100000 levels of [", deep_array(100_000), True),
    ("100000 levels of {", deep_object(100_000), True),
    ("5000-digit number", b'{"title": ' + b"1" * 5000 + b"}", True),
    ("5000-digit number alone", b"1" * 5000, True),
    ("-Infinity", b'{"title": -Infinity}', True),
    ("NaN", b'{"title": NaN, "members": [NaN]}', True),
    ("escaped NUL", b'{"title": "a\\u0000b", "text": "\\u0000"}', True),
    ("lone surrogate", b'{"title": "\\ud800", "text": "\\udfff"}', False),
    ("duplicate keys", b'{"title": "x", "title": 5}', False),
    ("1 MB minus one", b'{"title": "' + b"x" * (1024 * 1024 - 16) + b'"}', False),
    ("over 1 MB", b'{"title": "' + b"x" * (1024 * 1024 + 16) + b'"}', True),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a JSON value (dict keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    copy = dict(value) if isinstance(value, dict) else list(value)
    if len(path) == 1:
        del copy[path[0]]
    else:
        copy[path[0]] = _delete(value[path[0]], path[1:])
    return copy


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()


def mutate_json(rng: random.Random, template: dict[str, Any]) -> tuple[str, bytes, bool]:
    """A mutation of a valid body: (label, raw body, must it be refused)."""
    kind = rng.random()
    paths = [p for p in _paths(template) if p]
    if kind < 0.45 and paths:
        path = rng.choice(paths)
        junk = rng.choice(JSON_JUNK)
        wrong_type = not isinstance(junk, type(_get(template, path))) or isinstance(junk, bool)
        nul = isinstance(junk, str) and "\x00" in junk
        label = f"{'.'.join(map(str, path))} = {_short(junk)}"
        return (
            label,
            _dumps(_replace(template, path, junk)),
            nul or (wrong_type and isinstance(_get(template, path), str | dict)),
        )
    if kind < 0.55 and paths:
        path = rng.choice(paths)
        return f"without {'.'.join(map(str, path))}", _dumps(_delete(template, path)), False
    if kind < 0.65:
        extra = rng.choice(["extra", "id", "status", "__proto__", "created_by", "area_key"])
        return f"extra field {extra}", _dumps({**template, extra: rng.choice(JSON_JUNK)}), True
    if kind < 0.75:
        depth = rng.choice([50, 500, 5000])
        nested: Any = "x"
        for _ in range(depth):
            nested = [nested]
        key = rng.choice(list(template) or ["title"])
        try:
            body = _dumps({**template, key: nested})
        except RecursionError:  # too deep for json.dumps: write it by hand
            body = b'{"' + key.encode() + b'": ' + deep_array(depth) + b"}"
        return f"{key} nested {depth} deep", body, True
    label, raw, refuse = rng.choice(RAW_BODIES)
    return label, raw, refuse


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} chars)"


def api_requests(
    rng: random.Random,
    method: str,
    path: str,
    templates: list[dict[str, Any]],
    valid_ids: list[str],
    count: int,
    *,
    paginated: bool = False,
) -> list[Generated]:
    """`count` requests for one API route (`path` with {placeholders}, under /api/v1); a
    `paginated` route refuses a bad ?limit= or ?cursor=."""
    out = []
    for _ in range(count):
        junk_id = "{" in path and rng.random() < 0.75
        lenient_id = not junk_id and "{" in path and rng.random() < 0.2
        lenient = lenient_id
        ids = [rng.choice(JUNK_IDS) if junk_id else rng.choice(valid_ids) for _ in range(3)]
        if lenient_id:
            ids = [rng.choice(LENIENT_IDS)] * 3
        filled = _fill(path.split("?")[0], ids)
        label, body, content_type, refuse = "", None, None, junk_id
        if method == "GET" or not templates:
            query, bad, odd_limit = _query(rng, ["limit", "cursor", "area", *QUERY_KEYS[3:6]])
            filled += f"?{query}"
            label = f"?{_short(query)}"
            refuse = refuse or (bad and paginated)
            lenient = lenient or (odd_limit and paginated)
            if method != "GET" and rng.random() < 0.5:
                label_body, body, _ = rng.choice(RAW_BODIES)
                content_type = "application/json"
                label += f" body {label_body}"
        else:
            template = rng.choice(templates)
            label, body, bad = mutate_json(rng, template)
            content_type = "application/json"
            refuse = refuse or bad
            if rng.random() < 0.12:
                content_type = rng.choice(WRONG_CONTENT_TYPES)
                label += f" as {content_type!r}"
                refuse = True
        if junk_id or lenient_id:
            label = f"id {ids[0]} {label}"
        out.append(
            Generated(label, method, "/api/v1" + filled, body, content_type, {}, refuse, lenient)
        )
    return out


def _fill(path: str, ids: list[str]) -> str:
    """Put ids into the {placeholders} of a route, in order."""
    parts = path.split("{")
    out = parts[0]
    for index, part in enumerate(parts[1:]):
        out += ids[index % len(ids)] + part.split("}", 1)[1]
    return out


def header_requests(path: str, token: str, *, public: bool = False) -> list[Generated]:
    """Authorization headers no token check should trip over (refused unless `public`)."""
    cases = {
        "no Authorization": {},
        "Basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "Bearer only": {"Authorization": "Bearer"},
        "Bearer spaces": {"Authorization": "Bearer    "},
        "10 kB token": {"Authorization": "Bearer bw_" + "a" * 10_000},
        "token with prefix only": {"Authorization": "Bearer bw_"},
        "lowercase bearer, valid token": {"Authorization": f"bearer {token}"},
        "token twice": {"Authorization": f"Bearer {token} {token}"},
        "Latin-1 bytes": {"Authorization": "Bearer bw_\xe9\xff"},
    }
    must = {"lowercase bearer, valid token": False}
    return [
        Generated(
            label,
            "GET",
            "/api/v1" + path,
            headers=headers,
            must_refuse=not public and must.get(label, True),
            own_auth=True,
        )
        for label, headers in cases.items()
    ]


# Multipart ----------------------------------------------------------------------------------

BOUNDARY = "probe-boundary-7f3a"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def _part(headers: list[str | bytes], data: bytes) -> bytes:
    head = b"\r\n".join(h if isinstance(h, bytes) else h.encode() for h in headers)
    return head + b"\r\n\r\n" + data


def _multipart(parts: list[bytes], boundary: str = BOUNDARY, close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return out + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def _file(disposition: str | bytes, extra: list[str | bytes] | None = None) -> bytes:
    head: list[str | bytes] = [
        disposition if isinstance(disposition, bytes) else f"Content-Disposition: {disposition}",
        "Content-Type: application/pdf",
        *(extra or []),
    ]
    return _part(head, PDF)


def _field(name: str, value: str, extra: list[str] | None = None) -> bytes:
    return _part([f'Content-Disposition: form-data; name="{name}"', *(extra or [])], value.encode())


def multipart_cases(
    file_field: str, first: list[tuple[str, str]]
) -> list[tuple[str, str, bytes, bool]]:
    """Malformed multipart bodies: (label, Content-Type, body, must it be refused).

    `first` are fields put before the file (the dashboard's CSRF token); `file_field` names the
    file part. Cases that carry a well-formed file may be taken (a part's Content-Encoding or
    Content-Transfer-Encoding may be ignored: the bytes are stored as sent).
    """
    lead = [_field(name, value) for name, value in first]
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    ok = f'form-data; name="{file_field}"; filename="surat.pdf"'
    named = f'form-data; name="{file_field}"; '  # a disposition to finish with a filename
    cases: list[tuple[str, str, bytes, bool]] = [
        ("no boundary parameter", "multipart/form-data", _multipart([*lead, _file(ok)]), True),
        ("empty boundary", "multipart/form-data; boundary=", _multipart(lead), True),
        ("boundary mismatch", "multipart/form-data; boundary=other", _multipart([_file(ok)]), True),
        ("no closing boundary", ctype, _multipart([*lead, _file(ok)], close=False), False),
        ("empty body", ctype, b"", True),
        ("closing boundary only", ctype, b"--" + BOUNDARY.encode() + b"--\r\n", True),
        ("LF line endings", ctype, _multipart([*lead, _file(ok)]).replace(b"\r\n", b"\n"), False),
        ("10 kB part header", ctype, _multipart([*lead, _file(ok, ["X-Junk: " + "a" * 10_240])]),
         False),
        ("10 kB filename", ctype,
         _multipart([*lead, _file(named + f'filename="{"a" * 10_000}.pdf"')]),
         False),
        ("10 kB field name", ctype, _multipart([*lead, _field("n" * 10_240, "x"), _file(ok)]),
         False),
        ("300 part headers", ctype,
         _multipart([*lead, _file(ok, [f"X-H{i}: v" for i in range(300)])]), False),
        ("header line without colon", ctype,
         _multipart([*lead, _file(ok, ["Content-Disposition form-data"])]), False),
        ("no Content-Disposition", ctype, _multipart([*lead, _part(["X-A: b"], PDF)]), True),
        ("disposition without name", ctype,
         _multipart([*lead, _file('form-data; filename="a.pdf"')]), True),
        ("disposition not form-data", ctype,
         _multipart([*lead, _file(f'attachment; name="{file_field}"; filename="a.pdf"')]), False),
        ("unclosed quote in disposition", ctype,
         _multipart([*lead, _file(f'form-data; name="{file_field}; filename="a.pdf')]), False),
        ("NUL in filename", ctype,
         _multipart([*lead, _file(f'form-data; name="{file_field}"; filename="a\x00.pdf"')]),
         False),
        ("path traversal filename", ctype,
         _multipart([*lead, _file(f'form-data; name="{file_field}"; filename="../../x.pdf"')]),
         False),
        ("filename* invalid UTF-8", ctype,
         _multipart([*lead, _file(named + "filename*=UTF-8''%ff%fe.pdf")]),
         False),
        ("filename* unknown charset", ctype,
         _multipart([*lead, _file(f"form-data; name=\"{file_field}\"; filename*=x-nope''a.pdf")]),
         False),
        ("raw non-UTF-8 header bytes", ctype,
         _multipart([*lead, _file(b'Content-Disposition: form-data; name="'
                                  + file_field.encode() + b'"; filename="\xff\xfe.pdf"')]),
         False),
        ("Content-Encoding gzip garbage", ctype,
         _multipart([*lead, _file(ok, ["Content-Encoding: gzip"])]), False),
        ("Content-Encoding deflate garbage", ctype,
         _multipart([*lead, _file(ok, ["Content-Encoding: deflate"])]), False),
        ("Content-Encoding br garbage", ctype,
         _multipart([*lead, _file(ok, ["Content-Encoding: br"])]), False),
        ("Content-Encoding unknown", ctype,
         _multipart([*lead, _file(ok, ["Content-Encoding: x-nope"])]), False),
        ("Content-Transfer-Encoding base64 garbage", ctype,
         _multipart([*lead, _file(ok, ["Content-Transfer-Encoding: base64"])]), False),
        ("Content-Transfer-Encoding unknown", ctype,
         _multipart([*lead, _file(ok, ["Content-Transfer-Encoding: x-nope"])]), False),
        ("part Content-Length negative", ctype,
         _multipart([*lead, _file(ok, ["Content-Length: -5"])]), False),
        ("part Content-Length huge", ctype,
         _multipart([*lead, _file(ok, ["Content-Length: " + "9" * 30])]), False),
        ("nested multipart without boundary", ctype,
         _multipart([*lead, _part([f'Content-Disposition: form-data; name="{file_field}"',
                                   "Content-Type: multipart/mixed"], b"xx")]), False),
        ("nested multipart", ctype,
         _multipart([*lead, _part([f'Content-Disposition: form-data; name="{file_field}"',
                                   "Content-Type: multipart/mixed; boundary=inner"],
                                  _multipart([_file(ok)], "inner"))]), False),
        ("text field in unknown charset", ctype,
         _multipart([*lead, _field("title", "x", ["Content-Type: text/plain; charset=x-nope"]),
                     _file(ok)]), False),
        ("text field in UTF-16", ctype,
         _multipart([*lead, _field("title", "x", ["Content-Type: text/plain; charset=utf-16"]),
                     _file(ok)]), False),
        ("file field twice", ctype, _multipart([*lead, _file(ok), _file(ok)]), False),
        ("empty file", ctype,
         _multipart([*lead, _part([f"Content-Disposition: {ok}", "Content-Type: application/pdf"],
                                  b"")]), True),
        ("file as a plain field", ctype, _multipart([*lead, _field(file_field, "x")]), True),
        ("300-character boundary", "multipart/form-data; boundary=" + "b" * 300,
         _multipart([*lead, _file(ok)], "b" * 300), False),
        ("quoted boundary with spaces", 'multipart/form-data; boundary="a b c"',
         _multipart([*lead, _file(ok)], "a b c"), False),
        ("2000 empty parts", ctype, _multipart([*lead, *[_field("x", "") for _ in range(2000)]]),
         False),
    ]  # fmt: skip
    return cases


# Dashboard forms ----------------------------------------------------------------------------

FORM_KEYS = [
    "title", "text", "areas", "groups", "ack_required", "when", "send_at", "cron", "action",
    "attachments", "members", "id", "name", "area", "button", "summary", "q",
]  # fmt: skip
FORM_JUNK = [
    "", "x", "1", "0", "-1", "²", "١٢", "９", "9" * 40, str(2**31), str(2**63), "\x00", "a\x00",
    "x" * 100_000, "<script>alert(1)</script>", "Sungai Kunjang/Loa Bakung", "/", "at", "repeat",
    "preview", "* * * * *", "0 0 31 2 *", "61 25 * * *", "2026-13-45T99:99", "9999-12-31T23:59",
    "0001-01-01T00:00", "\ud800", "%", "1" * 5000,
]  # fmt: skip
RAW_FORMS = [
    ("invalid percent-encoding", b"title=%zz&text=%&areas=%f"),
    ("invalid UTF-8", b"title=%ff%fe&text=%c3&name=%ed%a0%80"),
    ("raw invalid UTF-8", b"title=\xff\xfe&text=\xc3"),
    ("no equals signs", b"titletextareas"),
    ("10000 fields", b"&".join(b"members=%d" % i for i in range(10_000))),
    ("over 1 MB", b"text=" + b"x" * (1024 * 1024 + 16)),
]


def form_requests(
    rng: random.Random, path: str, csrf: str, count: int
) -> list[tuple[str, bytes, str | None]]:
    """Urlencoded junk for one dashboard form: (label, body, Content-Type)."""
    out = []
    form_type = "application/x-www-form-urlencoded"
    for _ in range(count):
        if rng.random() < 0.15:
            label, raw = rng.choice(RAW_FORMS)
            out.append((label, b"csrf_token=" + csrf.encode() + b"&" + raw, form_type))
            continue
        fields = [("csrf_token", csrf)]
        for key in rng.sample(FORM_KEYS, k=rng.randint(1, 6)):
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                fields.append((key, rng.choice(FORM_JUNK)))
        body = "&".join(
            f"{quote(k)}={quote(v, safe='', errors='surrogatepass')}" for k, v in fields
        ).encode()
        label = ", ".join(f"{k}={_short(v)}" for k, v in fields[1:4])
        content_type: str | None = form_type
        if rng.random() < 0.08:
            content_type = rng.choice([*WRONG_CONTENT_TYPES[:2], "application/json"])
            label += f" as {content_type!r}"
        out.append((label, body, content_type))
    return out


def query_requests(rng: random.Random, path: str, count: int) -> list[tuple[str, str]]:
    """Query junk for one dashboard page: (label, path with query)."""
    out = []
    for _ in range(count):
        query, _, _ = _query(rng, QUERY_KEYS)
        out.append((f"?{_short(query)}", f"{path}?{query}"))
    return out
