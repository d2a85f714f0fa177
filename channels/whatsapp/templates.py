"""Approved templates: what carries a message outside the 24-hour window.

The hub names a template by its purpose (`Outgoing.template`); the config names the approved
template for each (`[whatsapp] broadcast_template`, ...). TEMPLATE_SETTINGS is the one table
between them: a purpose not in it is refused for good (REJECTED, a bug in the hub, not a setting),
a purpose whose setting is empty waits for staff (BAD_CONFIG, retried once they set it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from channels.base import (
    Button,
    SendError,
    SendErrorReason,
)
from channels.whatsapp.messages import _fit

# Characters the variables of one template may take together: the approved body holds 1024 with
# its own wording, so the variables leave room for it.
TEMPLATE_PARAMS_BUDGET = 800


_WHITESPACE = re.compile(r"\s+")


def template_parameters(params: Sequence[str], budget: int = TEMPLATE_PARAMS_BUDGET) -> list[str]:
    """Template variables as Meta takes them: one line, single spaces, never empty, within `budget`.

    Meta refuses variables with line breaks, tabs or more than four spaces in a row (132018) and
    bodies over 1024 characters. Short variables keep their whole text; long ones share what the
    short ones left of the budget, each cut with an ellipsis.
    """
    cleaned = [_WHITESPACE.sub(" ", p).strip() or "-" for p in params]
    caps = [0] * len(cleaned)
    remaining = budget
    for left, i in enumerate(sorted(range(len(cleaned)), key=lambda i: len(cleaned[i]))):
        share = remaining // (len(cleaned) - left)
        caps[i] = min(len(cleaned[i]), max(share, 1))
        remaining -= caps[i]
    return [_fit(p, cap) for p, cap in zip(cleaned, caps, strict=True)]


def _template(
    name: str, language: str, params: Sequence[str], buttons: Sequence[Button]
) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if params:
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": p} for p in template_parameters(params)],
            }
        )
    carried = [b for b in buttons if b.in_template]
    if carried:  # the approved template's quick-reply button carries the first one's payload
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": carried[0].payload}],
            }
        )
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    return template


# The hub's purposes -> the [whatsapp] setting that names the approved template for it.
TEMPLATE_SETTINGS = {
    "broadcast": "broadcast_template",
    "reminder": "reminder_template",
    "call_list": "call_list_template",
    "ticket": "ticket_template",
    "poll": "poll_template",
    "reply": "reply_template",
    "report": "report_template",
}


def template_name(settings: Any, purpose: str | None) -> str:
    """The approved template's name for the hub's purpose; raises SendError (see above)."""
    setting = TEMPLATE_SETTINGS.get(purpose or "")
    if setting is None:
        raise SendError(
            SendErrorReason.REJECTED,
            f"no WhatsApp template for {purpose!r}: the purposes are "
            + ", ".join(TEMPLATE_SETTINGS),
            retryable=False,
        )
    name = str(getattr(settings, setting, "") or "")
    if not name:
        raise SendError(SendErrorReason.BAD_CONFIG, f"whatsapp.{setting} is not set")
    return name
