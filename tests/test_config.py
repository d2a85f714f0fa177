"""Configuration: defaults, `HUB_*` overrides, validation, secrets, and `hub check-config`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.cli import main
from hub.core.config import SECRET_MASK, Config, ConfigError, load_config

TOKEN = "123456789:AAH-real-looking-telegram-token"
WA_SECRETS = {
    "HUB_WHATSAPP_ACCESS_TOKEN": "EAAG-real-looking-access-token",
    "HUB_WHATSAPP_APP_SECRET": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "HUB_WHATSAPP_VERIFY_TOKEN": "verify-4f9a2c",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str = "", **environ: str) -> Config:
    return load_config(write(tmp_path, text), environ=environ)


def refused(tmp_path: Path, text: str = "", **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **environ)
    return caught.value


# Defaults ------------------------------------------------------------------------------------


def test_an_empty_file_gives_the_contract_defaults(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config == Config()
    assert config.hub.timezone == "Asia/Makassar"
    assert config.hub.language == "id"
    assert config.database.url.startswith("sqlite://")
    assert config.web.port == 8080
    assert config.telegram.enabled is False
    assert config.telegram.mode == "polling"
    assert config.telegram.api_base_url == "https://api.telegram.org"
    assert config.telegram.messages_per_second == 30
    assert config.telegram.group_messages_per_minute == 20
    assert config.telegram.paid_broadcast is False
    assert config.whatsapp.api_base_url == "https://graph.facebook.com"
    assert config.whatsapp.messages_per_second == 80
    assert config.sandbox.enabled is True
    assert config.broadcast.reminder_after_hours == 24
    assert config.broadcast.escalate_after_hours == 48
    assert config.broadcast.quiet_hours == "21:00-06:00"
    assert str(config.tz) == "Asia/Makassar"


def test_the_committed_config_toml_loads() -> None:
    config = load_config(Path(__file__).parent.parent / "config.toml", environ={})
    assert config.sandbox.enabled is True
    assert config.telegram.enabled is False


def test_a_missing_default_file_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None, environ={}) == Config()


def test_an_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="not found") as caught:
        load_config(missing, environ={})
    assert caught.value.key == str(missing)
    with pytest.raises(ConfigError, match="not found"):
        load_config(None, environ={"HUB_CONFIG": str(missing)})


def test_a_folder_instead_of_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path, environ={})


def test_hub_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[hub]\nname = "Kelurahan Loa Bakung"\n')
    assert load_config(None, environ={"HUB_CONFIG": str(path)}).hub.name == "Kelurahan Loa Bakung"


def test_values_from_the_file_are_used(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[web]\nport = 9000\n[broadcast]\nquiet_hours = ""\n[participation]\nactive_ack_rate = 1\n',
    )
    assert config.web.port == 9000
    assert config.broadcast.quiet_hours == ""
    assert config.participation.active_ack_rate == 1.0


# Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[mqtt]\nhost = 'x'\n", "mqtt", "unknown section"),
        ("[web]\nprot = 8080\n", "web.prot", "unknown key"),
        ("hub = 5\n", "hub", "table"),
        ('[web]\nport = "abc"\n', "web.port", "integer"),
        ("[web]\nport = true\n", "web.port", "integer"),
        ("[web]\nport = 70000\n", "web.port", "port"),
        ('[sandbox]\nenabled = "yes"\n', "sandbox.enabled", "true or false"),
        ("[hub]\nname = 5\n", "hub.name", "string"),
        ("[telegram]\nmessages_per_second = 0\n", "telegram.messages_per_second", "positive"),
        ('[telegram]\nmode = "push"\n', "telegram.mode", "polling"),
        ('[hub]\ntimezone = "Mars/Olympus"\n', "hub.timezone", "time zone"),
        ('[hub]\ntimezone = "Asia"\n', "hub.timezone", "time zone"),
        ('[hub]\ntimezone = ""\n', "hub.timezone", "time zone"),
        ('[hub]\nlanguage = "fr"\n', "hub.language", "'id'"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "sqlite"),
        ('[broadcast]\nquiet_hours = "21:00"\n', "broadcast.quiet_hours", "HH:MM"),
        ('[broadcast]\nquiet_hours = "25:00-06:00"\n', "broadcast.quiet_hours", "HH:MM"),
        ('[broadcast]\nquiet_hours = "21:00-21:00"\n', "broadcast.quiet_hours", "same"),
        ("[broadcast]\nescalate_after_hours = 12\n", "broadcast.escalate_after_hours", "earlier"),
        ("[archive]\nchecks_per_minute = 0\n", "archive.checks_per_minute", "at least 1"),
        ('[telegram]\ntoken = "123:abc"\n', "telegram.token", "HUB_TELEGRAM_TOKEN"),
        ('[whatsapp]\napp_secret = "s3cr3t"\n', "whatsapp.app_secret", "HUB_WHATSAPP_APP_SECRET"),
        ("not toml at all [\n", "config.toml", "TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    error = refused(tmp_path, text)
    assert error.key.endswith(key)
    assert words in str(error)


def test_telegram_enabled_needs_its_token_from_the_environment(tmp_path: Path) -> None:
    error = refused(tmp_path, "[telegram]\nenabled = true\n")
    assert error.key == "HUB_TELEGRAM_TOKEN"
    assert "HUB_TELEGRAM_TOKEN" in str(error)
    config = load(tmp_path, "[telegram]\nenabled = true\n", HUB_TELEGRAM_TOKEN=TOKEN)
    assert config.telegram.token == TOKEN


def test_telegram_webhooks_need_a_webhook_secret(tmp_path: Path) -> None:
    text = '[telegram]\nenabled = true\nmode = "webhook"\n'
    error = refused(tmp_path, text, HUB_TELEGRAM_TOKEN=TOKEN)
    assert error.key == "HUB_TELEGRAM_WEBHOOK_SECRET"


WEBHOOK_MODE = '[telegram]\nenabled = true\nmode = "webhook"\n'


@pytest.mark.parametrize(
    "secret",
    ["rahasia kelurahan 2030", "hub-secret/9b1c", "rahasia.2030", "kunci-rahasia-ü", "x" * 257],
)
def test_a_webhook_secret_telegram_would_refuse_is_refused_unprinted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    secret: str,
) -> None:
    # Telegram's secret_token: 1 to 256 characters of A-Z, a-z, 0-9, _ and -.
    error = refused(
        tmp_path, WEBHOOK_MODE, HUB_TELEGRAM_TOKEN=TOKEN, HUB_TELEGRAM_WEBHOOK_SECRET=secret
    )
    assert error.key == "HUB_TELEGRAM_WEBHOOK_SECRET"
    assert secret not in str(error)
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("HUB_TELEGRAM_WEBHOOK_SECRET", secret)
    assert main(["--config", str(write(tmp_path, WEBHOOK_MODE)), "check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert "HUB_TELEGRAM_WEBHOOK_SECRET" in err and secret not in err


@pytest.mark.parametrize("secret", ["hub-secret_9b1c-AZ", "x" * 256])
def test_a_webhook_secret_telegram_takes_is_taken(tmp_path: Path, secret: str) -> None:
    config = load(
        tmp_path, WEBHOOK_MODE, HUB_TELEGRAM_TOKEN=TOKEN, HUB_TELEGRAM_WEBHOOK_SECRET=secret
    )
    assert config.telegram.webhook_secret == secret


def test_whatsapp_enabled_needs_every_secret(tmp_path: Path) -> None:
    text = '[whatsapp]\nenabled = true\nphone_number_id = "106540352242922"\n'
    for missing in WA_SECRETS:
        others = {k: v for k, v in WA_SECRETS.items() if k != missing}
        assert refused(tmp_path, text, **others).key == missing
    assert load(tmp_path, text, **WA_SECRETS).whatsapp.enabled is True


@pytest.mark.parametrize("placeholder", ["changeme", "CHANGEME", " secret ", "<your token>", "xxx"])
def test_placeholder_secrets_are_refused(tmp_path: Path, placeholder: str) -> None:
    error = refused(tmp_path, "[telegram]\nenabled = true\n", HUB_TELEGRAM_TOKEN=placeholder)
    assert error.key == "HUB_TELEGRAM_TOKEN"
    assert "placeholder" in str(error)


def test_secrets_of_a_disabled_channel_are_not_required(tmp_path: Path) -> None:
    assert load(tmp_path, "[telegram]\nenabled = false\n").telegram.token == ""


# Environment overrides -----------------------------------------------------------------------


def test_environment_values_are_read_as_toml_where_they_parse(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[web]\nport = 8080\n",
        HUB_WEB_PORT="9000",
        HUB_SANDBOX_ENABLED="false",
        HUB_HUB_NAME='"Kelurahan Loa Bakung"',
        HUB_HUB_TIMEZONE="Asia/Jakarta",
        HUB_DATABASE_URL="postgres://hub@127.0.0.1:5432/hub",
        HUB_BROADCAST_QUIET_HOURS="22:00-05:00",
        HUB_TELEGRAM_MESSAGES_PER_SECOND="25",
        HUB_PARTICIPATION_ACTIVE_ACK_RATE="0.75",
    )
    assert config.web.port == 9000
    assert config.sandbox.enabled is False
    assert config.hub.name == "Kelurahan Loa Bakung"
    assert config.hub.timezone == "Asia/Jakarta"
    assert config.database.url == "postgres://hub@127.0.0.1:5432/hub"
    assert config.broadcast.quiet_hours == "22:00-05:00"
    assert config.telegram.messages_per_second == 25
    assert config.participation.active_ack_rate == 0.75


def test_an_empty_environment_value_is_an_empty_string(tmp_path: Path) -> None:
    assert load(tmp_path, HUB_BROADCAST_QUIET_HOURS="").broadcast.quiet_hours == ""


def test_digits_for_a_text_key_stay_text(tmp_path: Path) -> None:
    """Meta's phone number ids and phone numbers are all digits but are text keys."""
    config = load(
        tmp_path,
        HUB_WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        HUB_WHATSAPP_BUSINESS_PHONE="6281234567890",
    )
    assert config.whatsapp.phone_number_id == "106540352242922"
    assert config.whatsapp.business_phone == "6281234567890"


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("HUB_WEB_PORT", "abc", "web.port"),
        ("HUB_SANDBOX_ENABLED", "yes", "sandbox.enabled"),
        ("HUB_WEB_PROT", "9000", "HUB_WEB_PROT"),
    ],
)
def test_bad_environment_values_are_refused(tmp_path: Path, env: str, value: str, key: str) -> None:
    assert refused(tmp_path, **{env: value}).key == key


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    assert load(tmp_path, "[web]\nport = 8081\n", HUB_WEB_PORT="8082").web.port == 8082


