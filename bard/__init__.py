"""The bard as a Red-DiscordBot cog (`[p]load bard`); bard/cog.py says how it wraps the stand-alone bot's cog.

The bard itself (the bot and model_store packages, the bundled model) is this repository's Python package, installed
in Red's environment; Red's downloader copies only this folder (docs/red.md says how an owner installs both).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from redbot.core.bot import Red
from redbot.core.data_manager import cog_data_path
from redbot.core.errors import CogLoadError

INFO = json.loads((Path(__file__).parent / "info.json").read_text(encoding="utf-8"))
__red_end_user_data_statement__ = INFO["end_user_data_statement"]

NOT_INSTALLED = (
    "The bard's engine (this repository's Python package: bot, model_store and the bundled model) is not installed "
    "in Red's environment: {problem}. Install it with Red's pip, keeping Red's own versions (docs/red.md in the "
    "bard's repository): `python -m pip freeze --exclude bard > red-pins.txt` and "
    "`python -m pip install PATH-OR-URL-OF-THE-BARD -c red-pins.txt`, then `load bard` again."
)


async def setup(bot: Red) -> None:
    """Red's entry point: the stand-alone bot's cog, with its own service, on the model folder the owner set."""
    try:
        from bot.cog import add_bard
        from bot.database import DatabaseError
        from bot.settings import SettingsError, load_settings
        from model_store import DEFAULT_MODEL_DIR
        from model_store.store import ModelError

        from .cog import RedBardCog, bard_config
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] not in ("bot", "model_store", "numpy", "pydantic_settings"):
            raise
        raise CogLoadError(NOT_INSTALLED.format(problem=exc)) from exc
    config = bard_config()
    stored = await config.model_dir()
    try:
        # No .env and no secrets folder: in Red, Red's ways set the bard up; BARD_* variables still tune serving.
        # Each server's settings (`[p]bard set`) live in the cog's data folder, one SQLite file, as Red's own do.
        settings = load_settings(
            env_file=None,
            secrets_dir=None,
            model_dir=Path(stored) if stored else DEFAULT_MODEL_DIR,
            models_dir=None,
            default_model=None,
            database_url=f"sqlite:///{cog_data_path(raw_name='Bard') / 'servers.sqlite3'}",
        )
    except SettingsError as exc:
        raise CogLoadError(str(exc)) from None
    try:
        await add_bard(bot, settings, make_cog=functools.partial(RedBardCog, config=config))
    except DatabaseError as exc:
        raise CogLoadError(f"The bard's settings database cannot be opened: {exc}") from None
    except ModelError as exc:
        if not stored:
            raise CogLoadError(f"The bard's bundled model cannot be served: {exc}") from None
        await config.model_dir.clear()  # so that the next load serves the bundled model: the owner is told here
        raise CogLoadError(
            f"The bard's model folder {stored} cannot be served ({exc}). It is forgotten: `load bard` again serves "
            "the bundled model, and `bardset model PATH` sets a folder again."
        ) from None
