"""`Ingest`, the webhooks' group commit, and the background processing that follows it.

The events of many concurrent requests are stored by one statement, and each request is answered
only after the commit that holds its events; status updates are then applied in batches by one
task, messages and channel events one by one.

Durability on SQLite: Tortoise opens it in WAL mode and leaves SQLite's synchronous=FULL, so a
commit, and with it an answered webhook, survives a crash of the process and a power cut. A
database URL ending in `?synchronous=NORMAL` trades the power cut for speed: the commit is in the
WAL when the answer goes, which a crash of the process cannot undo, but the last commits before
a power cut can be lost (bench/README.md has the figures of both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from channels import Event, StatusUpdate
from hub.core.tasks import BackgroundTasks
from hub.inbound.dispatch import Dispatcher
from hub.inbound.events import Stored, StoredRow
from hub.inbound.statuses import ROWS_PER_STATEMENT, batchable

log = logging.getLogger(__name__)


class Ingest:
    """Group commit for webhooks, then processing in the background.

    `store()` queues a request's events and waits; one writer task stores everything queued in
    one statement and answers each waiting request after that commit, while the next requests
    queue up behind it (no timer: at low load a batch is one request). New status updates then
    go to one applier task that applies them in batches; messages and channel events are
    processed one by one, a task per request, as their handlers talk back.

    Events are handed to processing after their commit, whatever became of the request that
    brought them; what is not applied before a stop is stored unprocessed and taken up by
    `Dispatcher.process_pending` at the next start.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        tasks: BackgroundTasks,
        *,
        max_batch: int = ROWS_PER_STATEMENT,
        gather_seconds: float = 0.1,
        max_queued_statuses: int = 50_000,
    ) -> None:
        self.dispatcher = dispatcher
        self.tasks = tasks
        self.max_batch = max_batch
        self.gather_seconds = gather_seconds
        self.max_queued_statuses = max_queued_statuses
        self._waiting: list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]] = []
        self._statuses: list[tuple[StoredRow, StatusUpdate]] = []
        self._backlog = False  # statuses were left in the database: the queue was full
        self._writer: asyncio.Task[None] | None = None
        self._applier: asyncio.Task[None] | None = None
        self._batch_full = asyncio.Event()  # or the writer is idle: time to apply

    async def store(self, events: Sequence[Event]) -> list[Stored]:
        """Store a request's events durably (replays dropped); returns once they are committed."""
        future: asyncio.Future[list[Stored]] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._writer is None:
            self._writer = self._start(self._write(), "ingest-store")
        # A request that goes away cancels only its wait: its events are stored and processed.
        return await future

    def _start(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self.tasks.start(coro, name=name)

    async def _write(self) -> None:
        batch: list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]] = []
        try:
            while self._waiting:
                batch = self._take()
                try:
                    results = await self.dispatcher.store_batches([events for events, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        log.exception("storing a webhook's events failed")
                        _settle(batch[0][1], exc=exc)
                        continue
                    # One bad request must not fail its neighbours: each on its own.
                    log.warning("storing %d webhooks at once failed; one by one", len(batch))
                    for events, future in batch:
                        try:
                            stored = await self.dispatcher.store(events)
                        except Exception as one:
                            log.exception("storing a webhook's events failed")
                            _settle(future, exc=one)
                        else:
                            self._hand_off(stored)
                            _settle(future, stored)
                    continue
                for (_, future), stored in zip(batch, results, strict=True):
                    self._hand_off(stored)
                    _settle(future, stored)
        except BaseException as exc:  # cancelled: nobody may wait forever
            for _, future in [*batch, *self._waiting]:
                _settle(future, exc=RuntimeError(f"storing stopped: {exc!r}"))
            self._waiting.clear()
            raise
        finally:
            self._writer = None
            self._batch_full.set()

    def _take(self) -> list[tuple[Sequence[Event], asyncio.Future[list[Stored]]]]:
        """Queued requests up to max_batch events (at least one request)."""
        count, events = 0, 0
        for queued, _ in self._waiting:
            if count and events + len(queued) > self.max_batch:
                break
            count += 1
            events += len(queued)
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        return batch

    def _hand_off(self, stored: list[Stored]) -> None:
        others: list[Stored] = []
        for row, event in stored:
            if not batchable(event):
                others.append((row, event))
            elif self._backlog or len(self._statuses) >= self.max_queued_statuses:
                # Applying has fallen far behind: memory stays bounded, the applier reads
                # these back from the database, in order, once the queue is through.
                self._backlog = True
            else:
                self._statuses.append((row, event))
        if len(self._statuses) >= self.max_batch:
            self._batch_full.set()
        if self._statuses and self._applier is None:
            self._applier = self._start(self._apply(), "ingest-statuses")
        if others:
            self._start(self._process_each(others), f"{others[0][1].channel}-webhook")

    async def _apply(self) -> None:
        try:
            while self._statuses or self._backlog:
                if not self._statuses:
                    # New statuses queue again from here; any of them the database pass also
                    # reads is claimed by whichever applies it first, and applied once.
                    self._backlog = False
                    await self.dispatcher.process_pending(statuses_only=True)
                    continue
                await self._gather()
                batch = self._statuses[: self.max_batch]
                del self._statuses[: self.max_batch]
                await self.dispatcher.process_statuses(batch)
        finally:
            self._applier = None

    async def _gather(self) -> None:
        """While requests keep coming, let statuses pile up to a full batch (for a while): a
        transaction per batch, not per commit of the writer. Idle, apply at once."""
        if self._writer is None or len(self._statuses) >= self.max_batch:
            return
        self._batch_full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.gather_seconds):
                await self._batch_full.wait()

    async def _process_each(self, stored: list[Stored]) -> None:
        for row, event in stored:
            await self.dispatcher.process(row, event)

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Finish storing what requests wait for; give the applier `grace_seconds` to catch up
        (what it does not apply stays stored, unprocessed, for the next start)."""
        if self._writer is not None:
            done, _ = await asyncio.wait({self._writer}, timeout=grace_seconds)
            if not done:  # the database hangs: the waiting requests are answered 503
                self._writer.cancel()
                await asyncio.wait({self._writer})
        if self._applier is not None:
            done, _ = await asyncio.wait({self._applier}, timeout=grace_seconds)
            if not done:
                log.warning(
                    "stopping with %d status updates not applied yet; applied at the next start",
                    len(self._statuses),
                )
                self._statuses.clear()
                self._backlog = False
                self._applier.cancel()
                await asyncio.wait({self._applier})


def _settle(
    future: asyncio.Future[list[Stored]],
    result: list[Stored] | None = None,
    *,
    exc: BaseException | None = None,
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result or [])
