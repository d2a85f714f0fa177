"""The `hub` command line. Exit 0 on success, 1 on a runtime failure, 2 on usage/config errors."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from hub.core.config import Config, ConfigError, load_config
from hub.feedback.complaints.catalogue import load_catalogue

if TYPE_CHECKING:  # the channels are imported when a command needs them: `--help` stays quick
    from channels import ChannelClasses

log = logging.getLogger("hub")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Wrong arguments or input the user must fix; exit 2 with one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block; main() turns it into exit 2."""
        raise UsageError(f"{message} (see {self.prog} --help)")


# argparse names the type of add_subparsers()' result only privately.
_Commands = argparse._SubParsersAction  # type: ignore[type-arg]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hub", description="Balai Warga: pengumuman ke ketua RT lewat Telegram dan WhatsApp."
    )
    parser.add_argument(
        "--config", help="config file (default: $HUB_CONFIG, else ./config.toml)", default=None
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the hub: web, channels, scheduler and sender")
    commands.add_parser("demo", help="run the hub on a seeded demo database (sandbox channel)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    commands.add_parser("check-config", help="validate and print the configuration, secrets hidden")
    _accounts_commands(commands)
    _broadcast_commands(commands)
    _roster_commands(commands)
    return parser


def _accounts_commands(commands: _Commands) -> None:
    """`hub user add` and `hub token create`."""
    user = commands.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    add = user.add_parser("add", help="add a staff account (password from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["admin", "staff", "official"])
    add.add_argument(
        "--area",
        action="append",
        default=[],
        metavar="AREA",
        help="limit the account to this area (repeatable)",
    )

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    create = token.add_parser("create", help="print a new API token for USERNAME (shown once)")
    create.add_argument("username")


def _broadcast_commands(commands: _Commands) -> None:
    """`hub broadcast send|status`."""
    broadcast = commands.add_parser("broadcast", help="announcements").add_subparsers(
        dest="broadcast_command", required=True, metavar="ACTION"
    )
    send = broadcast.add_parser("send", help="send an announcement now (or --at a time)")
    send.add_argument("--title", required=True)
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--text")
    body.add_argument("--text-file", type=Path, help="the text from a UTF-8 file")
    send.add_argument("--area", action="append", default=[], metavar="AREA")
    send.add_argument("--member", action="append", default=[], type=int, metavar="ID")
    send.add_argument("--group", action="append", default=[], metavar="NAME", help="saved group")
    send.add_argument(
        "--at", help="ISO-8601 time, e.g. 2026-12-01T08:00 (hub.timezone if no offset)"
    )
    send.add_argument(
        "--cron",
        help='repeat on a cron schedule in hub.timezone, e.g. "0 8 * * 1" (Mondays 08:00)',
    )
    send.add_argument("--no-ack", action="store_true", help="no 'Sudah dibaca' button")
    send.add_argument("--follow", action="store_true", help="show progress until it is sent")
    status = broadcast.add_parser("status", help="the counts of broadcast ID")
    status.add_argument("id", type=int)
    status.add_argument("--follow", action="store_true", help="show progress until it is sent")


def _roster_commands(commands: _Commands) -> None:
    """`hub group code`, `hub roster import|invites`."""
    group = commands.add_parser("group", help="group chats of RT heads").add_subparsers(
        dest="group_command", required=True, metavar="ACTION"
    )
    code = group.add_parser("code", help="a one-time code that links a group chat to AREA")
    code.add_argument("area")

    roster = commands.add_parser("roster", help="the roster of RT heads").add_subparsers(
        dest="roster_command", required=True, metavar="ACTION"
    )
    imp = roster.add_parser(
        "import",
        help="import a CSV or XLSX roster (idempotent)",
        description=(
            "Import a CSV or XLSX roster. The whole file is checked first: every rejected row is "
            "reported with its line and reason, the others are imported. They are applied in "
            "batches, each its own transaction, so a running hub keeps working meanwhile. "
            "Importing the same file again changes nothing, and an import stopped part-way "
            "(a crash, Ctrl+C) is finished by importing the same file again."
        ),
    )
    imp.add_argument("file", type=Path)
    inv = roster.add_parser("invites", help="invite codes and links per member")
    inv.add_argument("--area", default=None)
    inv.add_argument("--format", choices=["csv", "json"], default="csv")
    inv.add_argument(
        "--regenerate",
        action="store_true",
        help="give the members listed new codes first: their old codes stop working",
    )


async def _with_database(config: Config, work: Callable[[], Awaitable[int]]) -> int:
    from hub.core.db import close_database, open_database

    await open_database(config.database.url)
    try:
        return await work()
    finally:
        await close_database()


def _read_password() -> str:
    if sys.stdin.isatty():
        typed = getpass.getpass("Password (empty: generate one): ")
        if typed:
            return typed
        from hub.access.auth import generate_password

        generated = generate_password()
        print(f"Generated password: {generated}", file=sys.stderr)
        return generated
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("no password on stdin")
    return password


async def _user_add(config: Config, args: argparse.Namespace) -> int:
    from hub.access import audit
    from hub.access.areas import UnknownArea, area_by_path
    from hub.access.auth import create_user
    from hub.core.errors import HubError
    from models import UserRole

    password = _read_password()
    try:
        areas = [await area_by_path(path) for path in args.area]
        user = await create_user(args.username, password, UserRole(args.role), areas)
    except UnknownArea as exc:
        raise UsageError(str(exc)) from None
    except HubError as exc:
        raise UsageError(exc.message) from None
    await audit.record(None, "user.add", f"user:{user.username}", role=args.role, areas=args.area)
    scope = ", ".join(a.path for a in areas) or "all areas"
    print(f"Created {args.role} {user.username} ({scope})", file=sys.stderr)
    return EXIT_OK


async def _token_create(config: Config, args: argparse.Namespace) -> int:
    from hub.access import audit
    from hub.access.auth import create_token
    from models import User

    user = await User.get_or_none(username=args.username)
    if user is None:
        raise UsageError(f"no user named {args.username!r}")
    token = await create_token(user)
    await audit.record(None, "token.create", f"user:{user.username}")
    print(token)
    return EXIT_OK


def _enabled_channels(config: Config) -> ChannelClasses:
    """The channels `hub run` sends on with this config (the CLI itself starts none)."""
    from channels import registered_channels

    return {
        name: cls for name, cls in registered_channels().items() if getattr(config, name).enabled
    }


async def _broadcast_send(config: Config, args: argparse.Namespace) -> int:
    import datetime as dt

    from hub.access.auth import Scope
    from hub.broadcast.service import BroadcastRequest, create_broadcast
    from hub.core.errors import HubError
    from hub.core.timeutil import utcnow

    if args.text_file is not None:
        try:
            text = args.text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {args.text_file}: {exc}") from None
    else:
        text = args.text
    try:
        send_at = dt.datetime.fromisoformat(args.at) if args.at else None
    except ValueError:
        raise UsageError(
            f"--at: expected ISO-8601 such as 2026-12-01T08:00, got {args.at!r}"
        ) from None
    try:
        broadcast = await create_broadcast(
            config,
            BroadcastRequest(
                title=args.title,
                text=text,
                areas=args.area,
                members=args.member,
                groups=args.group,
                send_at=send_at,
                recurrence=args.cron,
                ack_required=not args.no_ack,
            ),
            user=None,
            scope=await Scope.of(None),
            enabled_channels=_enabled_channels(config),
            now=utcnow(),
        )
    except HubError as exc:
        raise UsageError(exc.message) from None
    print(f"{broadcast.id}")
    when = ""
    if broadcast.send_at is not None and broadcast.status.value == "scheduled":
        local = broadcast.send_at.astimezone(config.tz)
        when = f", {'mulai ' if args.cron else ''}{local:%Y-%m-%d %H:%M}"
    print(
        f"Pengumuman #{broadcast.id} ({broadcast.status.value}{when}) untuk "
        f"{broadcast.recipients} penerima; pengiriman dilakukan oleh `hub run`.",
        file=sys.stderr,
    )
    if args.follow:
        from hub.cli.progress import follow

        await follow(broadcast.id)
    return EXIT_OK


async def _broadcast_status(config: Config, args: argparse.Namespace) -> int:
    from hub.broadcast.queries import delivery_counts
    from hub.cli.progress import counts_line, follow
    from models import Broadcast

    broadcast = await Broadcast.get_or_none(id=args.id)
    if broadcast is None:
        raise UsageError(f"no broadcast with id {args.id}")
    if args.follow:
        await follow(broadcast.id)
        await broadcast.refresh_from_db()
    print(counts_line(broadcast, await delivery_counts(broadcast.id)))
    return EXIT_OK


async def _group_code(config: Config, args: argparse.Namespace) -> int:
    from hub.access.areas import UnknownArea, area_by_path
    from hub.core.timeutil import utcnow
    from hub.roster.groups import LINK_CODE_DAYS, create_link_code

    try:
        area = await area_by_path(args.area)
    except UnknownArea as exc:
        raise UsageError(str(exc)) from None
    link = await create_link_code(area, None, utcnow())
    print(link.code)
    print(
        f"Tambahkan bot ke grup, lalu kirim di grup: {link.instruction} "
        f"(berlaku {LINK_CODE_DAYS} hari, sekali pakai) untuk {link.area}",
        file=sys.stderr,
    )
    return EXIT_OK


def _read_roster(path: Path) -> list[tuple[int, dict[str, str]]]:
    from hub.roster.roster_file import RosterFileError, read_roster_file

    try:
        return read_roster_file(path)
    except RosterFileError as exc:
        raise UsageError(str(exc)) from None


async def _roster_import(config: Config, args: argparse.Namespace) -> int:
    from hub.cli.progress import roster_progress
    from hub.roster.importer import import_rows

    applied = 0
    with roster_progress() as show:

        async def on_batch(done: int, total: int) -> None:
            nonlocal applied
            applied = done
            await show(done, total)

        try:
            report = await import_rows(args.rows, source=args.file.name, on_batch=on_batch)
        except BaseException:  # Ctrl+C too: say how to finish, then stop as usual
            print(
                f"hub: the import stopped part-way ({applied} rows done); import the same "
                "file again to finish it: rows already applied come out unchanged",
                file=sys.stderr,
            )
            raise
    print(report.summary())
    for line, reason in report.rejected:
        print(f"  line {line}: {reason}")
    return EXIT_OK


async def _roster_invites(config: Config, args: argparse.Namespace) -> int:
    from hub.access.areas import UnknownArea, area_by_path
    from hub.roster.invites import invite_rows, regenerate_invites, write_invites

    try:
        area = await area_by_path(args.area) if args.area else None
    except UnknownArea as exc:
        raise UsageError(str(exc)) from None
    if args.regenerate:
        await regenerate_invites(area)
    rows = await invite_rows(config, area)
    write_invites(rows, args.format, sys.stdout)
    return EXIT_OK


def _check_config(config: Config) -> int:
    catalogue = load_catalogue(config.feedback)  # a broken catalogue is a configuration error
    for section, values in config.redacted().items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value) if value is not None else '(auto)'}")
        print()
    source = config.feedback.catalogue or "built-in"
    print(f"# feedback catalogue ({source}): {len(catalogue.services)} services")
    return EXIT_OK


def _run(config: Config, *, demo: bool) -> int:
    from hub.app import serve

    if demo:
        from hub.demo import prepare_demo

        config, banner = asyncio.run(prepare_demo(config))
    else:
        banner = (
            f"Balai Warga berjalan di http://{config.web.host}:{config.web.port}/ "
            f"(alamat publik: {config.hub.public_url})"
        )
    asyncio.run(serve(config, demo=demo, banner=banner))
    return EXIT_OK


def _dispatch(config: Config, args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(config)
    if args.command in ("run", "demo"):
        return _run(config, demo=args.command == "demo")
    if args.command == "migrate":
        from hub.core.db import apply_migrations

        applied = asyncio.run(apply_migrations(config.database.url))
        print(f"Applied {len(applied)} migration(s)" if applied else "Database is up to date")
        return EXIT_OK
    handlers: dict[tuple[str, str], Callable[[Config, argparse.Namespace], Awaitable[int]]] = {
        ("user", "add"): _user_add,
        ("token", "create"): _token_create,
        ("group", "code"): _group_code,
        ("broadcast", "send"): _broadcast_send,
        ("broadcast", "status"): _broadcast_status,
        ("roster", "import"): _roster_import,
        ("roster", "invites"): _roster_invites,
    }
    action = getattr(args, f"{args.command}_command")
    if (args.command, action) == ("roster", "import"):
        args.rows = _read_roster(args.file)  # a file that is no roster fails before the database
    handler = handlers[(args.command, action)]
    return asyncio.run(_with_database(config, lambda: handler(config, args)))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Short commands keep stderr for their one line of outcome; the server logs what it does.
    quiet = logging.INFO if args.command in ("run", "demo") else logging.WARNING
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in (
        "tortoise",
        "aiosqlite",
        "asyncpg",
        "apscheduler.scheduler",
        "apscheduler.executors.default",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        return _dispatch(config, args)
    except (ConfigError, UsageError) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except Exception as exc:
        log.exception("failed")
        print(f"hub: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
