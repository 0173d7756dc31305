"""Helpers for the tests that run a real discord.py bot against the fake Discord (tests/fake_discord.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from discord.ext import commands
from fake_discord import TOKEN, Call, FakeDiscord

from bot.app import BardBot
from bot.limits import MESSAGE_LIMIT
from bot.service import GenerationService
from bot.settings import Settings


def settings_for(fake: FakeDiscord, model_dir: Path, **overrides: Any) -> Settings:
    """Settings for a bot on the fake: its token and URLs, no cooldown, short monologues, the fake's owner."""
    values: dict[str, Any] = {
        "token": TOKEN,
        "model_dir": model_dir,
        "api_base_url": fake.api_base_url,
        "gateway_url": fake.gateway_url,
        "cooldown": 0,
        "length": 120,
        "owner_ids": frozenset({fake.OWNER_ID}),
    }
    return Settings(**(values | overrides))


async def start(bot: commands.Bot) -> asyncio.Task[None]:
    """Start a bot (inside `async with bot`) and wait until it is ready; a start-up error is raised here."""
    task = asyncio.create_task(bot.start(TOKEN))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()
    assert ready in done, "the bot did not become ready"
    return task


@asynccontextmanager
async def running(fake: FakeDiscord, settings: Settings, *, sync: bool = False) -> AsyncIterator[BardBot]:
    """A stand-alone BardBot on the tiny model, connected and ready; closed afterwards (its service with it)."""
    bot = BardBot(settings, sync_commands=sync, guild_ready_timeout=0.01)
    async with bot:
        task = await start(bot)
        try:
            yield bot
        finally:
            await bot.close()
            await task


class Gate:
    """Holds the service's generate_batch until released (a generation that is 'in flight')."""

    def __init__(self, service: GenerationService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        original = service.engine.generate_batch

        def held(requests: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.release.wait(10), "the test never released the gate"
            return original(requests, **kwargs)

        monkeypatch.setattr(service.engine, "generate_batch", held)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "no generation reached the engine"


class LogEvent(logging.Handler):
    """An asyncio.Event set when a record whose message starts with `prefix` is logged by `logger` (or below it)."""

    def __init__(self, logger: str, prefix: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger, self.prefix, self.event = logging.getLogger(logger), prefix, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.event.set()

    def __enter__(self) -> asyncio.Event:
        self.logger.addHandler(self)
        self._level = self.logger.level
        if not self.logger.isEnabledFor(logging.INFO):
            self.logger.setLevel(logging.INFO)
        return self.event

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)


async def ask(fake: FakeDiscord, content: str, *, user: int = 4242, channel_id: int | None = None) -> Call:
    """A user posts `content`; returns the bot's reply to it."""
    message_id = await fake.send_message(content, author_id=user, channel_id=channel_id)
    return await fake.wait_for(lambda: fake.reply_to(message_id))


def assert_safe(call: Call) -> None:
    """The reply fits in one message and pings nobody."""
    assert len(call.json["content"]) <= MESSAGE_LIMIT
    assert call.json["allowed_mentions"] == {"parse": []}


class LoopLag:
    """Measures an event loop's worst lag over a block: a ticker that sleeps `period` and notes how late it wakes.

    async with LoopLag() as lag:
        ...
    lag.worst  # seconds
    lag.worst_cpu  # seconds of the loop thread's CPU between two ticks: its own work, without a busy machine's waits

    A loaded machine delays the ticker too (the loop thread, or another holding the GIL, not scheduled): worst_cpu
    is the part of a lag that the loop's own work accounts for.
    """

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.worst = 0.0
        self.worst_cpu = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, loop.time() - before - self.period)
            self.worst_cpu = max(self.worst_cpu, time.thread_time() - cpu)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task
