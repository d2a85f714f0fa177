"""What a message looks like on WhatsApp: recipients, text, interactive buttons and lists."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from channels.base import (
    Button,
    SendError,
    SendErrorReason,
)

BSUID_PREFIX = "bsuid:"

TEXT_LIMIT = 4096  # characters of a text message
INTERACTIVE_BODY_LIMIT = 1024  # characters of an interactive message's body
CAPTION_LIMIT = 1024
REPLY_BUTTONS_MAX = 3
LIST_ROWS_MAX = 10
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
# The label of the button that opens a list. The hub's texts live in hub/texts; this one is
# WhatsApp's own chrome and kept short enough for any language.
LIST_BUTTON_LABEL = "Pilih"


# Text ---------------------------------------------------------------------------------------


def _fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _last_paragraph(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return paragraphs[-1] if paragraphs else text.strip()


# Outgoing payloads --------------------------------------------------------------------------


def _recipient(address: str) -> dict[str, str]:
    """The recipient fields of a send: `to` for a number, `recipient` for a business-scoped id."""
    if address.startswith(BSUID_PREFIX) and len(address) > len(BSUID_PREFIX):
        return {"recipient": address[len(BSUID_PREFIX) :]}
    digits = address.removeprefix("+")
    if digits.isdigit() and 6 <= len(digits) <= 15:
        return {"recipient_type": "individual", "to": digits}
    raise SendError(SendErrorReason.UNKNOWN_RECIPIENT, f"not a WhatsApp address: {address!r}")


def _check_ids(buttons: Sequence[Button], limit: int) -> None:
    for button in buttons:
        if not 0 < len(button.payload) <= limit:
            raise SendError(
                SendErrorReason.REJECTED,
                f"button payload is {len(button.payload)} characters; WhatsApp takes 1 to {limit}",
            )


def _one_line(label: str) -> str:
    return " ".join(label.split())


def _title(label: str, limit: int) -> str:
    """A button's or row's title: one line (titles show no line breaks), cut to `limit`."""
    return _fit(_one_line(label), limit)


def _poll_choices(body: str, options: Sequence[Button]) -> tuple[str, tuple[Button, ...]]:
    """A poll's body and option buttons as WhatsApp shows them.

    Options short enough for their titles (20 characters on reply buttons, 24 in a list) are the
    titles. Else a title would show only the start of its option, and two could look the same:
    every title then starts with its number ("2. Setuju dengan…") and the body ends with the
    options in full, numbered, so the person reads what they choose.
    """
    limit = BUTTON_TITLE_LIMIT if len(options) <= REPLY_BUTTONS_MAX else ROW_TITLE_LIMIT
    if all(len(_one_line(o.label)) <= limit for o in options):
        return body, tuple(options)
    numbered = tuple(
        Button(f"{n}. {_one_line(o.label)}", o.payload) for n, o in enumerate(options, 1)
    )
    listing = "\n".join(o.label for o in numbered)
    return f"{body.rstrip()}\n\n{listing}", numbered


def _interactive(body: str, buttons: Sequence[Button]) -> dict[str, Any]:
    """Reply buttons for up to three choices, a list for four to ten."""
    if len(buttons) <= REPLY_BUTTONS_MAX:
        _check_ids(buttons, BUTTON_ID_LIMIT)
        action: dict[str, Any] = {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {"id": b.payload, "title": _title(b.label, BUTTON_TITLE_LIMIT)},
                }
                for b in buttons
            ]
        }
        kind = "button"
    elif len(buttons) <= LIST_ROWS_MAX:
        _check_ids(buttons, ROW_ID_LIMIT)
        rows = []
        for b in buttons:
            row = {"id": b.payload, "title": _title(b.label, ROW_TITLE_LIMIT)}
            if len(b.label) > ROW_TITLE_LIMIT:  # the whole label shows under the cut title
                row["description"] = _title(b.label, ROW_DESCRIPTION_LIMIT)
            rows.append(row)
        action = {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]}
        kind = "list"
    else:
        raise SendError(
            SendErrorReason.REJECTED,
            f"{len(buttons)} buttons; WhatsApp shows at most {LIST_ROWS_MAX} choices",
        )
    return {"type": kind, "body": {"text": body}, "action": action}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": text, "preview_url": False}}


_E164 = re.compile(r"\+[1-9]\d{5,14}")


def _international_digits(phone: str) -> str:
    """The number as wa.me takes it: international digits only. The config takes the business
    number as Indonesians write it too: "0811..." and "811..." are "62811..."."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.strip().startswith("+"):
        return digits
    if digits.startswith("0"):
        return "62" + digits[1:]
    return "62" + digits if digits.startswith("8") else digits
