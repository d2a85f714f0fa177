"""What publishing a broadcast in the public archive adds to it: a verification code printed
under every copy, and fingerprints of its texts by which a pasted copy is recognised.

A code is six characters of an alphabet nobody misreads (Crockford's base32 without I, L, O, U, 0
and 1), shown as `7QK-2M4` and read back whatever the case, dashes or spaces. A fingerprint is the
SHA-256 of the text normalized the way a copy travels: forwarded, copied out of a chat, with the
hub's own lines (the signature, the "Sudah dibaca" hint, the code line, a correction's header)
around it or not, its emoji and markdown stars lost or kept, its line breaks and case changed.
The public check (hub/archive) reads these; this module is below it because the broadcast's
life (creation, series runs, fan-out, corrections) writes them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.core.config import Config
from hub.core.texts import LANGUAGES
from hub.core.texts import text as say
from models import Broadcast, PublishedText

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 6
# What stands for the code while a text is checked for length, before the code is drawn.
CODE_PLACEHOLDER = "X" * CODE_LENGTH
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—]+")
_CODE_TRIES = 20  # a code already in use is drawn again; 30^6 codes make a second draw rare


def new_code() -> str:
    """A random code, as stored (no dash)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def unused_code() -> str:
    """A random code no broadcast has; the unique column stays the last word on a race."""
    for _ in range(_CODE_TRIES):
        code = new_code()
        if not await Broadcast.exists(verification_code=code):
            return code
    raise RuntimeError("no unused verification code found; is the code column full?")


def format_code(code: str) -> str:
    """`7QK2M4` as people read it: `7QK-2M4`."""
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def parse_code(typed: str) -> str | None:
    """The stored form of a typed code (`7qk 2m4`, `7QK-2M4`), or None if it cannot be one."""
    code = _SEPARATORS.sub("", typed).upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def check_url(config: Config, code: str) -> str | None:
    """The public page of a code, when the hub has an address people can open: a loopback
    address (the default `hub.public_url`) would only confuse whoever reads the message."""
    base = config.hub.public_url.rstrip("/")
    host = urlsplit(base).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else f"{base}/arsip/{format_code(code)}"


def code_footer(config: Config, code: str) -> str:
    """The line under a published announcement: its code, and where to check it."""
    url = check_url(config, code)
    lang = config.hub.language
    if url is None:
        return say(lang, "check_code", code=format_code(code))
    return say(lang, "check_code_url", code=format_code(code), url=url)


# Fingerprints ------------------------------------------------------------------------------

# Markdown marks the messengers show as bold, italic, strike-through or code.
_MARKDOWN = set("*_~`")
# Emoji and other pictographs (So), their modifiers (Sk: skin tones), joiners and invisible
# format characters (Cf), and the variation selectors that turn a character into an emoji.
_DROPPED_CATEGORIES = {"So", "Sk", "Cf", "Co", "Cs"}
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


def _kept(ch: str) -> bool:
    if ch in _MARKDOWN or "\ufe00" <= ch <= "\ufe0f":
        return False
    return unicodedata.category(ch) not in _DROPPED_CATEGORIES


def flatten(text: str) -> str:
    """A text as a copy of it may differ only in form: one case, one kind of quote, no emoji or
    markdown, single spaces for every run of blanks and line breaks."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = "".join(ch for ch in text if _kept(ch))
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class HubLines:
    """The lines the hub adds around an announcement, flattened, in every language it speaks:
    a copy carries them or not, so they never count."""

    whole: frozenset[str]
    prefixes: tuple[str, ...]  # the code line: its words before the code

    def is_hub_line(self, flat_line: str) -> bool:
        return flat_line in self.whole or flat_line.startswith(self.prefixes)


@functools.cache
def hub_lines(hub_name: str) -> HubLines:
    """The hub's own lines for a hub of this name (the signature names it)."""
    whole: set[str] = set()
    prefixes: list[str] = []
    for lang in LANGUAGES:
        frame = say(lang, "broadcast", title="", text="", hub=hub_name)
        for key in ("broadcast_ack_hint", "acknowledged_mark", "correction_header"):
            frame += "\n" + say(lang, key)
        whole.update(flatten(line) for line in frame.splitlines())
        head = say(lang, "check_code", code="\0").split("\0")[0]
        prefixes.append(flatten(head))
    whole.discard("")
    return HubLines(frozenset(whole), tuple(p for p in prefixes if p))


def normalized(text: str, hub_name: str) -> str:
    """The text without the hub's own lines, flattened (see `flatten`)."""
    lines = hub_lines(hub_name)
    kept = [flat for line in text.splitlines() if not lines.is_hub_line(flat := flatten(line))]
    return " ".join(line for line in kept if line)


def digest(normalized_text: str) -> str:
    return hashlib.sha256(normalized_text.encode()).hexdigest()


async def _store_current_text(config: Config, broadcast: Broadcast) -> None:
    """The fingerprints of the broadcast's text as it is now: alone, and under its title."""
    body = normalized(broadcast.text, config.hub.name)
    title = normalized(broadcast.title, config.hub.name)
    full = " ".join(part for part in (title, body) if part)
    await PublishedText.create(
        broadcast_id=broadcast.id, text_digest=digest(body), full_digest=digest(full)
    )


async def record_publication(config: Config, broadcast: Broadcast, now: dt.datetime) -> None:
    """A published broadcast goes out: it is public from now, and its text can be checked."""
    broadcast.published_at = now
    await Broadcast.filter(id=broadcast.id).update(published_at=now)
    await _store_current_text(config, broadcast)


async def record_correction(config: Config, broadcast: Broadcast, now: dt.datetime) -> None:
    """A published broadcast was corrected (its title and text are the new ones): the texts it
    had stay recognisable as replaced, the new one is current."""
    if broadcast.published_at is None:
        return
    await PublishedText.filter(broadcast_id=broadcast.id, replaced_at=None).update(replaced_at=now)
    await _store_current_text(config, broadcast)
