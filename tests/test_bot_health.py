"""The health check: the loopback endpoint's checks (gateway, model, a tiny generation) and `bard-bot --health`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from discord_helpers import Gate, LogEvent, running, settings_for
from fake_discord import TOKEN, FakeDiscord

from bot import health, health_client
from bot.app import BardBot
from bot.main import main, run_bot
from bot.service import create_service


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """No BARD_* from outside, no .env, no secrets; returns the CLI flags that keep main() to that."""
    for name in list(os.environ):
        if name.upper().startswith("BARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield ["--env-file", str(tmp_path / "no.env"), "--secrets-dir", str(tmp_path / "no-secrets")]
    root.handlers[:] = handlers  # main() may have installed a handler on the captured stderr
    root.setLevel(level)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((health.HOST, 0))
        return int(s.getsockname()[1])


async def get(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"http://{health.HOST}:{port}/health") as response:
        return response.status, await response.json()


async def test_healthy_when_ready_and_unhealthy_when_generation_hangs_or_the_bot_closes(
    fake: FakeDiscord, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        check = health.HealthCheck(bot, bot.bard_service, deadline=5)
        server = health.HealthServer(check, 0)
        await server.start()
        try:
            status, body = await get(server.port)
            assert status == 200 and body["healthy"] is True
            assert {name: c["ok"] for name, c in body["checks"].items()} == {
                "gateway": True,
                "model": True,
                "generation": True,
            }
            assert body["checks"]["model"]["detail"] == "serving tiny"
            ok, line = await asyncio.to_thread(health_client.query, server.port, 5)
            assert ok and line.startswith(
                "healthy: gateway: ready, 1 guild(s); model: serving tiny; generation: 4 chars"
            )
            assert bot.bard_service.stats()["served"] == 0  # probes are not counted as requests

            gate = Gate(bot.bard_service, monkeypatch)  # the inference thread stops answering
            check.deadline = 0.2
            status, body = await get(server.port)
            assert status == 503 and body["checks"]["gateway"]["ok"] and body["checks"]["model"]["ok"]
            assert body["checks"]["generation"] == {"ok": False, "detail": "GenerationTimeout: no answer within 0.2 s"}
            gate.release.set()
            check.deadline = 5
            assert (await get(server.port))[0] == 200  # it recovers

            await bot.close()
            status, body = await get(server.port)
            assert status == 503
            assert body["checks"]["gateway"] == {"ok": False, "detail": "closed (shutting down)"}
            assert body["checks"]["model"]["ok"] is False and body["checks"]["generation"]["ok"] is False
        finally:
            await server.close()


async def test_a_bot_that_has_not_started_is_unhealthy(tiny_model_dir: Path, fake: FakeDiscord) -> None:
    settings = settings_for(fake, tiny_model_dir)
    service = create_service(settings)  # loaded, not started: as a bot's is until `async with bot` opens it
    try:
        checks = await health.HealthCheck(BardBot(settings), service, deadline=1).run()
    finally:
        await service.close()
    assert not any(c.ok for c in checks.values())
    assert checks["gateway"].detail.startswith("not ready") and checks["model"].detail.startswith("not serving")


def test_the_cli_exits_1_with_a_reason_when_nothing_answers(
    env: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--health", *env]) == 1
    assert "health endpoint is off (set BARD_HEALTH_PORT" in capsys.readouterr().out
    port = free_port()
    monkeypatch.setenv("BARD_HEALTH_PORT", str(port))
    assert main(["--health", *env]) == 1
    assert capsys.readouterr().out.strip() == (
        f"unhealthy: nothing is listening on http://127.0.0.1:{port}/health "
        "(is bard-bot running, with this BARD_HEALTH_PORT?)"
    )
    monkeypatch.setenv("BARD_HEALTH_PORT", "lots")
    assert main(["--health", *env]) == 1  # never 2: Docker reserves it


def test_with_the_model_missing_the_bot_does_not_start_and_the_check_says_unhealthy(
    env: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARD_TOKEN", TOKEN)
    monkeypatch.setenv("BARD_HEALTH_PORT", str(free_port()))
    monkeypatch.setenv("BARD_MODEL_DIR", str(tmp_path / "nowhere"))
    assert main(env) == 1
    assert "cannot load the model" in capsys.readouterr().err
    assert main(["--health", *env]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: nothing is listening")


async def test_the_running_bot_serves_its_health_to_the_cli_until_it_stops(
    env: list[str],
    fake: FakeDiscord,
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    monkeypatch.setenv("BARD_HEALTH_PORT", str(port))
    settings = settings_for(fake, tiny_model_dir, health_port=port)
    with LogEvent("bot.app", "ready as") as ready:
        bot_run = asyncio.create_task(run_bot(settings))
        try:
            await asyncio.wait_for(ready.wait(), 15)
            assert await asyncio.to_thread(main, ["--health", *env]) == 0
            assert capsys.readouterr().out.startswith("healthy: gateway: ready, 1 guild(s); model: serving tiny")
            os.kill(os.getpid(), signal.SIGTERM)  # run_bot's handler: the orderly shutdown
            assert await asyncio.wait_for(bot_run, 15) == 0
        finally:
            if not bot_run.done():
                bot_run.cancel()
    assert await asyncio.to_thread(main, ["--health", *env]) == 1  # its endpoint went with it


async def test_a_taken_health_port_stops_start_up(
    fake: FakeDiscord, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind((health.HOST, 0))
        taken.listen()
        settings = settings_for(fake, tiny_model_dir, health_port=taken.getsockname()[1])
        assert await run_bot(settings) == 1
    assert "cannot serve the health check on port" in caplog.text
    assert not fake.identify_payloads  # it never connected
