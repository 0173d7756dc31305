"""SIGTERM during a Discord outage: a real `bard-bot` process, connected to the tests' fake Discord, which then stops.

    .venv/bin/python benchmarks/outage.py [--model DIR] [--outage 10] [--runs 1]

Starts `python -m bot.main` against the fake Discord on 127.0.0.1, waits until it has answered a monologue, then
stops the fake (the gateway closed, REST refusing connections), lets the bot try to reconnect for `--outage`
seconds, and sends SIGTERM. Prints how long the bot took to exit (killed after 120 s), its exit status, and how
many reconnect lines and traceback lines it logged during the outage. No network beyond loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fake_discord import FakeDiscord  # noqa: E402 (the tests' fake Discord server)

from model_store import DEFAULT_MODEL_DIR  # noqa: E402

TOKEN = "fake-token"
KILL_AFTER = 120.0


async def outage(model: Path, seconds: float) -> dict[str, object]:
    fake = FakeDiscord(TOKEN)
    await fake.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARD_")} | {"PYTHONPATH": str(REPO)}
    env |= {"BARD_TOKEN": TOKEN, "BARD_API_BASE_URL": fake.api_base_url, "BARD_GATEWAY_URL": fake.gateway_url}
    env |= {"BARD_MODEL_DIR": str(model), "BARD_COOLDOWN": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.main", "--env-file", "/dev/null", "--secrets-dir", "/nonexistent",
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    log = bytearray()
    reader = asyncio.create_task(_collect(process.stderr, log))
    try:
        await asyncio.wait_for(fake.identified.wait(), 60)
        sent = await fake.send_message("!bard To be, or not to be", author_id=100)
        await fake.wait_for(lambda: fake.reply_to(sent), timeout=60)
        before = len(log)
        await fake.close()  # the outage: the gateway closed, and nothing listens on the port any more
        await asyncio.sleep(seconds)
        during = log[before:].decode(errors="replace")
        process.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        try:
            await asyncio.wait_for(process.wait(), KILL_AFTER)
        except TimeoutError:
            process.kill()
            await process.wait()
        stop_s = time.monotonic() - sent_at
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader
    lines = during.splitlines()
    return {
        "outage_s": seconds,
        "stop_s": round(stop_s, 2),
        "exit": process.returncode,
        "reconnect_lines": sum("reconnect" in line.lower() for line in lines),
        "traceback_lines": sum(line.startswith("Traceback") for line in lines),
        "log_lines_during_outage": len(lines),
        "sample": [line for line in lines if "reconnect" in line.lower()][:2],
    }


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into.extend(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds of outage before SIGTERM")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    for _ in range(args.runs):
        print(json.dumps(asyncio.run(outage(args.model, args.outage)), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
