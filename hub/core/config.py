"""Typed configuration: `config.toml` plus `HUB_<SECTION>_<KEY>` overrides, validated at start."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import re
import tomllib
import types
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from hub.core.phone import InvalidPhone, normalize_phone
from hub.core.timeutil import parse_quiet_hours

DEFAULT_CONFIG_PATH = Path("config.toml")
SECRET_MASK = "********"
MAX_ATTACHMENT_MB = 50  # the smallest upload ceiling of the platforms (Telegram's Bot API)

# What Telegram takes as a webhook's secret_token; setWebhook refuses anything else.
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

# Values that look like someone copied an example instead of setting a real secret.
_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "token", "xxx", "todo", "your-token-here"}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def secret(default: str = "") -> Any:
    """A field whose value comes only from the environment and is never printed."""
    return field(default=default, metadata={"secret": True})


@dataclass(frozen=True)
class HubSection:
    name: str = "Balai Warga"
    timezone: str = "Asia/Makassar"
    language: str = "id"
    public_url: str = "http://127.0.0.1:8080"
    data_dir: str = "data"
    # Only one process of a deployment runs the scheduler (see docs/deployment.md).
    run_scheduler: bool = True


@dataclass(frozen=True)
class DatabaseSection:
    url: str = "sqlite://data/hub.sqlite3"


@dataclass(frozen=True)
class WebSection:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_kb: int = 1024
    session_hours: int = 12
    # Secure cookies need https; defaults to true when hub.public_url starts with https.
    secure_cookies: bool | None = None
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client: the login
    # throttle counts per client address. Empty: the peer's own address is the client's.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class TelegramSection:
    enabled: bool = False
    mode: str = "polling"
    api_base_url: str = "https://api.telegram.org"
    bot_username: str = ""
    messages_per_second: int = 30
    group_messages_per_minute: int = 20
    paid_broadcast: bool = False
    token: str = secret()
    webhook_secret: str = secret()


@dataclass(frozen=True)
class WhatsAppSection:
    enabled: bool = False
    api_base_url: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    phone_number_id: str = ""
    business_phone: str = ""
    messages_per_second: int = 80
    broadcast_template: str = "pengumuman_baru"
    reminder_template: str = "pengingat_pengumuman"
    call_list_template: str = "daftar_telepon"
    ticket_template: str = "kabar_aduan"  # a ticket moved (status, question after it was solved)
    poll_template: str = "jajak_pendapat"  # a poll, and its result
    reply_template: str = "balasan_petugas"  # staff answered from the inbox
    report_template: str = "laporan_partisipasi"  # the weekly participation summary to officials
    template_language: str = "id"
    access_token: str = secret()
    app_secret: str = secret()
    verify_token: str = secret()


@dataclass(frozen=True)
class SandboxSection:
    enabled: bool = True
    messages_per_second: int = 200
    # Messages kept per simulated phone; older ones are forgotten.
    history_per_member: int = 200


@dataclass(frozen=True)
class BroadcastSection:
    reminder_after_hours: int = 24  # 0: no reminders
    escalate_after_hours: int = 48  # 0: no call lists to RW heads and staff
    quiet_hours: str = "21:00-06:00"
    # A scheduled send found more than this late (the hub was down) is marked missed, not sent;
    # time held by quiet hours does not count. 0 sends however late.
    overdue_grace_minutes: int = 120
    max_text_length: int = 4096
    max_attempts: int = 8
    # How long a sender's claim on queued messages holds: after a crash they wait this long
    # before another sender (or the restarted one) sends them.
    claim_lease_seconds: int = 120
    # Where uploaded attachments are stored ("": <hub.data_dir>/media), and the largest file taken.
    media_dir: str = ""
    max_attachment_mb: int = 10


@dataclass(frozen=True)
class ParticipationSection:
    active_ack_rate: float = 0.6  # an RT head at or above it is "active", below "passive"
    # Nothing got through to an RT head for this many days (every delivery failed): "unreachable".
    unreachable_after_days: int = 30
    min_broadcasts: int = 3  # fewer in the period: no level ("belum cukup data")
    period_days: int = 30  # the period shown when none is asked for, ending today


@dataclass(frozen=True)
class ArchiveSection:
    # Checks of a code or a pasted text (the public /cek page, the verify API) one client address
    # may make at once; then one more every 60/checks_per_minute seconds.
    checks_per_minute: int = 10


# Complaint categories, in the order of the numbered list RT heads choose from.
DEFAULT_CATEGORIES = (
    "kebersihan/sampah",
    "drainase/banjir",
    "jalan",
    "penerangan jalan",
    "keamanan/ketertiban",
    "administrasi kependudukan",
    "lainnya",
)

# Public holidays and joint leave days (cuti bersama) of 2026 as the joint ministerial decree
# (SKB 3 Menteri) lists them: no working days for SLAs. Check the list each year.
HOLIDAYS_2026 = (
    "2026-01-01",
    "2026-01-16",
    "2026-02-16",
    "2026-02-17",
    "2026-03-18",
    "2026-03-19",
    "2026-03-20",
    "2026-03-21",
    "2026-03-23",
    "2026-03-24",
    "2026-04-03",
    "2026-05-01",
    "2026-05-14",
    "2026-05-15",
    "2026-05-27",
    "2026-05-28",
    "2026-06-01",
    "2026-06-16",
    "2026-08-17",
    "2026-08-25",
    "2026-12-24",
    "2026-12-25",
)


@dataclass(frozen=True)
class FeedbackSection:
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    # A TOML file with the service catalogue (each service's requirements and SLA) and SLAs per
    # category; "" uses the built-in one (hub/feedback/catalogue.toml).
    catalogue: str = ""
    verify_within_days: int = 3  # working days to verify a new ticket, as LAPOR! does
    resolve_within_days: int = 14  # working days from verification to done, unless the
    # catalogue says otherwise for the category or service
    holidays: tuple[str, ...] = HOLIDAYS_2026  # ISO dates (WITA) that are no working days
    # "KECAMATAN=PREFIX" pairs for ticket numbers (SKJ-2026-000123); a kecamatan not listed
    # gets the initials of its name.
    ticket_prefixes: tuple[str, ...] = ()
    complaints_per_hour: int = 5  # tickets one member may file in an hour
    followup_after_days: int = 3  # days after "selesai" to ask whether it held; 0: never
    dialog_timeout_minutes: int = 30  # a complaint left unfinished this long is dropped politely
    max_description_chars: int = 2000
    max_file_mb: int = 16  # the largest photo, voice note or document taken from an RT head
    max_files: int = 5  # files per ticket
    max_distance_km: float = 10.0  # a location further than this from the RT's area is asked about


@dataclass(frozen=True)
class Config:
    hub: HubSection = field(default_factory=HubSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    web: WebSection = field(default_factory=WebSection)
    telegram: TelegramSection = field(default_factory=TelegramSection)
    whatsapp: WhatsAppSection = field(default_factory=WhatsAppSection)
    sandbox: SandboxSection = field(default_factory=SandboxSection)
    broadcast: BroadcastSection = field(default_factory=BroadcastSection)
    participation: ParticipationSection = field(default_factory=ParticipationSection)
    feedback: FeedbackSection = field(default_factory=FeedbackSection)
    archive: ArchiveSection = field(default_factory=ArchiveSection)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.hub.timezone)

    @property
    def cookies_secure(self) -> bool:
        if self.web.secure_cookies is not None:
            return self.web.secure_cookies
        return self.hub.public_url.startswith("https://")

    def replace(self, section: str, **values: Any) -> Config:
        """A copy with some keys of one section changed (used by `hub demo` and tests)."""
        new_section = dataclasses.replace(getattr(self, section), **values)
        return dataclasses.replace(self, **{section: new_section})

    def redacted(self) -> dict[str, dict[str, Any]]:
        """The effective configuration as plain data, secrets masked."""
        out: dict[str, dict[str, Any]] = {}
        for section_field in fields(self):
            section = getattr(self, section_field.name)
            values: dict[str, Any] = {}
            for f in fields(section):
                value = getattr(section, f.name)
                if f.metadata.get("secret"):
                    value = SECRET_MASK if value else "(not set)"
                values[f.name] = value
            out[section_field.name] = values
        out["database"]["url"] = redact_url(self.database.url)
        return out


def redact_url(url: str) -> str:
    """Hide the password of a database URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{SECRET_MASK}@{host}" if ":" in userinfo else url


