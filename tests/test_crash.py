"""A hub killed mid-broadcast and started again loses nobody and doubles only what was in flight.

The real `hub run` in a subprocess (SQLite, Telegram and WhatsApp against the fakes of the tests
on loopback) sends one broadcast to 200 RT heads; the fake that accepts the 60th message, and
later the 140th, kills it with SIGKILL before answering, and it is started again each time. The
machinery is bench/_crash.py, which bench/crash.py runs at full scale.
"""

from __future__ import annotations

from pathlib import Path

from bench._crash import CONCURRENCY, CrashRun


async def test_a_killed_hub_loses_nothing_and_sends_again_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    run = CrashRun(
        tmp_path,
        members=200,
        kill_at=[60, 140],
        telegram_rate=100,
        whatsapp_rate=100,
        lease_seconds=2,  # [broadcast] claim_lease_seconds: a dead hub's messages wait this long
        timeout=120,
    )
    verdict = await run.run()

    assert verdict.kills == 2
    assert run.exit_codes == [-9, -9, 0]
    assert verdict.nothing == []  # every RT head got the announcement
    # Each kill came while the fake held the answer to a message it had accepted: that message
    # left without the hub learning it, so it went out again once its claim ran out. More than
    # what one sender has in flight or unwritten (its concurrency) never goes twice.
    assert 2 <= verdict.duplicates <= 2 * CONCURRENCY
    assert verdict.requeued >= 2
    assert verdict.received == 200 + verdict.duplicates
    assert verdict.troubles == []
