"""Progress bars on the command line: a broadcast's counts as they move, a roster import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.broadcast.queries import delivery_counts
from models import Broadcast, BroadcastStatus

POLL_SECONDS = 1.0
# With nothing moving for this long, say so: the sender runs in `hub run`, not here.
STALL_SECONDS = 15.0


def counts_line(broadcast: Broadcast, counts: dict[str, int]) -> str:
    """One line of counts, as `hub broadcast status` prints it."""
    order = (
        "pending",
        "sent",
        "delivered",
        "read",
        "acknowledged",
        "failed",
        "skipped",
        "cancelled",
    )
    numbers = " ".join(f"{name}={counts[name]}" for name in order)
    return f"#{broadcast.id} {broadcast.status.value} recipients={broadcast.recipients} {numbers}"


def _finished(broadcast: Broadcast, counts: dict[str, int]) -> bool:
    if broadcast.status == BroadcastStatus.MISSED:
        return True
    if broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.SENT):
        return counts["pending"] == 0
    return False


async def follow(broadcast_id: int, *, console: Console | None = None) -> dict[str, int]:
    """Show sending and acknowledging until nothing is pending; Ctrl+C stops watching only."""
    console = console or Console(stderr=True)
    broadcast = await Broadcast.get(id=broadcast_id)
    counts = await delivery_counts(broadcast_id)
    total = max(broadcast.recipients, 1)
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as bars:
        sent = bars.add_task("terkirim", total=total)
        read = bars.add_task("dibaca", total=total)
        acked = bars.add_task("dikonfirmasi", total=total)
        last_change, previous = 0.0, None
        waited = 0.0
        while True:
            broadcast = await Broadcast.get(id=broadcast_id)
            counts = await delivery_counts(broadcast_id)
            done = counts["sent"] + counts["failed"] + counts["cancelled"]
            bars.update(sent, completed=done, total=max(broadcast.recipients, 1))
            bars.update(read, completed=counts["read"], total=max(broadcast.recipients, 1))
            bars.update(acked, completed=counts["acknowledged"], total=max(broadcast.recipients, 1))
            if _finished(broadcast, counts):
                break
            if counts != previous:
                previous, last_change = counts, waited
            elif waited - last_change >= STALL_SECONDS:
                console.print(
                    "[yellow]Belum ada kemajuan: apakah `hub run` berjalan? "
                    "(pengiriman dilakukan oleh hub run)[/yellow]"
                )
                last_change = waited
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
    return counts


@contextlib.contextmanager
def roster_progress(
    console: Console | None = None,
) -> Iterator[Callable[[int, int], Awaitable[None]]]:
    """An `on_batch` for a roster import that moves a bar; shows nothing unless on a terminal."""
    console = console or Console(stderr=True)
    if not console.is_terminal:

        async def quiet(done: int, total: int) -> None:
            return None

        yield quiet
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bars:
        task = bars.add_task("importing rows", total=None)

        async def advance(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        yield advance