def _sections() -> dict[str, type]:
    hints = get_type_hints(Config)
    return {f.name: hints[f.name] for f in fields(Config)}


def _secret_env_names() -> dict[str, tuple[str, str]]:
    """`HUB_TELEGRAM_TOKEN` → ("telegram", "token"), for every secret field."""
    names = {}
    for section_name, section_cls in _sections().items():
        for f in fields(section_cls):
            if f.metadata.get("secret"):
                names[f"HUB_{section_name}_{f.name}".upper()] = (section_name, f.name)
    return names


def _parse_env_value(raw: str) -> Any:
    """Read an environment value as TOML where it parses as one, else as a plain string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check a value against a field's type (`int`, `float`, `str`, `bool`, `bool | None`,
    `tuple[str, ...]` from a list of strings)."""
    if get_origin(annotation) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(key, f"expected a list of strings, got {value!r}")
    optional = isinstance(annotation, types.UnionType)
    expected = (
        next(t for t in get_args(annotation) if t is not type(None)) if optional else annotation
    )
    if optional and value is None:
        return None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ConfigError(key, f"expected {names[expected]}, got {value!r}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load, override from the environment and validate; raises ConfigError naming the key."""
    environ = os.environ if environ is None else environ
    explicit = path is not None or "HUB_CONFIG" in environ
    config_path = Path(path or environ.get("HUB_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(str(config_path), f"not valid TOML: {exc}") from None
        except OSError as exc:  # a folder, or not readable
            raise ConfigError(str(config_path), f"cannot read: {exc.strerror}") from None
    elif explicit:
        raise ConfigError(str(config_path), "configuration file not found")

    sections = _sections()
    secret_envs = _secret_env_names()
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}

    for section_name, section_data in data.items():
        if section_name not in sections:
            raise ConfigError(section_name, "unknown section")
        if not isinstance(section_data, dict):
            raise ConfigError(section_name, "expected a [section] table")
        known = {f.name: f for f in fields(sections[section_name])}
        for key, value in section_data.items():
            dotted = f"{section_name}.{key}"
            if key not in known:
                raise ConfigError(dotted, "unknown key")
            if known[key].metadata.get("secret"):
                env = f"HUB_{section_name}_{key}".upper()
                raise ConfigError(dotted, f"secrets are read only from the environment ({env})")
            values[section_name][key] = value

    for env_name, raw in environ.items():
        if not env_name.startswith("HUB_") or env_name == "HUB_CONFIG":
            continue
        if env_name in secret_envs:
            section_name, key = secret_envs[env_name]
            values[section_name][key] = raw
            continue
        section_name, _, key = env_name[4:].lower().partition("_")
        if section_name not in sections:
            continue  # other HUB_* variables (e.g. HUB_TEST_POSTGRES_URL) are not ours
        known = {f.name: f for f in fields(sections[section_name])}
        if key not in known or known[key].metadata.get("secret"):
            raise ConfigError(env_name, f"unknown key {key!r} in section [{section_name}]")
        value = _parse_env_value(raw)
        if get_type_hints(sections[section_name])[key] is str and not isinstance(value, str):
            value = raw  # digits such as whatsapp.phone_number_id are text, not a number
        values[section_name][key] = value

    built = {}
    for section_name, section_cls in sections.items():
        hints = get_type_hints(section_cls)
        coerced = {
            key: _coerce(f"{section_name}.{key}", value, hints[key])
            for key, value in values[section_name].items()
        }
        built[section_name] = section_cls(**coerced)
    config = Config(**built)
    validate(config)
    return config


def _check_secret(config: Config, section: str, key: str) -> None:
    value = getattr(getattr(config, section), key)
    env = f"HUB_{section}_{key}".upper()
    if not value:
        raise ConfigError(env, f"required while [{section}] is enabled; set it in the environment")
    if value.strip().lower() in _PLACEHOLDERS or value.startswith("<"):
        raise ConfigError(env, "looks like a placeholder; set the real secret")


def validate(config: Config) -> None:  # long: a flat list of checks, one per key, in order
    """Cross-field checks that types alone cannot express."""
    try:
        zoneinfo.ZoneInfo(config.hub.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder
        raise ConfigError("hub.timezone", f"unknown time zone {config.hub.timezone!r}") from None
    if config.hub.language not in ("id", "en"):
        raise ConfigError("hub.language", "expected 'id' or 'en'")
    if not config.hub.public_url.startswith(("http://", "https://")):
        raise ConfigError("hub.public_url", "expected an http:// or https:// URL")
    if not config.database.url.startswith(("sqlite://", "postgres://", "postgresql://")):
        raise ConfigError("database.url", "expected a sqlite:// or postgres:// URL")
    if not 0 < config.web.port < 65536:
        raise ConfigError("web.port", "expected a port number between 1 and 65535")
    if config.web.max_body_kb < 1:
        raise ConfigError("web.max_body_kb", "expected a positive size in KiB")
    for proxy in config.web.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                "web.trusted_proxies", f"{proxy!r} is not an IP address or network"
            ) from None
    for key in ("messages_per_second", "group_messages_per_minute"):
        if getattr(config.telegram, key) < 1:
            raise ConfigError(f"telegram.{key}", "expected a positive number")
    if config.whatsapp.messages_per_second < 1:
        raise ConfigError("whatsapp.messages_per_second", "expected a positive number")
    if config.sandbox.messages_per_second < 1:
        raise ConfigError("sandbox.messages_per_second", "expected a positive number")
    if config.archive.checks_per_minute < 1:
        raise ConfigError("archive.checks_per_minute", "expected at least 1")
    if config.telegram.mode not in ("polling", "webhook"):
        raise ConfigError("telegram.mode", "expected 'polling' or 'webhook'")
    if config.telegram.enabled:
        _check_secret(config, "telegram", "token")
        if config.telegram.mode == "webhook":
            _check_secret(config, "telegram", "webhook_secret")
    secret_token = config.telegram.webhook_secret
    if secret_token and not TELEGRAM_SECRET.fullmatch(secret_token):
        # Named by its key, never shown: a secret stays one even when it is wrong.
        why = f"{len(secret_token)} characters" if len(secret_token) > 256 else "other characters"
        raise ConfigError(
            "HUB_TELEGRAM_WEBHOOK_SECRET",
            f"Telegram takes 1 to 256 characters of A-Z, a-z, 0-9, _ and - (this one has {why})",
        )
    if config.whatsapp.business_phone:
        try:
            normalize_phone(config.whatsapp.business_phone)
        except InvalidPhone as exc:
            raise ConfigError("whatsapp.business_phone", str(exc)) from None
    if config.whatsapp.enabled:
        if not config.whatsapp.phone_number_id:
            raise ConfigError("whatsapp.phone_number_id", "required while [whatsapp] is enabled")
        for key in ("access_token", "app_secret", "verify_token"):
            _check_secret(config, "whatsapp", key)
    b = config.broadcast
    # 0 turns reminders (or escalation) off.
    for key in ("reminder_after_hours", "escalate_after_hours"):
        if getattr(b, key) < 0:
            raise ConfigError(f"broadcast.{key}", "expected 0 (off) or a number of hours")
    if b.reminder_after_hours and 0 < b.escalate_after_hours < b.reminder_after_hours:
        raise ConfigError(
            "broadcast.escalate_after_hours", "must not be earlier than reminder_after_hours"
        )
    if b.quiet_hours:
        try:
            parse_quiet_hours(b.quiet_hours)
        except ValueError as exc:
            raise ConfigError("broadcast.quiet_hours", str(exc)) from None
    if not 1 <= b.max_text_length <= 4096:
        raise ConfigError("broadcast.max_text_length", "expected 1 to 4096 characters")
    if b.max_attempts < 1:
        raise ConfigError("broadcast.max_attempts", "expected at least 1")
    if b.claim_lease_seconds < 1:
        raise ConfigError("broadcast.claim_lease_seconds", "expected at least 1 second")
    if not 1 <= b.max_attachment_mb <= MAX_ATTACHMENT_MB:
        # Telegram bots upload at most 50 MB: a larger file could not go out on every channel.
        raise ConfigError("broadcast.max_attachment_mb", f"expected 1 to {MAX_ATTACHMENT_MB} (MB)")
    _validate_participation(config.participation)
    _validate_feedback(config.feedback)


def _validate_participation(p: ParticipationSection) -> None:
    if not 0 <= p.active_ack_rate <= 1:
        raise ConfigError("participation.active_ack_rate", "expected a rate between 0 and 1")
    for key in ("unreachable_after_days", "min_broadcasts", "period_days"):
        if getattr(p, key) < 1:
            raise ConfigError(f"participation.{key}", "expected a whole number of at least 1")


def _validate_feedback(f: FeedbackSection) -> None:
    if not 2 <= len(f.categories) <= 20 or any(not c.strip() for c in f.categories):
        raise ConfigError("feedback.categories", "expected 2 to 20 category names")
    for key in ("verify_within_days", "resolve_within_days", "complaints_per_hour"):
        if getattr(f, key) < 1:
            raise ConfigError(f"feedback.{key}", "expected at least 1")
    for day in f.holidays:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise ConfigError("feedback.holidays", f"{day!r} is not a date (YYYY-MM-DD)") from None
    for pair in f.ticket_prefixes:
        name, sep, prefix = pair.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"[A-Z]{2,8}", prefix.strip()):
            raise ConfigError(
                "feedback.ticket_prefixes",
                f"{pair!r}: expected KECAMATAN=PREFIX, the prefix 2 to 8 capital letters",
            )
    if f.followup_after_days < 0:
        raise ConfigError("feedback.followup_after_days", "expected 0 (never) or a number of days")
    if not 1 <= f.dialog_timeout_minutes <= 24 * 60:
        raise ConfigError("feedback.dialog_timeout_minutes", "expected 1 to 1440 minutes")
    if not 10 <= f.max_description_chars <= 10_000:
        raise ConfigError("feedback.max_description_chars", "expected 10 to 10000 characters")
    if not 1 <= f.max_file_mb <= 20:
        # Telegram lets a bot download at most 20 MB.
        raise ConfigError("feedback.max_file_mb", "expected 1 to 20 (MB)")
    if not 0 <= f.max_files <= 10:
        raise ConfigError("feedback.max_files", "expected 0 to 10")
    if f.max_distance_km <= 0:
        raise ConfigError("feedback.max_distance_km", "expected a positive distance")
