"""The `hub` command line on a SQLite file: migrate, user add, token create, usage errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE

from hub.access import auth
from hub.cli import main
from hub.core.db import close_database, open_database
from models import (
    AuditLog,
    Broadcast,
    BroadcastStatus,
    Delivery,
    DeliveryStatus,
    OutboundMessage,
    User,
    UserRole,
)
from tests.conftest import SERVER_URL
from tests.factories import make_area, make_member

T = TypeVar("T")
PASSWORD = "kata-sandi-yang-panjang"


@pytest.fixture(autouse=True)
def clean_executor_cache() -> Iterator[None]:
    # Insert SQL is cached per connection name; earlier PostgreSQL tests used "default" too.
    EXECUTOR_CACHE.clear()
    yield
    EXECUTOR_CACHE.clear()


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HUB_CONFIG", "HUB_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite://{tmp_path}/db/hub.sqlite3"\n', encoding="utf-8")
    return path


@pytest.fixture
def db_url(config_path: Path) -> str:
    return f"sqlite://{config_path.parent}/db/hub.sqlite3"


def hub(config_path: Path, *args: str) -> int:
    return main(["--config", str(config_path), *args])


def in_database(db_url: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` against the command's database, as a separate process would."""

    async def run() -> T:
        await open_database(db_url)
        try:
            return await work()
        finally:
            await close_database()

    EXECUTOR_CACHE.clear()
    return asyncio.run(run())


def stdin(monkeypatch: pytest.MonkeyPatch, text: str, *, tty: bool = False) -> None:
    class Input(io.StringIO):
        def isatty(self) -> bool:
            return tty

    monkeypatch.setattr("sys.stdin", Input(text))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hub: ")
    assert "Traceback" not in err
    return lines[0]


# migrate -------------------------------------------------------------------------------------


def test_migrate_creates_the_database_and_is_idempotent(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config_path, "migrate") == 0
    applied = len(list((Path(__file__).parents[1] / "models" / "migrations").glob("0*.py")))
    assert capsys.readouterr().out.strip() == f"Applied {applied} migration(s)"
    assert (config_path.parent / "db" / "hub.sqlite3").exists()
    assert hub(config_path, "migrate") == 0
    assert capsys.readouterr().out.strip() == "Database is up to date"


