"""Stopping during a Discord outage: the fake Discord stopped under a connected bot, then SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_discord import TOKEN, FakeDiscord

from bot.logs import OneLineReconnects

REPO = Path(__file__).resolve().parent.parent
GRACE = 8.0  # BARD_SHUTDOWN_GRACE's default: systemd and Compose allow a few seconds more, then kill


def test_a_failed_reconnect_is_one_warning_line_with_the_backoff() -> None:
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except OSError:
        record = logging.getLogger("discord.client").makeRecord(
            "discord.client", logging.ERROR, "client.py", 781, "Attempting a reconnect in %.2fs", (1.39,),
            sys.exc_info(),
        )  # fmt: skip
    assert OneLineReconnects().filter(record)
    assert record.levelname == "WARNING" and record.exc_info is None
    assert (
        record.getMessage()
        == "gateway lost (ConnectionRefusedError: [Errno 111] Connect call failed); reconnecting in 1.4 s"
    )
    shard = logging.LogRecord(
        "discord.shard", logging.ERROR, "", 0, "Attempting a reconnect for shard ID %s in %.2fs", (3, 2.5), None
    )
    assert (
        OneLineReconnects().filter(shard)
        and shard.getMessage() == "gateway (shard 3) lost (disconnected); reconnecting in 2.5 s"
    )
    other = logging.LogRecord("discord.client", logging.ERROR, "", 0, "something else %s", ("x",), None)
    assert OneLineReconnects().filter(other) and other.getMessage() == "something else x" and other.levelname == "ERROR"


@pytest.mark.asyncio(loop_scope="function")
async def test_sigterm_during_an_outage_stops_within_the_grace_and_logs_no_traceback(
    fake: FakeDiscord, tiny_model_dir: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BARD_")} | {"PYTHONPATH": str(REPO)}
    env |= {"BARD_TOKEN": TOKEN, "BARD_MODEL_DIR": str(tiny_model_dir), "BARD_COOLDOWN": "0"}
    env |= {"BARD_API_BASE_URL": fake.api_base_url, "BARD_GATEWAY_URL": fake.gateway_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.main", "--env-file", str(tmp_path / "no.env"), "--secrets-dir", str(tmp_path),
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        await asyncio.wait_for(fake.identified.wait(), 30)
        sent = await fake.send_message("!bard To be", author_id=1)
        await fake.wait_for(lambda: fake.reply_to(sent), timeout=30)
        await fake.close()  # the outage: the gateway closed, REST and the gateway refusing connections
        lines: list[str] = []
        while sum("reconnecting in" in line for line in lines) < 2:  # into discord.py's backoff
            lines.append((await asyncio.wait_for(process.stderr.readline(), 30)).decode())
        process.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        rest = await asyncio.wait_for(process.stderr.read(), GRACE + 5)
        await process.wait()
        took = time.monotonic() - sent_at
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "".join(lines) + rest.decode()
    assert process.returncode == 0, log
    assert took < GRACE, f"took {took:.1f} s\n{log}"
    assert "Traceback" not in log and "SIGTERM: shutting down" in log and "stopped" in log
    failed = [line for line in log.splitlines() if "reconnecting in" in line]
    assert all("WARNING" in line and line.rstrip().endswith(" s") for line in failed), failed
