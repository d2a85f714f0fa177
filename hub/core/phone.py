"""Indonesian phone numbers normalised to E.164 (`+62812...`)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()/]")
# ASCII only: str.isdigit() also accepts "³" and full-width digits, which no messenger dials.
_DIGITS = re.compile(r"[0-9]+")


class InvalidPhone(ValueError):
    """The text is not a usable phone number; the message says why (in Indonesian)."""


def normalize_phone(raw: str) -> str:
    """`0812-3456-7890`, `+62 812 3456 7890` and `6281234567890` all give `+6281234567890`."""
    text = _SEPARATORS.sub("", raw.strip())
    if not text:
        raise InvalidPhone("nomor telepon kosong")
    if text.startswith("+"):
        digits = text[1:]
        if not _DIGITS.fullmatch(digits):
            raise InvalidPhone(f"nomor telepon tidak valid: {raw!r}")
        if not digits.startswith("62"):
            # Foreign numbers are accepted as they are written (E.164 already).
            if not 8 <= len(digits) <= 15:
                raise InvalidPhone(f"panjang nomor tidak wajar: {raw!r}")
            return "+" + digits
    else:
        if not _DIGITS.fullmatch(text):
            raise InvalidPhone(f"nomor telepon tidak valid: {raw!r}")
        if text.startswith("0"):
            digits = "62" + text[1:]
        elif text.startswith("62"):
            digits = text
        elif text.startswith("8"):
            digits = "62" + text
        else:
            raise InvalidPhone(f"nomor harus diawali 0, 62 atau +62: {raw!r}")
    national = digits[2:]
    if national.startswith("0"):
        national = national[1:]  # "+62 0812..." is a common slip
    # Indonesian mobile and landline numbers have 7 to 12 digits after the country code.
    if not 7 <= len(national) <= 12:
        raise InvalidPhone(f"panjang nomor tidak wajar: {raw!r}")
    return "+62" + national
