"""Numbers from query strings and form fields: ASCII digits only, within the columns' range.

`str.isdigit()` also accepts "²" and full-width digits, which `int()` then refuses or reads; an id
longer than an integer column would overflow the database instead of matching nothing.
"""

from __future__ import annotations

import re

ID_MAX = 2**31 - 1  # ids are 32-bit integer columns
_DIGITS = re.compile(r"[0-9]{1,18}")


def whole_number(text: object, maximum: int = ID_MAX) -> int | None:
    """The number written in `text` when it is 0..maximum in ASCII digits; else None."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def ids_of(values: list[object]) -> list[int]:
    """The ids among form values, the rest left out."""
    return [i for v in values if (i := whole_number(v)) is not None]
