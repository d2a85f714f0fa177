"""The Graph API's answers: Meta's error codes as the SendError family, timeouts, JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from channels.base import (
    SendError,
    SendErrorReason,
)

MAX_MEDIA_BYTES = 16 * 1024 * 1024
MEDIA_NOT_FOUND_CODE = 131053
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=5, sock_read=30)
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=5, sock_connect=3)  # keeps /readyz quick
PROBE_INTERVAL = 30.0  # seconds between reachability checks while the Graph API was unreachable

THROUGHPUT_RETRY_AFTER = 5.0  # 130429: the number's messages-per-second ceiling
APP_LIMIT_RETRY_AFTER = 60.0  # 4, 80007: app and account call limits, counted over longer windows
PAIR_RETRY_AFTER = 6.0  # 131056: about one message per six seconds to one person
SPAM_RETRY_AFTER = 3600.0  # 131048: the number is held back for spam; wait an hour
SPAM_PAUSED = "WhatsApp spam limit: sending paused"


# Errors -------------------------------------------------------------------------------------

WINDOW_CLOSED_CODE = 131047  # re-engagement: more than 24 hours since the person last wrote
PAIR_LIMIT_CODE = 131056
SPAM_LIMIT_CODE = 131048
_THROTTLED = {
    130429: THROUGHPUT_RETRY_AFTER,
    4: APP_LIMIT_RETRY_AFTER,
    80007: APP_LIMIT_RETRY_AFTER,
}
_UNKNOWN_RECIPIENT = {131026, 131030}  # undeliverable; not on the test number's allowed list
# The token, its permissions or the account: staff must act. 200-299 are Graph permission errors.
_BAD_CONFIG = {0, 3, 10, 190, 131005, 131031, 131042, 133010}
_CONNECTION = {1, 2, 131000, 131016, 133004}  # "unknown error", "service unavailable"...
_CODE_IN_MESSAGE = re.compile(r"^\(#\d+\)\s*")


def _error_title(error: Mapping[str, Any]) -> str:
    """Meta's title: its own field in webhooks; in API answers the message after "(#code)"."""
    title = error.get("title") or _CODE_IN_MESSAGE.sub("", str(error.get("message") or ""))
    text = str(title).strip() or "no description"
    data = error.get("error_data")
    details = str(data.get("details") or "").strip() if isinstance(data, Mapping) else ""
    return f"{text}: {details}" if details and details != text else text


class GraphError(SendError):
    """A send error the Graph API answered with an error object; `code` is Meta's error code."""

    def __init__(self, reason: SendErrorReason, code: int, detail: str, **kwargs: Any) -> None:
        super().__init__(reason, detail, **kwargs)
        self.code = code


def send_error_from(status: int, error_json: Any, *, retry_after: float | None = None) -> SendError:
    """Map one Graph API answer (HTTP status, JSON body) onto the channel family of send errors.

    `retry_after` is the answer's Retry-After header in seconds, when it had one. Answers with
    Meta's error object give a GraphError whose detail starts with the code and title.
    """
    error = error_json.get("error") if isinstance(error_json, Mapping) else None
    if not isinstance(error, Mapping) or not isinstance(error.get("code"), int | str):
        # Not Meta's answer: a proxy, a load balancer, or api_base_url pointing elsewhere.
        if status in (401, 403):
            return SendError(SendErrorReason.BAD_CONFIG, f"the Graph API answered HTTP {status}")
        if status == 404:
            return SendError(
                SendErrorReason.BAD_CONFIG, "no Graph API at the configured address (HTTP 404)"
            )
        if status == 429:
            return SendError(
                SendErrorReason.THROTTLED,
                "the Graph API answered HTTP 429",
                retry_after=retry_after or THROUGHPUT_RETRY_AFTER,
            )
        return SendError(SendErrorReason.CONNECTION, f"the Graph API answered HTTP {status}")
    try:
        code = int(error["code"])
    except ValueError:
        code = -1
    detail = f"{code} {_error_title(error)}"[:300]

    def graph_error(reason: SendErrorReason, **kwargs: Any) -> GraphError:
        return GraphError(reason, code, detail, **kwargs)

    if code in _THROTTLED:
        return graph_error(SendErrorReason.THROTTLED, retry_after=retry_after or _THROTTLED[code])
    if code == PAIR_LIMIT_CODE:  # too many messages to this one person in a short time
        return graph_error(
            SendErrorReason.THROTTLED,
            retry_after=retry_after or PAIR_RETRY_AFTER,
            recipient_only=True,
        )
    if code == SPAM_LIMIT_CODE:
        return graph_error(
            SendErrorReason.THROTTLED, retry_after=max(retry_after or 0.0, SPAM_RETRY_AFTER)
        )
    if code in _UNKNOWN_RECIPIENT:
        return graph_error(SendErrorReason.UNKNOWN_RECIPIENT)
    if code == WINDOW_CLOSED_CODE:
        return graph_error(SendErrorReason.WINDOW_CLOSED)
    if code in _BAD_CONFIG or 200 <= code <= 299 or status in (401, 403):
        return graph_error(SendErrorReason.BAD_CONFIG)
    if code in _CONNECTION or status >= 500:
        return graph_error(SendErrorReason.CONNECTION)
    if status == 429:
        return graph_error(
            SendErrorReason.THROTTLED, retry_after=retry_after or THROUGHPUT_RETRY_AFTER
        )
    # 100 (invalid parameter), 131008/131009 (missing or invalid parameter), 131051 (message
    # type), 132xxx (template) and anything else Meta refuses: this content will not go.
    return graph_error(SendErrorReason.REJECTED)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the mapped default is as good
    return seconds if seconds >= 0 else None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None
