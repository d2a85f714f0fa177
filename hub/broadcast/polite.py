"""Acknowledgement in the RT heads' own words: "siap", "ok pak", "terima kasih", 👍, 🙏.

Many RT heads answer an announcement the way they would answer the kelurahan's WhatsApp group,
instead of tapping "Sudah dibaca". A short message made only of such words (and a form of address,
"pak", "bu") confirms the announcement. Anything more ("siap, tapi saluran masih tersumbat"), a
question, or a "belum" is not a confirmation: it goes on to the inbox for the staff.
"""

from __future__ import annotations

import re
import unicodedata

# Words that confirm, alone or together, as RT heads write them (typos and chat spellings too).
CONFIRMING = frozenset(
    {
        "siap", "siapp", "siaap", "sip", "sipp", "siip", "ok", "oke", "okay", "okey", "okee",
        "baik", "baiklah", "sudah", "sdh", "udah", "udh", "dibaca", "terbaca", "diterima",
        "terima", "kasih", "terimakasih", "makasih", "trims", "trimakasih", "tks", "thx",
        "thanks", "noted", "mantap", "laksanakan", "dilaksanakan", "siaplaksanakan", "nggih",
        "njih", "inggih", "ya", "iya", "yes", "done", "read", "received", "alhamdulillah",
    }
)  # fmt: skip
# Words that may stand beside them without changing what is meant: forms of address, "sudah ya".
BESIDE = frozenset(
    {
        "pak", "bu", "bapak", "ibu", "bpk", "mas", "mbak", "lurah", "camat", "bos", "min",
        "admin", "kak", "dan", "banyak", "sekali", "yaa", "nya", "sir", "mam", "you",
        "thank", "very", "much", "info", "infonya", "informasinya", "pengumumannya",
    }
)  # fmt: skip
CONFIRMING_SIGNS = frozenset({"👍", "🙏", "👌", "✅", "👏", "🫡", "💪"})
MAX_WORDS = 6  # "siap pak terima kasih banyak pak": more than this is a message, not a nod

_SKIN_TONES_AND_SELECTORS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f\u200d]")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def confirms(text: str) -> bool:
    """Whether `text` is only a polite confirmation ("Siap pak 👍", "ok", "🙏🙏")."""
    if "?" in text or not text.strip():
        return False
    cleaned = _SKIN_TONES_AND_SELECTORS.sub("", unicodedata.normalize("NFKC", text))
    signs = [ch for ch in cleaned if ch in CONFIRMING_SIGNS]
    rest = "".join(" " if ch in CONFIRMING_SIGNS else ch for ch in cleaned)
    words = [_squeeze(w) for w in _WORD.findall(rest.casefold())]
    leftover = _WORD.sub("", rest).strip(" .,!~-_*\n\t")
    if leftover or len(words) > MAX_WORDS:
        return False  # digits, other emoji or symbols: more than a nod
    if any(w not in CONFIRMING and w not in BESIDE for w in words):
        return False
    return bool(signs) or any(w in CONFIRMING for w in words)


def _squeeze(word: str) -> str:
    """Letters typed more than twice count twice: "siaaaap" is "siaap", "okeee" is "okee"."""
    return re.sub(r"(.)\1{2,}", r"\1\1", word)
