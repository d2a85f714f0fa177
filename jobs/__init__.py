"""Scheduled jobs on APScheduler. The database holds what is due; jobs are small and idempotent."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hub.core.leases import SCHEDULER_LEASE_RENEW
from hub.runtime import Hub
from jobs.broadcasts import start_due_broadcasts
from jobs.feedback import ask_ticket_followups
from jobs.feedback_dialogs import delete_unlinked_feedback_files, end_lapsed_feedback_dialogs
from jobs.feedback_polls import close_due_polls
from jobs.maintenance import (
    delete_expired_sessions,
    delete_unused_uploads,
    retry_deferred_events,
)
from jobs.participation import send_participation_reports
from jobs.reminders import escalate_silent, send_reminders

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 60}


def _logged(job: Callable[[Hub], Awaitable[dict[str, int]]]) -> Callable[[Hub], Awaitable[None]]:
    """Run a job and log its summary when it did something."""

    @functools.wraps(job)
    async def run(hub: Hub) -> None:
        if not hub.scheduler_lease.held:
            return  # another process of the deployment runs the jobs
        summary = await job(hub)
        if any(summary.values()):
            log.info("%s: %s", job.__name__, summary)

    return run


def create_scheduler(hub: Hub, *, demo: bool = False) -> AsyncIOScheduler:
    """The scheduler for this process; only one process of a deployment should run it."""
    scheduler = AsyncIOScheduler(timezone=hub.config.hub.timezone, job_defaults=JOB_DEFAULTS)
    scheduler.add_job(
        hub.scheduler_lease.renew,
        "interval",
        seconds=SCHEDULER_LEASE_RENEW.total_seconds(),
        id="scheduler_lease",
    )
    scheduler.add_job(
        _logged(start_due_broadcasts), "interval", seconds=15, args=[hub], id="due_broadcasts"
    )
    scheduler.add_job(_logged(close_due_polls), "interval", seconds=30, args=[hub], id="due_polls")
    scheduler.add_job(
        _logged(delete_expired_sessions), "interval", hours=1, args=[hub], id="expired_sessions"
    )
    scheduler.add_job(
        _logged(delete_unused_uploads), "interval", hours=6, args=[hub], id="unused_uploads"
    )
    scheduler.add_job(
        _logged(retry_deferred_events), "interval", seconds=30, args=[hub], id="deferred_events"
    )
    scheduler.add_job(_logged(send_reminders), "interval", seconds=60, args=[hub], id="reminders")
    scheduler.add_job(
        _logged(escalate_silent), "interval", seconds=60, args=[hub], id="escalations"
    )
    scheduler.add_job(
        _logged(ask_ticket_followups), "interval", minutes=5, args=[hub], id="ticket_followups"
    )
    scheduler.add_job(
        _logged(end_lapsed_feedback_dialogs),
        "interval",
        seconds=60,
        args=[hub],
        id="feedback_dialogs",
    )
    scheduler.add_job(
        _logged(delete_unlinked_feedback_files),
        "interval",
        hours=6,
        args=[hub],
        id="feedback_files",
    )
    scheduler.add_job(
        _logged(send_participation_reports),
        "interval",
        minutes=15,
        args=[hub],
        id="participation_reports",
    )
    if demo:
        from jobs.demo import act_as_demo_members

        scheduler.add_job(
            _logged(act_as_demo_members), "interval", seconds=3, args=[hub], id="demo_members"
        )
    return scheduler
