"""What a bard command asks for, as fields (Request), who asks (Caller), and the indicator shown while it is
written. Built once from a command's parts (bot/bard.py reads any free text); nothing here is parsed again."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from bot.options import Options

log = logging.getLogger(__name__)

# What the transport shows while a generation runs (Discord: the typing indicator).
IndicatorFactory = Callable[[], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Caller:
    """Who asks, and how the transport shows that the bard is at work."""

    author_id: int
    prefix: str  # the command prefix the replies name (`!bard help`; "/" for slash commands and buttons)
    is_owner: bool = False
    while_generating: IndicatorFactory | None = None
    server_id: int | None = (
        None  # whose settings apply (bot/server_settings.py); None: the host's (a DM, a user install)
    )


@dataclass(frozen=True)
class Request:
    """One generation the bard is asked for, as fields: nothing in it is text to be parsed again."""

    options: Options  # the model, the sampling and the form; options.seed is the speech (without its speaker)
    speaker: str | None = None  # who speaks, a name as typed or read; None: the model chooses
    history: str = ""  # the exchange before this speech, in play-script form
    goes_on: bool = False  # a continuation: the reply shows only the new text
    note: str = ""  # a line of small print for the reply (the context menu's "from a message by ...")


@contextlib.asynccontextmanager
async def showing(factory: IndicatorFactory | None) -> AsyncIterator[None]:
    """Show the indicator around the body; an indicator that fails (no permission, network) is only logged."""
    manager = None
    if factory is not None:
        try:
            manager = factory()
            await manager.__aenter__()
        except Exception:
            log.warning("could not show the typing indicator", exc_info=True)
            manager = None
    try:
        yield
    finally:
        if manager is not None:
            try:
                await manager.__aexit__(None, None, None)
            except Exception:
                log.warning("could not stop the typing indicator", exc_info=True)