def test_hub_config_from_the_environment(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_CONFIG", str(config_path))
    assert main(["migrate"]) == 0
    assert "Applied" in capsys.readouterr().out


# Nothing listens on port 1 of loopback; the password must never be printed.
UNREACHABLE = "postgres://hub:kata-sandi-db-77@127.0.0.1:1/hub"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (UNREACHABLE, "Connect call failed"),
        (f"{SERVER_URL}/balai_warga_no_such_database", "balai_warga_no_such_database"),
    ],
    ids=["no server", "no such database"],
)
def test_migrate_against_an_unreachable_database_is_one_line_and_exit_2(
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    reason: str,
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    assert hub(config_path, "migrate") == 2
    line = one_error_line(capsys)
    assert line.startswith("hub: database.url: cannot reach postgres://") and reason in line
    assert "kata-sandi-db-77" not in line


def test_run_against_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A real process, so that the server's logging would show too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {"HUB_DATABASE_URL": UNREACHABLE, "PYTHONPATH": str(Path(__file__).parent.parent)}
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "hub", "run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("hub: database.url: cannot reach postgres://hub:********@127.0.0.1:1/")
    assert "Connect call failed" in line and "kata-sandi-db-77" not in line


# user add ------------------------------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin(
    config_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert hub(config_path, "migrate") == 0
    in_database(db_url, lambda: make_area("Sungai Kunjang/Loa Bakung"))
    capsys.readouterr()

    stdin(monkeypatch, PASSWORD + "\n")
    code = hub(
        config_path,
        "user",
        "add",
        "sari",
        "--role",
        "staff",
        "--area",
        " sungai kunjang/LOA  bakung",
    )
    assert code == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "sari" in err
    assert "Sungai Kunjang/Loa Bakung" in err
    assert PASSWORD not in out + err

    async def check() -> dict[str, Any]:
        user = await User.get(username="sari")
        logged_in = await auth.check_password("sari", PASSWORD, dt.datetime.now(dt.UTC))
        return {
            "role": user.role,
            "areas": [a.path for a in await user.areas.all()],
            "login": logged_in is not None,
            "audit": await AuditLog.filter(action="user.add").values_list("target", flat=True),
        }

    assert in_database(db_url, check) == {
        "role": UserRole.STAFF,
        "areas": ["Sungai Kunjang/Loa Bakung"],
        "login": True,
        "audit": ["user:sari"],
    }


def test_user_add_generates_a_password_at_an_empty_terminal(
    config_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin(monkeypatch, "", tty=True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    assert hub(config_path, "user", "add", "admin", "--role", "admin") == 0
    err = capsys.readouterr().err
    generated = next(
        line.split(": ", 1)[1] for line in err.splitlines() if line.startswith("Generated password")
    )
    assert len(generated) >= auth.MIN_PASSWORD_LENGTH

    async def login() -> bool:
        return await auth.check_password("admin", generated, dt.datetime.now(dt.UTC)) is not None

    assert in_database(db_url, login)


@pytest.mark.parametrize(
    ("args", "password", "words"),
    [
        (["pendek", "--role", "staff"], "short\n", "password"),
        (["kosong", "--role", "staff"], "", "no password"),
        (
            ["wilayah", "--role", "staff", "--area", "Sungai Kunjang/Nowhere"],
            PASSWORD,
            "unknown area",
        ),
        (["bad name!", "--role", "staff"], PASSWORD, "username"),
        (["panjang", "--role", "staff", "--area", "x" * 600], PASSWORD, "unknown area"),
    ],
)
def test_user_add_refusals_exit_2_with_one_line(
    config_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    password: str,
    words: str,
) -> None:
    stdin(monkeypatch, password)
    assert hub(config_path, "user", "add", *args) == 2
    assert words in one_error_line(capsys)
    assert in_database(db_url, lambda: User.all().count()) == 0


def test_a_taken_username_exits_2(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, PASSWORD)
    assert hub(config_path, "user", "add", "sari", "--role", "staff") == 0
    capsys.readouterr()
    stdin(monkeypatch, PASSWORD)
    assert hub(config_path, "user", "add", "sari", "--role", "admin") == 2
    assert "taken" in one_error_line(capsys)


# token create --------------------------------------------------------------------------------


def test_token_create_prints_only_a_working_token(
    config_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin(monkeypatch, PASSWORD)
    assert hub(config_path, "user", "add", "sari", "--role", "staff") == 0
    capsys.readouterr()

    assert hub(config_path, "token", "create", "sari") == 0
    out, _ = capsys.readouterr()
    assert out.endswith("\n")
    token = out[:-1]
    assert "\n" not in token and " " not in token
    assert token.startswith(auth.TOKEN_PREFIX)

    async def owner() -> str | None:
        user = await auth.user_for_token(token, dt.datetime.now(dt.UTC))
        return user.username if user else None

    assert in_database(db_url, owner) == "sari"

    assert hub(config_path, "token", "create", "sari") == 0
    second = capsys.readouterr().out.strip()
    assert second != token
    assert in_database(db_url, owner) == "sari"


def test_token_create_for_an_unknown_user_exits_2(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config_path, "token", "create", "nobody") == 2
    assert "nobody" in one_error_line(capsys)


# Usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["launch"],
        ["user"],
        ["user", "add"],
        ["user", "add", "sari"],
        ["user", "add", "sari", "--role", "boss"],
        ["token", "create"],
        ["roster"],
        ["--config"],
    ],
)
def test_usage_errors_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    one_error_line(capsys)


def test_a_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "migrate"]) == 2
    assert "not found" in one_error_line(capsys)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    assert "check-config" in capsys.readouterr().out


