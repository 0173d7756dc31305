"""BARD_* settings: environment, .env, secrets directory, and one clear error for bad values."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.main import main
from bot.settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("BARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def load(tmp_path: Path, **kwargs: object) -> Settings:
    return load_settings(env_file=tmp_path / ".env", secrets_dir=tmp_path / "secrets", **kwargs)  # type: ignore[arg-type]


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert s.token is None and s.prefix == "!" and s.temperature == 0.8 and s.length == 400
    assert s.owner_ids == frozenset() and s.allowed_channels == frozenset()
    assert s.api_base_url == "https://discord.com/api/v10" and s.gateway_url == "wss://gateway.discord.gg/"


def test_environment_values_are_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARD_TOKEN", " abc.def ")
    monkeypatch.setenv("BARD_PREFIX", "?")
    monkeypatch.setenv("BARD_TEMPERATURE", "0.5")
    monkeypatch.setenv("BARD_OWNER_IDS", "12, 34")
    monkeypatch.setenv("BARD_ALLOWED_CHANNELS", "[56]")
    monkeypatch.setenv("BARD_MESSAGE_CONTENT_INTENT", "false")
    monkeypatch.setenv("BARD_API_BASE_URL", "http://127.0.0.1:1/api/v10/")
    s = load(tmp_path)
    assert s.token is not None and s.token.get_secret_value() == "abc.def"
    assert (s.prefix, s.temperature, s.owner_ids, s.allowed_channels) == ("?", 0.5, {12, 34}, {56})
    assert s.message_content_intent is False
    assert s.api_base_url == "http://127.0.0.1:1/api/v10"  # no trailing slash: discord.py appends /paths


def test_env_file_and_secrets_dir_are_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("BARD_PREFIX=$\nBARD_LENGTH=123\nOTHER_PROGRAM=ignored\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bard_token").write_text("from-a-docker-secret\n")
    monkeypatch.setenv("BARD_LENGTH", "77")
    s = load(tmp_path)
    assert s.prefix == "$" and s.length == 77
    assert s.token is not None and s.token.get_secret_value() == "from-a-docker-secret"


def test_the_token_is_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARD_TOKEN", "sekrit-token-value")
    s = load(tmp_path)
    assert "sekrit" not in repr(s) and "sekrit" not in str(s) and "sekrit" not in str(s.model_dump())
    monkeypatch.setenv("BARD_TOKEN", "sekrit two words")
    with pytest.raises(SettingsError) as err:
        load(tmp_path)
    assert "BARD_TOKEN" in str(err.value) and "sekrit" not in str(err.value)


def test_a_blank_token_means_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARD_TOKEN", "  ")
    assert load(tmp_path).token is None


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BARD_TEMPERATURE", "5", "less than or equal to 2"),
        ("BARD_TEMPERATURE", "warm", "valid number"),
        ("BARD_LENGTH", "0", "greater than or equal to 1"),
        ("BARD_LENGTH", "5000", "less than or equal to 1500"),
        ("BARD_COOLDOWN", "-1", "greater than or equal to 0"),
        ("BARD_QUEUE_BOUND", "0", "greater than or equal to 1"),
        ("BARD_TIMEOUT", "0", "greater than 0"),
        ("BARD_PREFIX", "b d", "spaces"),
        ("BARD_OWNER_IDS", "1,x", "valid integer"),
        ("BARD_ALLOWED_CHANNELS", "-4", "positive"),
        ("BARD_API_BASE_URL", "discord.com", "http"),
        ("BARD_GATEWAY_URL", "https://gateway", "ws://"),
        ("BARD_LOG_LEVEL", "LOUD", "DEBUG"),
        ("BARD_MESSAGE_CONTENT_INTENT", "perhaps", "boolean"),
        ("BARD_TEMPERATUR", "0.5", "not a bard setting"),
        ("BARD_HEALTH_PORT", "70000", "less than or equal to 65535"),
        ("BARD_HEALTH_DEADLINE", "0", "greater than 0"),
        ("BARD_SHARD_COUNT", "0", "greater than or equal to 1"),
        ("BARD_SHARD_IDS", "0,x", "valid integer"),
    ],
)
def test_a_bad_value_is_one_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load(tmp_path)
    message = str(err.value)
    assert name in message and fragment in message and "\n" not in message


def test_several_bad_values_are_listed_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BARD_TEMPERATURE", "9")
    monkeypatch.setenv("BARD_LENGTH", "-3")
    with pytest.raises(SettingsError, match=r"BARD_TEMPERATURE.*; BARD_LENGTH|BARD_LENGTH.*; BARD_TEMPERATURE"):
        load(tmp_path)


def test_a_bad_setting_stops_start_up_with_exit_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARD_QUEUE_BOUND", "lots")
    assert main(["--console", "--secrets-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bard-bot: bad setting: BARD_QUEUE_BOUND") and "lots" in err and "\n" not in err


def test_env_example_lists_and_explains_every_setting(tmp_path: Path) -> None:
    lines = (REPO / ".env.example").read_text().splitlines()
    listed = {}
    for i, line in enumerate(lines):
        if m := re.match(r"#?\s*(BARD_[A-Z_]+)=", line):
            listed[m.group(1)] = i
            assert lines[i - 1].startswith("#") and len(lines[i - 1]) > 10, f"{m.group(1)} has no comment above it"
    assert set(listed) == {"BARD_" + name.upper() for name in Settings.model_fields}
    # As it stands (only BARD_TOKEN=, empty) it means the defaults and console mode.
    assert load_settings(env_file=REPO / ".env.example", secrets_dir=None) == load(tmp_path)
    # Every commented line is the default: uncommented, one at a time, it changes nothing.
    for name, i in listed.items():
        (tmp_path / ".env").write_text(lines[i].lstrip("# ") + "\n")
        assert load(tmp_path) == load_settings(env_file=None, secrets_dir=None), f"{name}: not its default"
    # Every example a comment gives ("E.g. VALUE"), set, is valid.
    examples = {}
    for name, i in listed.items():
        if m := re.search(r"E\.g\. (\S+)$", lines[i - 1]):
            examples[name] = m.group(1)
    assert {"BARD_OWNER_IDS", "BARD_SHARD_COUNT", "BARD_SHARD_IDS", "BARD_MODELS_DIR"} <= set(examples)
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in examples.items()))
    s = load(tmp_path)
    assert s.owner_ids == {123456789012345678, 234567890123456789} and s.token is None
    assert s.shard_count == 4 and s.shard_ids == (0, 1)


def test_env_example_and_the_docs_say_the_same_of_the_owners() -> None:
    """BARD_OWNER_IDS: who may reload, see the stats and skip the cooldown; .env.example and the README agree."""
    text = (REPO / ".env.example").read_text()
    comment = text[: text.index("# BARD_OWNER_IDS=")].rsplit("\n\n", 1)[-1]
    for power in ("`!bard reload`", "`!bard stats`", "no cooldown"):
        assert power in comment
    readme = " ".join((REPO / "README.md").read_text().split())
    owners = "owners (`BARD_OWNER_IDS`, else the application's owner)"
    assert f"{owners} may run `!bard reload` and `!bard stats` and wait no cooldown" in readme


# --------------------------------------------------------------------------- sharding, health, secrets


@pytest.mark.parametrize(
    ("count", "ids", "here"),
    [
        (None, None, ()),  # not sharded
        ("4", None, (0, 1, 2, 3)),  # every shard, in this process
        ("4", "3, 1", (1, 3)),  # some of them
        ("2", "[1]", (1,)),  # one
    ],
)
def test_shard_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str | None, here: tuple[int, ...]
) -> None:
    for name, value in (("BARD_SHARD_COUNT", count), ("BARD_SHARD_IDS", ids)):
        if value is not None:
            monkeypatch.setenv(name, value)
    s = load(tmp_path)
    assert s.shard_count == (int(count) if count else None)
    assert s.shards_here == here


@pytest.mark.parametrize(
    ("count", "ids", "message"),
    [
        (None, "0,1", "BARD_SHARD_IDS needs BARD_SHARD_COUNT"),
        ("2", "1,2", "BARD_SHARD_IDS must be below BARD_SHARD_COUNT=2"),
        ("4", "1,1", "BARD_SHARD_IDS: must not repeat a shard"),
        ("4", "-1", "BARD_SHARD_IDS: must be shard numbers from 0"),
    ],
)
def test_shard_combinations_that_cannot_work_are_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: str | None, ids: str, message: str
) -> None:
    if count is not None:
        monkeypatch.setenv("BARD_SHARD_COUNT", count)
    monkeypatch.setenv("BARD_SHARD_IDS", ids)
    with pytest.raises(SettingsError) as err:
        load(tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_secrets_come_from_files_and_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "bard_token").write_text("token-from-a-file\n")
    (secrets / "bard_log_salt").write_text("salt-from-a-file")
    monkeypatch.setenv("BARD_HEALTH_PORT", "8099")
    s = load(tmp_path)
    assert s.token is not None and s.token.get_secret_value() == "token-from-a-file"
    assert s.log_salt is not None and s.log_salt.get_secret_value() == "salt-from-a-file"
    assert s.health_port == 8099
    assert "from-a-file" not in repr(s) and "from-a-file" not in str(s.model_dump())
    monkeypatch.setenv("BARD_LOG_SALT", "  ")
    assert load(tmp_path).log_salt is None  # blank: a random key per process