def test_other_hub_variables_are_not_config(tmp_path: Path) -> None:
    config = load(tmp_path, HUB_TEST_POSTGRES_URL="postgres://x", HUB_CONFIG_DIR="/tmp")
    assert config == Config()


# Redaction -----------------------------------------------------------------------------------


def test_the_redacted_view_never_holds_a_secret(tmp_path: Path) -> None:
    environ = {
        "HUB_TELEGRAM_TOKEN": TOKEN,
        "HUB_TELEGRAM_WEBHOOK_SECRET": "hub-secret-9b1c",
        "HUB_DATABASE_URL": "postgres://hub:db-password-77@127.0.0.1:5432/hub",
        **WA_SECRETS,
    }
    config = load(tmp_path, '[whatsapp]\nphone_number_id = "1065"\n', **environ)
    view = config.redacted()
    flat = repr(view)
    for value in (TOKEN, "hub-secret-9b1c", "db-password-77", *WA_SECRETS.values()):
        assert value not in flat
    assert view["telegram"]["token"] == SECRET_MASK
    assert view["whatsapp"]["app_secret"] == SECRET_MASK
    assert view["database"]["url"] == f"postgres://hub:{SECRET_MASK}@127.0.0.1:5432/hub"
    assert set(view) == {
        "hub",
        "database",
        "web",
        "telegram",
        "whatsapp",
        "sandbox",
        "broadcast",
        "participation",
        "feedback",
        "archive",
    }


