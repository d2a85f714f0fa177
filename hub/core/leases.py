"""Deployment-wide roles held by one process at a time, through a lease row in the database.

Several hub processes may run behind a load balancer, but APScheduler cannot share its job store
between processes. Every process configured to run the scheduler competes for the "scheduler"
lease; only its holder runs the jobs. The holder renews the lease well before it expires; if the
holder dies, another process takes over once the lease has run out. The jobs are idempotent
besides (conditional updates), so a brief overlap after a stalled holder is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from hub.core.timeutil import Clock, utcnow
from models import Lease

log = logging.getLogger(__name__)

# The scheduler's holder renews every 15 s; the lease lasts four renewals, so one slow moment
# does not hand it over, and a dead holder is replaced within a minute.
SCHEDULER_LEASE_RENEW = dt.timedelta(seconds=15)
SCHEDULER_LEASE_TTL = 4 * SCHEDULER_LEASE_RENEW


class LeaseHolder:
    """One process's claim on a named role."""

    def __init__(self, name: str, *, ttl: dt.timedelta, clock: Clock = utcnow) -> None:
        self.name = name
        self.ttl = ttl
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]
        self.held = False

    async def renew(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now = self.clock()
        expires = now + self.ttl
        renewed = await Lease.filter(
            Q(name=self.name) & (Q(holder=self.holder) | Q(expires_at__lt=now))
        ).update(holder=self.holder, expires_at=expires)
        if not renewed and not await Lease.exists(name=self.name):
            try:
                await Lease.create(name=self.name, holder=self.holder, expires_at=expires)
                renewed = 1
            except IntegrityError:  # another process created it first
                renewed = 0
        was_held, self.held = self.held, bool(renewed)
        if self.held and not was_held:
            log.info("this process now runs the %s (%s)", self.name, self.holder)
        elif was_held and not self.held:
            log.warning("another process took over the %s", self.name)
        return self.held

    async def release(self) -> None:
        """Give the role up at shutdown, so another process takes over at once."""
        if self.held:
            await Lease.filter(name=self.name, holder=self.holder).delete()
            self.held = False