def test_a_real_process_prints_one_line_for_exit_2(config_path: Path) -> None:
    """Outside pytest's log capture too: no log lines around the one line of the error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "--config",
            str(config_path),
            "user",
            "add",
            "x",
            "--role",
            "staff",
        ],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["hub: password: at least 10 characters"]


# broadcast send / status -----------------------------------------------------------------------

LOA_BAKUNG = "Sungai Kunjang/Loa Bakung"


async def _two_rt_heads() -> None:
    await make_member(f"{LOA_BAKUNG}/RT 001")
    await make_member(f"{LOA_BAKUNG}/RT 002")


def _outbox_and_deliveries() -> Callable[[], Awaitable[tuple[list[str], list[str]]]]:
    async def read() -> tuple[list[str], list[str]]:
        deliveries = await Delivery.all().order_by("id").values_list("status", flat=True)
        queued = await OutboundMessage.all().order_by("id").values_list("state", flat=True)
        return [str(s) for s in deliveries], [str(s) for s in queued]

    return read


def test_broadcast_send_writes_the_deliveries_and_prints_the_id(
    config_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config_path, "migrate") == 0
    in_database(db_url, _two_rt_heads)
    capsys.readouterr()
    code = hub(
        config_path, "broadcast", "send", "--title", "Kerja bakti", "--text", "Minggu 07.00",
        "--area", "sungai kunjang/loa bakung",
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    broadcast_id = int(out.strip())
    assert "2 penerima" in err
    deliveries, outbox = in_database(db_url, _outbox_and_deliveries())
    assert deliveries == ["pending", "pending"]
    assert outbox == ["queued", "queued"]

    assert hub(config_path, "broadcast", "status", str(broadcast_id)) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"#{broadcast_id} sending recipients=2 pending=2 sent=0")


def test_broadcast_status_follow_ends_when_nothing_is_pending(
    config_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config_path, "migrate") == 0
    in_database(db_url, _two_rt_heads)
    capsys.readouterr()
    assert hub(config_path, "broadcast", "send", "--title", "Rapat", "--text", "Rapat RT",
               "--area", LOA_BAKUNG) == 0  # fmt: skip
    broadcast_id = int(capsys.readouterr().out.strip())

    async def everything_sent() -> None:
        now = dt.datetime.now(dt.UTC)
        await Delivery.all().update(status=DeliveryStatus.SENT, sent_at=now)
        await Broadcast.filter(id=broadcast_id).update(status=BroadcastStatus.SENT)

    in_database(db_url, everything_sent)
    assert hub(config_path, "broadcast", "status", str(broadcast_id), "--follow") == 0
    out, err = capsys.readouterr()
    assert out.strip() == (
        f"#{broadcast_id} sent recipients=2 pending=0 sent=2 delivered=0 read=0 acknowledged=0 "
        "failed=0 skipped=0 cancelled=0"
    )
    assert "terkirim" in err  # the progress bars went to stderr


def test_broadcast_send_with_cron_schedules_a_series(
    config_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config_path, "migrate") == 0
    in_database(db_url, _two_rt_heads)
    capsys.readouterr()
    code = hub(
        config_path, "broadcast", "send", "--title", "Ronda", "--text", "Jadwal ronda",
        "--area", LOA_BAKUNG, "--cron", "0 8 * * 1",
    )  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    assert "(scheduled, mulai " in err

    async def series() -> tuple[str | None, int]:
        broadcast = await Broadcast.get(id=int(out.strip()))
        return broadcast.recurrence_cron, await Delivery.all().count()

    assert in_database(db_url, series) == ("0 8 * * 1", 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["send", "--title", "X", "--text", "Y"], "audience is empty"),
        (["send", "--title", "X", "--text", "Y", "--area", "Nowhere"], "unknown area"),
        (["send", "--title", "X", "--text", "Y", "--area", LOA_BAKUNG, "--at", "besok"], "--at"),
        (["send", "--title", "X", "--text-file", "/nonexistent/pengumuman.txt"], "cannot read"),
        (
            ["send", "--title", "X", "--text", "Y", "--area", LOA_BAKUNG, "--cron", "0 8 * *"],
            "5 fields",
        ),
        (["send", "--title", "X", "--text", "Y", "--group", "Panitia"], "unknown group"),
        (["status", "999"], "no broadcast with id 999"),
    ],
)
def test_broadcast_refusals_exit_2_with_one_line(
    config_path: Path,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    assert hub(config_path, "migrate") == 0
    in_database(db_url, _two_rt_heads)
    capsys.readouterr()
    assert hub(config_path, "broadcast", *args) == 2
    assert says in one_error_line(capsys)
