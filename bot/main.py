"""bard-bot: the composition root. Settings and logging are set up here, once, then handed to the console
(serve_console) or the Discord bot (run_bot: BardBot), each of which opens the model's service and closes it.
Nothing heavy is imported: the serving path is numpy only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot import health_client
from bot.settings import DEFAULT_ENV_FILE, DEFAULT_SECRETS_DIR, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.app import BardBot, ShardedBardBot

# The bot's own modules (discord.py, aiohttp, numpy) are imported where they are needed, not here: a container
# runs `bard-bot --health` every 30 s, and it needs none of them (0.4 s instead of 0.8 s, half the memory).

log = logging.getLogger("bot")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CLOSE_SECONDS = 2.0  # after BARD_SHUTDOWN_GRACE, for the service and the gateway to close: 10 s in all by default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bard-bot",
        description="A Discord bot that writes Shakespearean monologues: `!bard To be` in a channel. "
        "Without a token (BARD_TOKEN) it runs in console mode.",
        epilog="Settings are BARD_* environment variables, also read from the .env file and the secrets "
        "directory; .env.example lists them all.",
    )
    parser.add_argument(
        "--console", action="store_true", help="answer bard commands typed on stdin instead of connecting to Discord"
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="register the slash commands with Discord at start-up (needed once, and after they change)",
    )
    parser.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: BARD_MODEL_DIR)")
    parser.add_argument(
        "--env-file", type=Path, default=DEFAULT_ENV_FILE, metavar="FILE", help="dotenv file (default: %(default)s)"
    )
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=DEFAULT_SECRETS_DIR,
        metavar="DIR",
        help="directory of secret files such as bard_token, as Docker mounts them (default: %(default)s)",
    )
    parser.add_argument(
        "--health",
        action="store_true",
        help="ask the running bot whether it is healthy (its endpoint on 127.0.0.1:BARD_HEALTH_PORT), print why, "
        "and exit 0 (healthy) or 1 (not): the container's health check",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"model_dir": args.model} if args.model is not None else {}
    try:
        settings = load_settings(env_file=args.env_file, secrets_dir=args.secrets_dir, **overrides)
    except SettingsError as exc:
        print(f"bard-bot: {exc}", file=sys.stderr)
        return EXIT_FAILED if args.health else EXIT_USAGE  # a health check answers 0 or 1 only (2 is Docker's)
    if args.health:
        return check_health(settings)

    from bot.console import serve_console
    from bot.database import DatabaseError
    from bot.logs import configure_logging
    from model_store.store import ModelError

    console = args.console or settings.token is None
    if args.sync and console:
        print("bard-bot: --sync needs Discord: set BARD_TOKEN and leave out --console", file=sys.stderr)
        return EXIT_USAGE
    # The console's replies go to stdout: the request lines would come between them, unless asked for.
    quiet = console and "log_level" not in settings.model_fields_set
    level = "WARNING" if quiet else settings.log_level
    configure_logging(level, [settings.token.get_secret_value()] if settings.token else [])
    if console and not args.console:
        print(
            "bard-bot: no BARD_TOKEN configured, so running in console mode"
            ' (see README.md, "Running the bot on Discord")',
            file=sys.stderr,
        )

    try:  # each opens the service (loading the model before anything is served) and closes it
        return asyncio.run(serve_console(settings) if console else run_bot(settings, sync=args.sync))
    except ModelError as exc:
        print(f"bard-bot: cannot load the model: {exc} ({where_models_come_from(settings)})", file=sys.stderr)
        return EXIT_FAILED
    except DatabaseError as exc:  # a database that cannot be opened is a setting to fix, as a bad BARD_* is
        print(f"bard-bot: {exc} (set BARD_DATABASE_URL)", file=sys.stderr)
        return EXIT_USAGE


def where_models_come_from(settings: Settings) -> str:
    """The setting to change when the model cannot be loaded: the one that named it."""
    if settings.models_dir is not None:
        return "set BARD_MODELS_DIR to a folder of exported models, or leave it empty to serve BARD_MODEL_DIR"
    return "set BARD_MODEL_DIR or pass --model DIR"


def check_health(settings: Settings) -> int:
    """`bard-bot --health`: one line on stdout, exit 0 when the running bot says it is healthy, else 1."""
    if not settings.health_port:
        print("unhealthy: the health endpoint is off (set BARD_HEALTH_PORT, for the bot and for this check)")
        return EXIT_FAILED
    healthy, reason = health_client.query(settings.health_port, timeout=settings.health_deadline + 5)
    print(reason)
    return EXIT_OK if healthy else EXIT_FAILED


async def run_bot(settings: Settings, *, sync: bool = False) -> int:
    """Run the bot (and its health endpoint) until SIGTERM or SIGINT, then shut down in order; returns the exit
    status. Raises store.ModelError, before connecting, when the model cannot be served."""
    from bot import health
    from bot.app import create_bot

    assert settings.token is not None
    async with create_bot(settings, sync_commands=sync) as bot:  # opens the bot's service; closing the bot closes it
        server = None
        if settings.health_port:
            check = health.HealthCheck(bot, bot.bard_service, deadline=settings.health_deadline)
            server = await health.start_server(check, settings.health_port, bot.bard_metrics)
            if server is None:
                return EXIT_FAILED
        try:
            return await _run(bot, settings)
        finally:
            if server is not None:
                await server.close()  # last: it answers 503 while the bot shuts down


async def _run(bot: BardBot | ShardedBardBot, settings: Settings) -> int:
    import aiohttp
    import discord

    from bot.logs import one_line_reconnects

    assert settings.token is not None
    one_line_reconnects()
    loop = asyncio.get_running_loop()
    connection = asyncio.create_task(bot.start(settings.token.get_secret_value()), name="bard-gateway")
    stopping: list[asyncio.Task[None]] = []

    def on_signal(sig: signal.Signals) -> None:
        if stopping:
            log.info("%s: already shutting down", sig.name)
            return
        stopping.append(asyncio.create_task(_stop(bot, connection, sig.name, settings.shutdown_grace)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await connection
    except asyncio.CancelledError:
        if not (stopping and connection.cancelled()):  # the stop ended a reconnect that would never give up
            raise
    except discord.LoginFailure:
        log.error("Discord refused the token: check BARD_TOKEN (Developer Portal > your application > Bot)")
        return EXIT_FAILED
    except discord.PrivilegedIntentsRequired:
        log.error(
            "the Message Content intent is not enabled for this application: enable it in the Developer Portal "
            "(Bot > Privileged Gateway Intents) or set BARD_MESSAGE_CONTENT_INTENT=false (mentions and slash only)"
        )
        return EXIT_FAILED
    except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
        if not stopping:  # a signal that cut the connection short is a clean stop
            log.error("cannot talk to Discord at %s: %s: %s", settings.api_base_url, type(exc).__name__, exc)
            return EXIT_FAILED
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if stopping:
        await stopping[0]
    log.info("stopped")
    return EXIT_OK


async def _stop(bot: BardBot | ShardedBardBot, connection: asyncio.Task[None], reason: str, grace: float) -> None:
    """Shut the bot down within the grace and a moment to close, then end its connection task: during an outage
    discord.py would otherwise go on sleeping between reconnects (a backoff of up to minutes) before it noticed."""
    try:
        await asyncio.wait_for(bot.shutdown(reason), grace + CLOSE_SECONDS)
    except TimeoutError:
        log.warning("%s: shutdown took over %g s; stopping anyway", reason, grace + CLOSE_SECONDS)
    finally:
        connection.cancel()


if __name__ == "__main__":
    sys.exit(main())
