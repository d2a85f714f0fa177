"""python-telegram-bot's HTTP layer on aiohttp: one keep-alive ClientSession per request object.

PTB's default HTTPXRequest spends several milliseconds of CPU per call; aiohttp with a prebuilt
body spends a fraction of that, which is what lets one process pace a bot at 1000 messages a
second. The body is JSON (the Bot API takes it for every method without files): one json.dumps in
C, where a urlencoded form quotes the text byte by byte in Python. Timeouts follow HTTPXRequest:
values passed per call win, DEFAULT_NONE means the defaults given here.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput  # float | None | BaseRequest.DEFAULT_NONE

_JSON_HEADERS = {"Content-Type": "application/json"}
_TOKEN_IN_URL = re.compile(r"/(bot|file/bot)[^/\s'\"]+")


def redact_url(text: str) -> str:
    """Hide the bot token that PTB puts in every Bot API URL (`/bot<token>/method`)."""
    return _TOKEN_IN_URL.sub(r"/\1<token>", text)


class _HideSecrets(logging.Filter):
    """Rewrites records of PTB's loggers that would show a secret (it logs URLs and parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_url(message)
        for secret in self.secrets:
            clean = clean.replace(secret, "<secret>")
        if clean != message:
            record.msg, record.args = clean, None
        return True


_HIDE_SECRETS = _HideSecrets()
# PTB's loggers that can quote a URL or request parameters (Bot logs both at DEBUG).
_PTB_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "telegram.request.BaseRequest")


def hide_in_ptb_logs(*secrets: str) -> None:
    """Keep the bot token and other secrets out of python-telegram-bot's own log records."""
    _HIDE_SECRETS.secrets.update(s for s in secrets if s)
    for name in _PTB_LOGGERS:
        logger = logging.getLogger(name)
        if _HIDE_SECRETS not in logger.filters:
            logger.addFilter(_HIDE_SECRETS)


class AiohttpRequest(BaseRequest):
    """A BaseRequest on one aiohttp ClientSession, opened by initialize(), closed by shutdown()."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_timeouts",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        # ClientTimeout objects by (read, write, connect, pool): a handful of distinct values.
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (inside the running event loop)."""
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies: skip the work
            trust_env=False,
        )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is None or self._session.closed:
            return
        await self._session.close()
        self._session = None

    def _timeout(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        pool: ODVInput[float],
        has_files: bool,
    ) -> aiohttp.ClientTimeout:
        # DEFAULT_NONE (PTB's only default marker for timeouts) means "this object's default".
        if read is BaseRequest.DEFAULT_NONE:
            read = self._read_timeout
        if write is BaseRequest.DEFAULT_NONE:
            write = self._media_write_timeout if has_files else self._write_timeout
        if connect is BaseRequest.DEFAULT_NONE:
            connect = self._connect_timeout
        if pool is BaseRequest.DEFAULT_NONE:
            pool = self._pool_timeout
        key = (read, write, connect, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            # aiohttp's `connect` covers waiting for a pooled connection and opening one; it has
            # no write timeout, so the write budget bounds the whole request together with the rest.
            parts = (read, write, connect, pool)
            timeout = aiohttp.ClientTimeout(
                total=None if None in parts else sum(p for p in parts if p is not None),
                connect=None if pool is None or connect is None else pool + connect,
                sock_connect=connect,
                sock_read=read,
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = timeout
        return timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one HTTP request; returns (status, body). Timeouts raise TimedOut."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        data: Any = None
        headers: dict[str, str] | None = None
        if files:
            # File names go as UTF-8 in quotes, as browsers send them: quoted, aiohttp would
            # percent-encode them and the recipient would see "surat%20edaran.pdf".
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request_data.json_parameters.items():  # type: ignore[union-attr]
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        elif request_data is not None:
            # `parameters` are JSON-ready values (PTB turned objects into dicts and lists).
            parameters = request_data.parameters
            if parameters:
                data = json.dumps(parameters, ensure_ascii=False, separators=(",", ":")).encode()
                headers = _JSON_HEADERS
        timeout = self._timeout(
            read_timeout, write_timeout, connect_timeout, pool_timeout, bool(files)
        )
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            # aiohttp's timeout errors derive from TimeoutError; messages carry no URL.
            raise TimedOut(f"Timed out: {type(exc).__name__}") from None
        except aiohttp.ClientError as exc:
            # Some aiohttp errors quote the URL, and the URL holds the token.
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {redact_url(str(exc))}") from None
