"""Logging through discord.utils.setup_logging, with the token scrubbed from every line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import discord

REDACTED = "[redacted]"
# discord.py's colour layout without the colour, for a file, a pipe or the journal: `grep outcome=busy` works.
PLAIN = logging.Formatter("{asctime} {levelname:<8} {name} {message}", "%Y-%m-%d %H:%M:%S", style="{")


class RedactSecrets(logging.Filter):
    """Replaces each secret in a record's message and traceback; neither discord.py nor the bard logs the
    token, and this makes sure no library's exception text can either."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text once set, so the traceback is scrubbed before any handler formats it.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True


_installed: logging.Handler | None = None


def configure_logging(level: str, secrets: Iterable[str] = ()) -> logging.Handler:
    """Log to stderr at `level` (colour on a terminal only), scrubbing `secrets`; returns the handler.

    Calling it again replaces the handler it installed before rather than adding a second one.
    """
    global _installed
    if _installed is not None:
        logging.getLogger().removeHandler(_installed)
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets(secrets))
    # discord.py also colours whatever runs in Docker; escape codes in a file or a pipe are noise.
    plain = {} if _is_terminal(handler.stream) else {"formatter": PLAIN}
    discord.utils.setup_logging(handler=handler, level=logging.getLevelName(level), root=True, **plain)
    _installed = handler
    return handler


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class OneLineReconnects(logging.Filter):
    """discord.py logs each failed gateway reconnect at ERROR with a full traceback, every few seconds of an outage;
    this makes it one WARNING line that names the error and the backoff. Other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith("Attempting a reconnect") and record.args):
            return True
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        error = record.exc_info[1] if record.exc_info else None
        why = f"{type(error).__name__}: {error}" if error is not None else "disconnected"
        shard = f" (shard {args[0]})" if len(args) > 1 else ""
        record.msg, record.args = "gateway%s lost (%s); reconnecting in %.1f s", (shard, why, args[-1])
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def one_line_reconnects() -> None:
    """Install OneLineReconnects on discord.py's client and shard loggers (once)."""
    for name in ("discord.client", "discord.shard"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineReconnects) for f in logger.filters):
            logger.addFilter(OneLineReconnects())
