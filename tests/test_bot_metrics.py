"""/metrics: the bot's Prometheus metrics on the health port, in a registry of its own, with no user id or seed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import prometheus_client
from discord_helpers import LogEvent, settings_for
from fake_discord import FakeDiscord
from prometheus_client.parser import text_string_to_metric_families

from bot import health
from bot.main import run_bot
from bot.metrics import BardMetrics
from bot.stats import OUTCOMES

REPO = Path(__file__).resolve().parent.parent
SEED = "Whereto the quillpig"  # a seed no metric may carry


def free_port() -> int:
    with socket.socket() as s:
        s.bind((health.HOST, 0))
        return int(s.getsockname()[1])


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def test_requests_are_counted_by_outcome_with_their_times_and_characters() -> None:
    metrics = BardMetrics()
    metrics.observe("ok", chars=120, queue_wait=0.02, gen_time=0.7)
    metrics.observe("ok", chars=80, queue_wait=0.5, gen_time=1.5)
    metrics.observe("timeout", chars=None, queue_wait=30.0, gen_time=None)
    metrics.observe("busy", chars=None, queue_wait=None, gen_time=None)
    page, content_type = metrics.render()
    found = samples(page.decode())
    assert content_type.startswith("text/plain")
    assert {o: found["bard_replies_total", (("outcome", o),)] for o in OUTCOMES} == {
        "ok": 2, "busy": 1, "timeout": 1, "error": 0, "cooldown": 0, "bad_options": 0, "closed": 0,
    }  # fmt: skip
    assert found["bard_generation_seconds_count", ()] == 2 and found["bard_generation_seconds_sum", ()] == 2.2
    assert found["bard_generation_seconds_bucket", (("le", "1.0"),)] == 1
    assert found["bard_queue_wait_seconds_count", ()] == 3  # ok and timed out: both waited
    assert found["bard_generated_characters_total", ()] == 200


def test_each_bot_counts_in_a_registry_of_its_own() -> None:
    first, second = BardMetrics(), BardMetrics()
    first.observe("ok", chars=5, queue_wait=0.1, gen_time=0.1)
    assert samples(second.render()[0].decode())["bard_replies_total", (("outcome", "ok"),)] == 0
    assert not [m for m in prometheus_client.REGISTRY.collect() if m.name.startswith("bard_")]


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    page, content_type = BardMetrics().render("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text") and page.endswith(b"# EOF\n")


async def test_after_five_replies_the_bot_serves_its_metrics_and_no_user_or_seed(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    port = free_port()
    settings = settings_for(fake, tiny_model_dir, health_port=port)
    with LogEvent("bot.app", "ready as") as ready:
        bot_run = asyncio.create_task(run_bot(settings))
        try:
            await asyncio.wait_for(ready.wait(), 15)
            for user in range(424_201, 424_206):
                sent = await fake.send_message(f"!bard {SEED}", author_id=user)
                await fake.wait_for(lambda sent=sent: fake.reply_to(sent), timeout=30)
            url = f"http://{health.HOST}:{port}/metrics"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                page = await response.text()
            os.kill(os.getpid(), signal.SIGTERM)
            assert await asyncio.wait_for(bot_run, 15) == 0
        finally:
            if not bot_run.done():
                bot_run.cancel()
    found = samples(page)
    assert found["bard_replies_total", (("outcome", "ok"),)] == 5
    assert found["bard_generation_seconds_count", ()] == 5 and found["bard_queue_wait_seconds_count", ()] == 5
    assert found["bard_generated_characters_total", ()] > 0
    assert found["bard_queue_depth", ()] == 0 and found["bard_servers", ()] == 1
    assert found["bard_expected_wait_seconds", ()] > 0
    models = [dict(labels) for name, labels in found if name == "bard_model_info"]
    assert len(models) == 1 and models[0]["model"] == "tiny" and models[0]["default"] == "True"
    assert len(models[0]["weights_sha256"]) == 64
    assert "424201" not in page and "424205" not in page and "quillpig" not in page.lower()
    assert all(name.startswith("bard_") for name, _ in found)


def test_console_mode_serves_the_metrics_when_the_port_is_set(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BARD_")}
    env |= {"PYTHONPATH": str(REPO), "BARD_MODEL_DIR": str(tiny_model_dir), "BARD_HEALTH_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.main", "--console", "--env-file", str(tmp_path / "no.env")],
        env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"!bard {SEED}\n")
        process.stdin.flush()
        reply = process.stdout.readline()  # the reply's first line: it was answered
        assert reply.strip()
        with urllib.request.urlopen(f"http://{health.HOST}:{port}/metrics", timeout=10) as response:
            page = response.read().decode()
        with urllib.request.urlopen(f"http://{health.HOST}:{port}/health", timeout=10) as response:
            checks = response.read().decode()
        process.stdin.close()
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    found = samples(page)
    assert found["bard_replies_total", (("outcome", "ok"),)] == 1
    assert "bard_servers" not in page  # no gateway in console mode
    assert '"gateway"' not in checks and '"healthy": true' in checks
