"""Is this official? The check of a verification code or of a pasted message.

A code is looked up among the published announcements. A pasted text is looked for by the code
in it (the "Kode cek" line, a link to the archive, a code written with its dash): a real code
under a text that is not its announcement's is the hoax this exists for, and is said so. A text
without a known code is found by its fingerprint (hub/broadcast/publication.py), the text alone
or with its title, as the hub sent it or as an earlier version a correction replaced. Nothing
but published announcements that went out is ever looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tortoise.expressions import Q, Subquery

from hub.archive.entries import ArchiveEntry, entries_of, entry_by_code, published
from hub.broadcast.publication import digest, flatten, hub_lines, normalized, parse_code
from models import Broadcast, PublishedText

MAX_CODES = 10  # codes looked up from one pasted text; the first one known counts
MAX_MATCHES = 50  # texts read for one fingerprint (a weekly series repeats its text)
_CODE = r"([0-9a-z]{3})[\s\-‐‑‒–—]?([0-9a-z]{3})(?![0-9a-z])"
_DASHED = re.compile(r"(?<![0-9a-z])([0-9a-z]{3})[\-‐‑‒–—]([0-9a-z]{3})(?![0-9a-z])")


class Verdict(StrEnum):
    GENUINE = "genuine"  # the code of a published announcement, or its text as it stands now
    CORRECTED = "corrected"  # the text of an earlier version, replaced by a correction since
    ALTERED = "altered"  # a real code under a text that is not its announcement's
    NOT_FOUND = "not_found"  # no published announcement has this code or this text


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    entry: ArchiveEntry | None = None  # the announcement found (by code or by text)

    @property
    def genuine(self) -> bool:
        return self.verdict == Verdict.GENUINE


async def check_code(code: str) -> Check:
    """The check of a code as stored (see publication.parse_code)."""
    entry = await entry_by_code(code)
    return Check(Verdict.GENUINE, entry) if entry else Check(Verdict.NOT_FOUND)


def codes_in(text: str, hub_name: str) -> list[str]:
    """The codes written in a text, in order (stored form): after the code line's words
    ("Kode cek:"), in a link to the archive, or with their dash. A hyphenated word such as
    "apa-apa" may look like one; only codes that exist count."""
    flat = flatten(text)
    # The code line's words, however spaced and with or without their colon.
    labels = [r"\s*".join(re.findall(r"\w+", p)) for p in hub_lines(hub_name).prefixes]
    labelled = re.compile(rf"(?:{'|'.join([*labels, '/arsip/'])})[\s:]*{_CODE}")
    found = [(m.start(), m[1] + m[2]) for m in labelled.finditer(flat)]
    found += [(m.start(), m[1] + m[2]) for m in _DASHED.finditer(flat)]
    codes: list[str] = []
    for _, typed in sorted(found):
        code = parse_code(typed)
        if code is not None and code not in codes:
            codes.append(code)
    return codes[:MAX_CODES]


async def _known_code(codes: list[str]) -> Broadcast | None:
    """The published announcement of the first of these codes that belongs to one."""
    if not codes:
        return None
    known = {b.verification_code: b for b in await published().filter(verification_code__in=codes)}
    return next((known[c] for c in codes if c in known), None)


async def _matches(fingerprint: str, broadcast_id: int | None = None) -> list[PublishedText]:
    """The published texts with this fingerprint (alone or under their title), newest first."""
    rows = PublishedText.filter(
        Q(text_digest=fingerprint) | Q(full_digest=fingerprint),
        broadcast_id__in=Subquery(published().values("id")),
    )
    if broadcast_id is not None:
        rows = rows.filter(broadcast_id=broadcast_id)
    return list(await rows.order_by("-broadcast_id", "-id").limit(MAX_MATCHES))


def _best(rows: list[PublishedText]) -> tuple[Verdict, int] | None:
    """The verdict of the matching texts, and whose: a current text wins over a replaced one."""
    current = [r for r in rows if r.replaced_at is None]
    if current:
        return Verdict.GENUINE, current[0].broadcast_id
    if rows:
        return Verdict.CORRECTED, rows[0].broadcast_id
    return None


async def _entry(broadcast: Broadcast | None) -> ArchiveEntry | None:
    return (await entries_of([broadcast]))[0] if broadcast else None


async def _under_code(broadcast: Broadcast, body: str) -> Check:
    """A text that names a real code: its announcement's text (now or before a correction), or
    not. A code written in the text itself is left out of the comparison, and a text that is
    nothing but the code asks about the code."""
    entry = await _entry(broadcast)
    assert entry is not None
    rest = " ".join(body.replace(entry.code.casefold(), " ").split())
    if not rest:
        return Check(Verdict.GENUINE, entry)
    for candidate in dict.fromkeys((rest, body)):
        best = _best(await _matches(digest(candidate), broadcast.id))
        if best is not None:
            return Check(best[0], entry)
    return Check(Verdict.ALTERED, entry)


async def check_text(text: str, hub_name: str) -> Check:
    """The check of a pasted message (or of a code typed alone)."""
    code = parse_code(text)
    if code is not None:
        return await check_code(code)
    body = normalized(text, hub_name)
    named = await _known_code(codes_in(text, hub_name))
    if named is not None:
        return await _under_code(named, body)
    best = _best(await _matches(digest(body))) if body else None
    if best is None:
        return Check(Verdict.NOT_FOUND)
    verdict, broadcast_id = best
    entry = await _entry(await published().get_or_none(id=broadcast_id))
    return Check(verdict, entry) if entry else Check(Verdict.NOT_FOUND)
