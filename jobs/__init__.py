"""Scheduled jobs on APScheduler. The database holds what is due; jobs are small and idempotent."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from jobs.broadcasts import start_due_broadcasts

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}


def create_scheduler(hub: Hub, *, demo: bool = False) -> AsyncIOScheduler:
    """The scheduler for this process; only one process of a deployment should run it."""
    scheduler = AsyncIOScheduler(timezone=hub.config.hub.timezone, job_defaults=JOB_DEFAULTS)
    scheduler.add_job(start_due_broadcasts, "interval", seconds=15, args=[hub], id="due_broadcasts")
    if demo:
        from jobs.demo import act_as_demo_members

        scheduler.add_job(act_as_demo_members, "interval", seconds=3, args=[hub], id="demo_members")
    return scheduler
