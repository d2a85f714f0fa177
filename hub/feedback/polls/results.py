"""A poll's results: votes per option, voters, who could vote, and the turnout per area.

Everything is counted by the database (GROUP BY), never by loading votes; the areas shown are
those of the deliveries (the seat each recipient held when the poll went out, an RT), filtered
by the caller's scope in the same query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count

from hub.access.auth import Scope
from hub.feedback.polls.service import eligible_deliveries
from models import Area, Poll, PollVote


@dataclass(frozen=True)
class AreaTurnout:
    area: str | None  # the area's path; None for recipients who held no seat
    eligible: int
    voters: int

    @property
    def turnout(self) -> float:
        return round(self.voters / self.eligible, 4) if self.eligible else 0.0


@dataclass(frozen=True)
class PollResults:
    options: list[tuple[str, int]]  # (text, votes), in the poll's order
    voters: int
    eligible: int
    areas: list[AreaTurnout]

    @property
    def turnout(self) -> float:
        return round(self.voters / self.eligible, 4) if self.eligible else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "options": [{"text": text, "votes": votes} for text, votes in self.options],
            "voters": self.voters,
            "eligible": self.eligible,
            "turnout": self.turnout,
            "areas": [
                {"area": a.area, "eligible": a.eligible, "voters": a.voters, "turnout": a.turnout}
                for a in self.areas
            ],
        }


async def results_of(poll: Poll, scope: Scope) -> PollResults:
    """The poll's counts, and its turnout in each area of the caller's scope."""
    by_option = dict(
        await PollVote.filter(poll_id=poll.id)
        .annotate(n=Count("id"))
        .group_by("option")
        .values_list("option", "n")
    )
    eligible = await eligible_deliveries(poll).count()
    return PollResults(
        options=[(text, by_option.get(n, 0)) for n, text in enumerate(poll.options)],
        voters=sum(by_option.values()),
        eligible=eligible,
        areas=await _turnout_by_area(poll, scope),
    )


async def _turnout_by_area(poll: Poll, scope: Scope) -> list[AreaTurnout]:
    deliveries = eligible_deliveries(poll)
    area_filter = scope.area_filter()
    if area_filter is not None:
        deliveries = deliveries.filter(area_filter)
    eligible = await _per_area(
        deliveries.annotate(n=Count("id")).group_by("area_id").values_list("area_id", "n")
    )
    voted = PollVote.filter(poll_id=poll.id).values("delivery_id")
    voters = await _per_area(
        deliveries.filter(id__in=Subquery(voted))
        .annotate(n=Count("id"))
        .group_by("area_id")
        .values_list("area_id", "n")
    )
    ids = sorted(i for i in eligible if i is not None)
    paths = dict(await Area.filter(id__in=ids).values_list("id", "path")) if ids else {}
    rows = [
        AreaTurnout(paths.get(i) if i else None, n, voters.get(i, 0)) for i, n in eligible.items()
    ]
    return sorted(rows, key=lambda r: (r.area is None, (r.area or "").casefold()))


async def _per_area(query: Any) -> dict[int | None, int]:
    rows: Sequence[tuple[int | None, int]] = await query
    return {area_id: n for area_id, n in rows}
