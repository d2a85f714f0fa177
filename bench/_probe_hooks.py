"""Webhook requests for `bench/probe.py`: Telegram and WhatsApp, unsigned, wrongly signed, and
signed with garbage, impossible dates, huge ids and replays.

Each `Hook` says what must happen: "refuse" (a 4xx and nothing stored in inbound_event), "any"
(anything but a 5xx: ignoring or storing junk that is signed is the channel's choice) or "replay"
(the second of two identical requests: nothing more stored).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from bench._probe_gen import deep_array, deep_object

_ids = itertools.count(1)
BIG = 10**30


@dataclass(frozen=True)
class Hook:
    """One webhook request and what must happen (see the module's docstring)."""

    label: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    expect: str


def tg_message(
    user: int,
    text: str,
    *,
    first_name: str = "Siti",
    date: Any = None,
    chat: Any = None,
    message_id: Any = None,
    update_id: Any = None,
) -> dict[str, Any]:
    """A Bot API Update with one private text message from `user`."""
    n = next(_ids)
    message = {
        "message_id": 70_000 + n if message_id is None else message_id,
        "date": int(time.time()) if date is None else date,
        "chat": {"id": user, "type": "private", "first_name": "S"} if chat is None else chat,
        "from": {"id": user, "is_bot": False, "first_name": first_name},
        "text": text,
    }
    return {"update_id": 500_000 + n if update_id is None else update_id, "message": message}


def _update(kind: str, **payload: Any) -> dict[str, Any]:
    return {"update_id": 600_000 + next(_ids), kind: payload}


def telegram_hooks() -> list[Hook]:
    """Requests to /webhooks/telegram."""
    from tests.conftest import TELEGRAM_WEBHOOK_SECRET as SECRET

    def post(label: str, body: bytes | dict[str, Any], expect: str = "any", **headers: str) -> Hook:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Hook(f"telegram {label}", "POST", "/webhooks/telegram", raw, headers, expect)

    def signed(label: str, body: bytes | dict[str, Any], expect: str = "any") -> Hook:
        return post(label, body, expect, **{"X-Telegram-Bot-Api-Secret-Token": SECRET})

    good = json.dumps(tg_message(881_001, "halo")).encode()
    other = json.dumps(tg_message(881_002, "halo lagi")).encode()
    wrong_secrets = {
        "wrong secret": "wrong-secret-value",
        "empty secret": "",
        "the secret's first half": SECRET[: len(SECRET) // 2],
        "the secret + x": SECRET + "x",
        "10 kB secret": "s" * 10_240,
    }
    nan_date = json.dumps(tg_message(881_007, "x")).replace('"date": ', '"date": NaN, "_": ')
    surrogate = json.dumps(tg_message(881_015, "SURR")).replace("SURR", "\\ud800")
    private = {"id": 881_016, "type": "private"}
    return [
        post("no secret header", good, "refuse"),
        *[
            post(label, good, "refuse", **{"X-Telegram-Bot-Api-Secret-Token": value})
            for label, value in wrong_secrets.items()
        ],
        signed("malformed JSON", b"{not json", "refuse"),
        signed("JSON array", b"[1, 2]", "refuse"),
        signed("100000 levels of [", deep_array(100_000), "refuse"),
        signed("100000 levels of {", deep_object(100_000), "refuse"),
        signed("invalid UTF-8", b'{"update_id": 1, "message": "\xff\xfe"}', "refuse"),
        signed("5000-digit update_id", b'{"update_id": ' + b"9" * 5000 + b"}", "refuse"),
        signed("over 1 MB", b'{"x": "' + b"x" * (1024 * 1024 + 16) + b'"}', "refuse"),
        signed("date = 10**20", tg_message(881_003, "x", date=10**20)),
        signed("date = -10**20", tg_message(881_004, "x", date=-(10**20))),
        signed("date = 1e308", tg_message(881_005, "x", date=1e308)),
        signed("date = 'x'", tg_message(881_006, "x", date="x")),
        signed("date = NaN", nan_date.encode()),
        signed("chat id 10**30", tg_message(BIG, "x", chat={"id": BIG, "type": "private"})),
        signed("chat id 10**200", tg_message(1, "x", chat={"id": 10**200, "type": "private"})),
        signed("message_id 2**63", tg_message(881_009, "x", message_id=2**63)),
        signed("message_id 10**200", tg_message(881_010, "x", message_id=10**200)),
        signed("message_id of 5000 chars", tg_message(881_011, "x", message_id="m" * 5000)),
        signed("update_id 10**100", tg_message(881_012, "x", update_id=10**100)),
        signed("user id -10**30", tg_message(-BIG, "x")),
        signed("text of 100 kB", tg_message(881_013, "t" * 100_000)),
        signed("NUL in text and name", tg_message(881_014, "a\x00b", first_name="\x00")),
        signed("lone surrogate in text", surrogate.encode()),
        signed(
            "callback id of 5000 chars",
            _update(
                "callback_query",
                id="c" * 5000,
                data="ack:1",
                message={"message_id": 1, "date": 0, "chat": private},
                **{"from": {"id": 881_016, "first_name": "S"}},
            ),
        ),
        signed(
            "reaction with huge ids",
            _update(
                "message_reaction",
                chat={"id": BIG, "type": "private"},
                message_id=BIG,
                user={"id": BIG},
                date=10**20,
                old_reaction=[],
                new_reaction=[{"type": "emoji", "emoji": "x"}],
            ),
        ),
        signed(
            "my_chat_member junk",
            _update(
                "my_chat_member", chat={"id": "x"}, date="x", new_chat_member=5, **{"from": []}
            ),
        ),
        signed(
            "poll_answer junk",
            _update("poll_answer", poll_id="p" * 5000, user={"id": BIG}, option_ids=["x", None]),
        ),
        signed(
            "message of wrong types",
            _update("message", message_id=[], date={}, chat="x", text=7, **{"from": 5}),
        ),
        signed("first delivery", good),
        signed("replayed", good, "replay"),
        signed("first delivery, another message", other),
        signed("replayed with a trailing space", other + b" ", "replay"),
    ]


def _change(**value: Any) -> dict[str, Any]:
    changes = [{"field": "messages", "value": value or None}]
    return {"object": "whatsapp_business_account", "entry": [{"changes": changes}]}


def whatsapp_hooks() -> list[Hook]:
    """Requests to /webhooks/whatsapp (and to channels that take no webhooks)."""
    from tests import fake_graph as fg

    def signed(label: str, payload: bytes | dict[str, Any], expect: str = "any") -> Hook:
        body, headers = fg.signed_webhook(payload)
        return Hook(f"whatsapp {label}", "POST", "/webhooks/whatsapp", body, headers, expect)

    def unsigned(label: str, signature: str | None) -> Hook:
        body = json.dumps(fg.status_notification([fg.status("wamid.x")])).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return Hook(f"whatsapp {label}", "POST", "/webhooks/whatsapp", body, headers, "refuse")

    def get(label: str, path: str) -> Hook:
        return Hook(label, "GET", path, b"", {}, "refuse")

    def status(wamid: str, kind: str = "delivered", **more: Any) -> dict[str, Any]:
        return fg.status_notification([fg.status(wamid, kind, **more)])

    def text(wa_id: str, body: str, **more: Any) -> dict[str, Any]:
        return fg.text_notification(wa_id, body, **more)

    replayed_text = text("6289911110001", "halo", wamid="wamid.probe-replay-1")
    replayed_status = status("wamid.probe-unknown")
    long_id = "wamid." + "A" * 5000
    other_body = json.dumps({"object": "whatsapp_business_account"}).encode()
    wrong_types = {"from": [], "id": {}, "timestamp": [], "type": 5}
    text_null = {"from": "628111", "id": "wamid.m1", "timestamp": "1", "type": "text", "text": None}
    return [
        unsigned("no signature", None),
        unsigned("empty signature", ""),
        unsigned("wrong signature", "sha256=" + "0" * 64),
        unsigned("signature of another body", fg.sign(other_body)),
        unsigned("sha1 signature", "sha1=" + "0" * 40),
        unsigned("signature not hex", "sha256=" + "zz" * 32),
        unsigned("signature without its prefix", "0" * 64),
        unsigned("10 kB signature", "sha256=" + "a" * 10_240),
        signed("malformed JSON", b"{not json", "refuse"),
        signed("JSON array", b"[]", "refuse"),
        signed("100000 levels of [", deep_array(100_000), "refuse"),
        signed("100000 levels of {", deep_object(100_000), "refuse"),
        signed("invalid UTF-8", b'{"object": "\xff"}', "refuse"),
        signed("5000-digit number", b'{"entry": ' + b"1" * 5000 + b"}", "refuse"),
        signed("entry is a string", {"object": "whatsapp_business_account", "entry": "x"}),
        signed("entry [null]", {"object": "whatsapp_business_account", "entry": [None]}),
        signed("changes is a string", {"entry": [{"changes": "x"}]}),
        signed("value null", _change()),
        signed("statuses is a string", _change(statuses="x")),
        signed("status id null", _change(statuses=[{"id": None, "status": "read"}])),
        signed("5000-character wamid in a status", status(long_id)),
        signed("5000-character wamid, read", status(long_id, "read")),
        signed("status timestamp 10**20", status("wamid.t1", timestamp=10**20)),
        signed("status timestamp -10**20", status("wamid.t3", timestamp=-(10**20))),
        signed("status timestamp 'x'", _change(statuses=[{"id": "w.t2", "timestamp": "x"}])),
        signed("unknown status kind", status("wamid.t4", "exploded")),
        signed("failed status, errors junk", _change(statuses=[{"id": "w", "errors": "x"}])),
        signed("message with text null", _change(messages=[text_null])),
        signed("message from 10**30", text(str(BIG), "x")),
        signed("message timestamp 10**20", text("6289911110002", "x", timestamp=10**20)),
        signed("message with a 5000-character wamid", text("6289911110003", "x", wamid=long_id)),
        signed("message of wrong types", _change(messages=[wrong_types], contacts="x")),
        signed("message with NUL", text("6289911110004", "a\x00b", name="\x00")),
        signed("first text", replayed_text),
        signed("replayed text", replayed_text, "replay"),
        signed("status for an unknown wamid", replayed_status),
        signed("replayed status", replayed_status, "replay"),
        get(
            "whatsapp handshake, wrong verify token",
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        ),
        get("whatsapp handshake, no parameters", "/webhooks/whatsapp"),
        get("sandbox handshake", "/webhooks/sandbox?hub.challenge=x"),
        Hook("sandbox webhook", "POST", "/webhooks/sandbox", b"{}", {}, "refuse"),
        Hook("unknown channel", "POST", "/webhooks/nosuch", b"{}", {}, "refuse"),
    ]
