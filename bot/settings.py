"""The bot's settings: BARD_* from the environment, a .env file and a secrets directory.

Built once, in main (or in the extension's setup for a host bot), and passed down; nothing
else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.limits import MAX_LENGTH
from model_store import DEFAULT_MODEL_DIR
from model_store.limits import DEFAULT_TOPIC, MAX_TEMPERATURE, MAX_TOPIC

ENV_PREFIX = "BARD_"
DEFAULT_ENV_FILE = Path(".env")
DEFAULT_SECRETS_DIR = Path("/run/secrets")  # where Docker mounts secrets

DEFAULT_DATABASE_URL = "sqlite:///bard.sqlite3"  # relative: in the bot's working directory (/data in the image)

IdSet = Annotated[frozenset[int], NoDecode]  # "1,2,3" in the environment, not JSON
ShardIds = Annotated[tuple[int, ...], NoDecode]  # "0,1"; a tuple, not a set, so that a repeat is caught


class Settings(BaseSettings):
    """Every setting of the bot; each field is read from BARD_<NAME>."""

    # extra="ignore": a .env may hold other programs' variables; misspelt BARD_* names are caught in load_settings.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, validate_default=True, extra="ignore")

    token: SecretStr | None = None
    model_dir: Path = DEFAULT_MODEL_DIR
    models_dir: Path | None = None  # a folder of models, all served by name (then model_dir is not used)
    default_model: str | None = Field(None, min_length=1)  # in models_dir: served when none is named
    prefix: str = Field("!", min_length=1, max_length=10)
    temperature: float = Field(0.8, ge=0, le=MAX_TEMPERATURE, allow_inf_nan=False)
    length: int = Field(400, ge=1, le=MAX_LENGTH)
    monologue: bool = True  # one speech by one speaker in real words; false: free text (`--free` per command)
    verse: bool = True  # a monologue in blank verse (iambic pentameter); false: prose (`--prose` per command)
    couplet: bool = True  # a verse monologue closes on a rhyming couplet; false: not (`--no-couplet` per command)
    seed_speaker: bool = True  # with nobody named, the seed chooses who speaks; false: the model's odds alone
    topic: float = Field(DEFAULT_TOPIC, ge=0, le=MAX_TOPIC, allow_inf_nan=False)  # keeping to the seed's subject
    components: bool = True  # buttons (Continue, Another, Answer) under each monologue; false: plain replies
    cooldown: float = Field(10.0, ge=0, le=3600, allow_inf_nan=False)
    clean: bool = False  # clean mode for servers that have not chosen (bot/server_settings.py)
    database_url: str = Field(DEFAULT_DATABASE_URL, min_length=1)  # each server's settings: sqlite:/// or postgresql://
    queue_bound: int = Field(1000, ge=1, le=10_000)  # a hard cap on requests waiting; max_wait usually decides first
    max_wait: float = Field(
        20.0, gt=0, le=3600, allow_inf_nan=False
    )  # seconds: admit a request whose reply is this near
    max_batch: int = Field(32, ge=1, le=256)
    timeout: float = Field(60.0, gt=0, le=3600, allow_inf_nan=False)
    shutdown_grace: float = Field(8.0, ge=0, le=600, allow_inf_nan=False)
    owner_ids: IdSet = frozenset()
    allowed_channels: IdSet = frozenset()
    message_content_intent: bool = True
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    log_level: str = "INFO"
    log_salt: SecretStr | None = None  # keys the user-id hashes in the logs; None: a random key per process
    health_port: int = Field(0, ge=0, le=65535)  # loopback health endpoint; 0: off
    health_deadline: float = Field(10.0, gt=0, le=300, allow_inf_nan=False)
    shard_count: int | None = Field(None, ge=1, le=10_000)
    shard_ids: ShardIds = ()

    @field_validator("token", "log_salt", "shard_count", "models_dir", "default_model", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # BARD_TOKEN= (as in .env.example) means "no token": console mode; likewise for the other optional ones.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("model_dir", mode="before")
    @classmethod
    def _blank_is_the_bundled_model(cls, value: Any) -> Any:
        return DEFAULT_MODEL_DIR if isinstance(value, str) and not value.strip() else value

    @field_validator("token")
    @classmethod
    def _token_is_one_word(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(c.isspace() for c in value.get_secret_value().strip()):
            raise ValueError("must be a single word (the bot token from the Developer Portal, without 'Bot ')")
        return None if value is None else SecretStr(value.get_secret_value().strip())

    @field_validator("prefix")
    @classmethod
    def _prefix_has_no_space(cls, value: str) -> str:
        if any(c.isspace() or c == "`" for c in value):
            raise ValueError("must not contain spaces or backticks")
        return value

    @field_validator("owner_ids", "allowed_channels", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.strip().strip("[]").split(",")]
            return [p for p in parts if p]
        return value

    @field_validator("owner_ids", "allowed_channels")
    @classmethod
    def _ids_are_snowflakes(cls, value: frozenset[int]) -> frozenset[int]:
        if any(i <= 0 for i in value):
            raise ValueError("must be positive Discord ids")
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_are_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(i < 0 for i in value):
            raise ValueError("must be shard numbers from 0")
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a shard")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _default_model_needs_a_folder(self) -> Settings:
        if self.default_model is not None and self.models_dir is None:
            raise ValueError("BARD_DEFAULT_MODEL needs BARD_MODELS_DIR (the folder of models it names one of)")
        return self

    @model_validator(mode="after")
    def _shards_fit_the_count(self) -> Settings:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("BARD_SHARD_IDS needs BARD_SHARD_COUNT (the total number of shards, over all processes)")
        if self.shard_count is not None and any(i >= self.shard_count for i in self.shard_ids):
            raise ValueError(
                f"BARD_SHARD_IDS must be below BARD_SHARD_COUNT={self.shard_count} (shards are numbered from 0)"
            )
        return self

    @property
    def shards_here(self) -> tuple[int, ...]:
        """The shards this process runs: BARD_SHARD_IDS, else all BARD_SHARD_COUNT, else () (no sharding)."""
        if self.shard_count is None:
            return ()
        return self.shard_ids or tuple(range(self.shard_count))

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")  # discord.py appends paths that start with '/'

    @field_validator("gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class SettingsError(Exception):
    """Settings that cannot be used; the message names every bad setting and never shows a secret."""


def load_settings(
    *,
    env_file: Path | None = DEFAULT_ENV_FILE,
    secrets_dir: Path | None = DEFAULT_SECRETS_DIR,
    **overrides: Any,
) -> Settings:
    """Read the settings (overrides > environment > .env > secrets dir > defaults); misspelt BARD_* names fail."""
    # pydantic-settings warns about a missing secrets directory; outside Docker there is none.
    secrets = secrets_dir if secrets_dir is not None and secrets_dir.is_dir() else None
    env = env_file if env_file is not None and env_file.is_file() else None
    file_keys = list(dotenv_values(env)) if env is not None else []
    unknown = sorted(
        {k.upper() for k in [*os.environ, *file_keys] if k.upper().startswith(ENV_PREFIX)}
        - {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    )
    if unknown:
        raise SettingsError(f"bad setting: {', '.join(unknown)}: not a bard setting (misspelt?); see .env.example")
    try:
        return Settings(_env_file=env, _secrets_dir=secrets, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """One line per bad setting, named as the user sets it (BARD_TEMPERATURE), secrets not echoed."""
    lines = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a rule across settings: its message names them
            lines.append(message)
            continue
        field = str(err["loc"][0])
        if field not in ("token", "log_salt") and "input" in err and isinstance(err["input"], str | int | float):
            message += f" (got {str(err['input'])[:60]!r})"
        lines.append(f"{ENV_PREFIX + field.upper()}: {message}")
    return "bad setting: " + "; ".join(lines)
