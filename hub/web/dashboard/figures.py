"""How the officials' pages write figures and find the area asked for; shared by the
participation and scorecard pages (which do not import each other)."""

from __future__ import annotations

import re

from aiohttp import web

from hub.access.areas import area_by_path
from hub.insight.participation import counted
from hub.web.dashboard.base import SCOPE
from models import Area, AreaKind

KIND_LABELS = {
    AreaKind.KECAMATAN.value: "Kecamatan",
    AreaKind.KELURAHAN.value: "Kelurahan",
    AreaKind.RW.value: "RW",
    AreaKind.RT.value: "RT",
}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


of = counted  # '11 dari 23 (48%)': a rate never without its count


def minutes(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 90:
        return f"{value:g} menit"
    return hours(value / 60)


def hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} jam".replace(".", ",")


def digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


async def area_asked(request: web.Request) -> Area | None:
    """The area in `?area=` (a 403 page outside the user's areas), None for the top."""
    wanted = request.query.get("area", "")
    if not wanted:
        return None
    area = await area_by_path(wanted)
    request[SCOPE].require_area(area)
    return area