# hub check-config ----------------------------------------------------------------------------


def test_check_config_prints_the_configuration_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("HUB_DATABASE_URL", "postgres://hub:db-password-77@127.0.0.1/hub")
    path = write(tmp_path, "[telegram]\nenabled = true\n")
    assert main(["--config", str(path), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "[telegram]" in out
    assert "enabled = true" in out
    assert "port = 8080" in out
    assert f'token = "{SECRET_MASK}"' in out
    assert TOKEN not in out + err
    assert "db-password-77" not in out + err


@pytest.mark.parametrize(
    ("text", "environ", "words"),
    [
        ("[telegram]\nenabled = true\n", {}, "HUB_TELEGRAM_TOKEN"),
        ('[web]\nport = "abc"\n', {}, "web.port"),
        ('[hub]\ntimezone = "Asia"\n', {}, "hub.timezone"),
        ("", {"HUB_WEB_PROT": "1"}, "HUB_WEB_PROT"),
    ],
)
def test_check_config_with_a_bad_config_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    environ: dict[str, str],
    words: str,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HUB_TELEGRAM_TOKEN", raising=False)
    path = write(tmp_path, text)
    assert main(["--config", str(path), "check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hub: ")
    assert words in lines[0]
    assert "Traceback" not in err


def test_check_config_with_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "check-config"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "not found" in err


def test_a_business_phone_that_is_no_phone_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[whatsapp]\nbusiness_phone = "kantor lurah"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.key == "whatsapp.business_phone"


# [feedback] -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('categories = ["lainnya"]', "feedback.categories"),
        ('holidays = ["2026-13-01"]', "feedback.holidays"),
        ('ticket_prefixes = ["Sungai Kunjang=skj"]', "feedback.ticket_prefixes"),
        ('ticket_prefixes = ["SKJ"]', "feedback.ticket_prefixes"),
        ("verify_within_days = 0", "feedback.verify_within_days"),
        ("max_file_mb = 50", "feedback.max_file_mb"),
        ("followup_after_days = -1", "feedback.followup_after_days"),
    ],
)
def test_bad_feedback_settings_are_named(tmp_path: Path, toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[feedback]\n{toml}\n")
    assert caught.value.key == key


def test_the_committed_config_files_tickets_as_skj(tmp_path: Path) -> None:
    config = load_config(Path(__file__).parent.parent / "config.toml", {})
    assert config.feedback.ticket_prefixes == ("Sungai Kunjang=SKJ",)
    assert "drainase/banjir" in config.feedback.categories
