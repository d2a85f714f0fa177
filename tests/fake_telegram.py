"""A fake Telegram Bot API on loopback, reached through `[telegram] api_base_url`.

It answers `/bot{token}/{method}` the way the real Bot API does (`{"ok": true, "result": ...}` or
`{"ok": false, "error_code", "description", "parameters"}`), records every call, serves updates
queued by a test through getUpdates, plays scripted failures, and can enforce a strict flood limit:
a sendMessage that would make more than N of them arrive within any one second gets a 429. It
stamps arrivals with `clock` (time.monotonic unless a test gives the clock its channel runs on).
sendPhoto and sendDocument take an uploaded file (multipart, kept in `uploads`) or the file_id of
one uploaded before; a file message's caption changes by editMessageCaption, as on Telegram.
sendPoll checks Telegram's limits and answers a Message with a `poll` (its id a string of digits),
kept in `polls`; stopPoll closes it, or refuses as Telegram does (closed already, no such poll).
getFile and /file/bot<token>/<path> serve the files a test says someone sent (`add_file()`).
The benchmark runs it in its own process through `serve_in_process()`.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_ID = 123456789
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Balai Warga",
    "username": "balaiwarga_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

# Scripted failures, as the real Bot API words them: (status, description, parameters).
BLOCKED = (403, "Forbidden: bot was blocked by the user", None)
CHAT_NOT_FOUND = (400, "Bad Request: chat not found", None)
SERVER_ERROR = (500, "Internal Server Error", None)
QUERY_TOO_OLD = (
    400,
    "Bad Request: query is too old and response timeout expired or query ID is invalid",
    None,
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def retry_after(seconds: int) -> tuple[int, str, dict[str, Any]]:
    """A 429 with parameters.retry_after."""
    return 429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}


def migrated(new_chat_id: int) -> tuple[int, str, dict[str, Any]]:
    """A 400 telling that the group became a supergroup with a new id."""
    return (
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


# Parameters that are plain strings even when they look like JSON ("123" stays text).
_STRING_PARAMS = {
    "text",
    "caption",
    "parse_mode",
    "url",
    "secret_token",
    "callback_query_id",
    "question",
    "description",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # the fake's clock on arrival


@dataclass
class Upload:
    method: str
    filename: str
    content_type: str
    data: bytes
    file_id: str


@dataclass
class Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None
    method: str | None  # None: any method
    chat_id: int | None  # None: any chat
    times: int | None  # None: every time


@dataclass
class FakeBotAPI(LoopbackServer):
    """The fake server; `await start()` returns the api_base_url to configure."""

    token: str = TOKEN
    strict_rate: int | None = None  # sendMessage calls allowed in any one-second window
    clock: Callable[[], float] = time.monotonic  # seconds that arrivals are stamped with
    max_poll_seconds: float = 0.3  # getUpdates waits at most this long, whatever it asked
    record: bool = True
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    answered_429: int = 0  # every 429 answered, scripted or by the strict limit
    sent: int = 0  # sendMessage calls that succeeded
    uploads: list[Upload] = field(default_factory=list)  # files received by sendPhoto/sendDocument
    polls: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # by (chat, message)

    def __post_init__(self) -> None:
        self._failures: list[Failure] = []
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], tuple[str, Any]] = {}
        self._captioned: set[tuple[int, int]] = set()  # file messages: they have no text to edit
        self._files: dict[str, Upload] = {}  # by file_id
        self._told_sizes: dict[str, int | None] = {}  # file_id: the size getFile tells
        self._arrivals: deque[float] = deque(maxlen=self.strict_rate or 1)
        self._update_ids = itertools.count(10_000)
        self._poll_ids = itertools.count(5_933_294_102_837_460_993)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # Lifecycle ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)  # uploads: up to 50 MB
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_get("/_fake/stats", self._stats)
        return app

    # What tests script -------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        method: str | None = "sendMessage",
        chat_id: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` matching calls with this error (`fail(*BLOCKED, chat_id=5)`)."""
        self._failures.append(Failure(status, description, parameters, method, chat_id, times))

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates; gives it an update_id unless it has one."""
        queued = dict(update)
        queued.setdefault("update_id", next(self._update_ids))
        self.updates.append(queued)
        self._new_update.set()
        return int(queued["update_id"])

    def add_file(
        self, data: bytes, content_type: str = "", filename: str = "", *, told_size: int | None = -1
    ) -> str:
        """Keep a file as if someone sent it to the bot; returns its file_id for getFile.
        `told_size` is the size getFile tells (None: none, -1: the real one)."""
        file_id = f"recv-{len(self._files) + 1}"
        self._files[file_id] = Upload("received", filename, content_type, data, file_id)
        self._told_sizes[file_id] = len(data) if told_size == -1 else told_size
        return file_id

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every recorded call to `method`, oldest first."""
        return [call.params for call in self.calls if call.method == method]

    # Serving -----------------------------------------------------------------------------------

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"answered_429": self.answered_429, "sent": self.sent})

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = self.clock()
        method = request.match_info["method"]
        params, files = await _params(request)
        if self.record:
            self.calls.append(Call(method, params, arrived))
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        if method == "sendMessage" and self.strict_rate:
            # The strict flood limit: count accepted sends in a sliding one-second window.
            if len(self._arrivals) == self.strict_rate and arrived - self._arrivals[0] < 1.0:
                self.answered_429 += 1
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._arrivals.append(arrived)
        failure = self._scripted_failure(method, params)
        if failure is not None:
            if failure.status == 429:
                self.answered_429 += 1
            return _error(failure.status, failure.description, failure.parameters)
        if method in ("sendPhoto", "sendDocument"):  # these also see the uploaded file
            return await self._send_file(method, params, files)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)

    def _scripted_failure(self, method: str, params: Mapping[str, Any]) -> Failure | None:
        for failure in self._failures:
            if failure.method not in (None, method):
                continue
            if failure.chat_id is not None and params.get("chat_id") != failure.chat_id:
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
            return failure
        return None

    async def _api_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id", ""))
        upload = self._files.get(file_id)
        if upload is None:
            return _error(400, "Bad Request: invalid file_id")
        answer: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_path": f"documents/{file_id}_{upload.filename or 'file'}",
        }
        size = self._told_sizes.get(file_id, len(upload.data))
        if size is not None:
            answer["file_size"] = size
        return _ok(answer)

    async def _download(self, request: web.Request) -> web.Response:
        """GET /file/bot<token>/<file_path>, as getFile named it."""
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        name = request.match_info["path"].removeprefix("documents/")
        upload = self._files.get(name.split("_", 1)[0])
        if upload is None:
            return web.Response(status=404)
        return web.Response(body=upload.data, content_type=upload.content_type or None)

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        text = params.get("text", "")
        if not str(text).strip():
            return _error(400, "Bad Request: message text is empty")
        message = self._new_message(chat_id)
        message["text"] = text
        markup = _inline_markup(params)
        if markup:
            message["reply_markup"] = markup  # only inline keyboards show in a Message
        self._messages[(chat_id, message["message_id"])] = (text, markup)
        self.sent += 1
        return _ok(message)

    async def _api_sendPoll(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        question = str(params.get("question", ""))
        options = [o if isinstance(o, str) else str(o.get("text", "")) for o in params["options"]]
        if not 0 < _utf16(question) <= 300:
            return _error(400, "Bad Request: poll question length must not exceed 300")
        if not 2 <= len(options) <= 12:
            return _error(400, "Bad Request: poll must have 2-12 options")
        if not all(0 < _utf16(o) <= 100 for o in options):
            return _error(400, "Bad Request: poll options length must not exceed 100")
        if len(set(options)) < len(options):
            return _error(400, "Bad Request: POLL_OPTION_DUPLICATE")
        message = self._new_message(chat_id)
        message["poll"] = {
            "id": str(next(self._poll_ids)),  # a string of digits, as Telegram's are
            "question": question,
            "options": [{"text": o, "voter_count": 0} for o in options],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous", True),
            "type": params.get("type", "regular"),
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": True,
        }
        markup = _inline_markup(params)
        if markup:
            message["reply_markup"] = markup
        self.polls[(chat_id, message["message_id"])] = message["poll"]
        self.sent += 1
        return _ok(message)

    async def _api_stopPoll(self, params: dict[str, Any]) -> web.Response:
        key = (int(params["chat_id"]), int(params["message_id"]))
        poll = self.polls.get(key)
        if poll is None:
            if key in self._messages:
                return _error(400, "Bad Request: message is not a poll")
            return _error(400, "Bad Request: message with poll to stop not found")
        if poll["is_closed"]:
            return _error(400, "Bad Request: poll has already been closed")
        poll["is_closed"] = True
        return _ok(poll)

    async def _send_file(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, str, bytes]]
    ) -> web.Response:
        field_name = "photo" if method == "sendPhoto" else "document"
        chat_id = int(params["chat_id"])
        if field_name in files:
            filename, content_type, data = files[field_name]
            upload = Upload(method, filename, content_type, data, f"file-{len(self._files) + 1}")
            self._files[upload.file_id] = upload
            self.uploads.append(upload)
        else:
            known = self._files.get(str(params.get(field_name, "")))
            if known is None:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            upload = known
        caption = str(params.get("caption", ""))
        visible = html.unescape(re.sub(r"<[^>]+>", "", caption))  # Telegram counts what shows
        if len(visible.encode("utf-16-le")) // 2 > 1024:
            return _error(400, "Bad Request: message caption is too long")
        message = self._new_message(chat_id)
        details = {
            "file_id": upload.file_id,
            "file_unique_id": upload.file_id,
            "file_size": len(upload.data),
        }
        if field_name == "photo":
            message["photo"] = [
                {**details, "width": 90, "height": 90},
                {**details, "width": 800, "height": 800},
            ]
        else:
            message["document"] = {
                **details,
                "file_name": upload.filename,
                "mime_type": upload.content_type,
            }
        if caption:
            message["caption"] = caption
        markup = _inline_markup(params)
        if markup:
            message["reply_markup"] = markup
        key = (chat_id, message["message_id"])
        self._messages[key] = (caption, markup)
        self._captioned.add(key)
        self.sent += 1
        return _ok(message)

    async def _api_editMessageCaption(self, params: dict[str, Any]) -> web.Response:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self._messages:
            return _error(400, "Bad Request: message to edit not found")
        if key not in self._captioned:
            return _error(400, "Bad Request: there is no caption in the message to edit")
        new = (params.get("caption", ""), _inline_markup(params))
        if self._messages[key] == new:
            return _error(400, NOT_MODIFIED)
        self._messages[key] = new
        message = self._message_in(key[0], key[1])
        message["caption"] = new[0]
        message["edit_date"] = int(time.time())
        return _ok(message)

    def message_text(self, chat_id: int, message_id: int) -> str:
        """The text (or a file's caption) a message shows now, after any edits."""
        return str(self._messages[(chat_id, message_id)][0])

    async def _api_editMessageText(self, params: dict[str, Any]) -> web.Response:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self._messages:
            return _error(400, "Bad Request: message to edit not found")
        if key in self._captioned:
            return _error(400, "Bad Request: there is no text in the message to edit")
        new = (params.get("text", ""), _inline_markup(params))
        if self._messages[key] == new:
            return _error(400, NOT_MODIFIED)
        self._messages[key] = new
        message = self._message_in(key[0], key[1])
        message["text"] = new[0]
        message["edit_date"] = int(time.time())
        if new[1]:
            message["reply_markup"] = new[1]
        return _ok(message)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _api_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = dict(params)
        return _ok(True)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return _ok(True)

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        # As on Telegram, asking from `offset` confirms every update before it.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), self.max_poll_seconds)
        if not self.updates and wait > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), wait)
            except TimeoutError:
                pass
        limit = int(params.get("limit") or 100)
        return _ok(self.updates[:limit])

    def _new_message(self, chat_id: int) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return self._message_in(chat_id, next(counter))

    @staticmethod
    def _message_in(chat_id: int, message_id: int) -> dict[str, Any]:
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            chat: dict[str, Any] = {"id": chat_id, "type": kind, "title": "RT Heads"}
        else:
            chat = {"id": chat_id, "type": "private", "first_name": "Warga"}
        return {
            "message_id": message_id,
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
        }


async def _params(
    request: web.Request,
) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    """Parameters as the Bot API reads them (query string, form, multipart or JSON body), and the
    uploaded files by field: (filename, content type, bytes). A file's parameter is its name."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, tuple[str, str, bytes]] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            raw.update(await request.json())
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, str):
                    raw[key] = value
                else:
                    raw[key] = value.filename
                    files[key] = (value.filename, value.content_type, value.file.read())
    return {key: _decode(key, value) for key, value in raw.items()}, files


def _inline_markup(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The inline keyboard of a send or edit; None for none (an empty one included)."""
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def serve_in_process(ready: Any, strict_rate: int | None, token: str = TOKEN) -> None:
    """Run a fake with `record=False` until terminated; puts its base URL on the `ready` queue.

    The target of a multiprocessing.Process, so the fake's CPU is not counted as the sender's.
    """

    async def main() -> None:
        fake = FakeBotAPI(token=token, strict_rate=strict_rate, record=False)
        ready.put(await fake.start())
        await asyncio.Event().wait()

    asyncio.run(main())
