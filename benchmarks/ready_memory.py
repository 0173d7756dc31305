"""The ready bot's memory: a real `bard-bot` process against the tests' fake Discord on 127.0.0.1.

    .venv/bin/python benchmarks/ready_memory.py [--model DIR | --models-dir DIR] [--requests 5]

Starts `python -m bot.main` with the model (the bundled one by default), waits until it has connected and
answered `--requests` monologues (default settings: verse monologues of 400 characters), then prints its
resident memory (VmRSS) and its peak (VmHWM), and stops it with SIGTERM. No network beyond loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from fake_discord import FakeDiscord  # noqa: E402 (the tests' fake Discord server)

from model_store import DEFAULT_MODEL_DIR  # noqa: E402

TOKEN = "fake-token"


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status if line.startswith(("VmRSS", "VmHWM"))}


async def measure(settings: dict[str, str], requests: int) -> dict[str, float]:
    fake = FakeDiscord(TOKEN)
    await fake.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARD_")} | settings
    env |= {"BARD_TOKEN": TOKEN, "BARD_API_BASE_URL": fake.api_base_url, "BARD_GATEWAY_URL": fake.gateway_url}
    env |= {"BARD_COOLDOWN": "0", "PYTHONPATH": str(REPO)}
    database = Path(tempfile.mkdtemp(prefix="bard-memory-")) / "bard.sqlite3"  # the servers' settings: not left here
    env |= {"BARD_DATABASE_URL": f"sqlite:///{database}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.main", "--env-file", "/dev/null", "--secrets-dir", "/nonexistent",
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(fake.identified.wait(), 60)
        for i in range(requests):
            sent = await fake.send_message(f"!bard To be, or not to be {i}", author_id=100 + i)
            await fake.wait_for(lambda sent=sent: fake.reply_to(sent), timeout=60)
        return memory_mb(process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
        await fake.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--models-dir", type=Path, help="serve every model of this folder instead")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args(argv)
    settings = {"BARD_MODELS_DIR": str(args.models_dir)} if args.models_dir else {"BARD_MODEL_DIR": str(args.model)}
    figures = asyncio.run(measure(settings, args.requests))
    served = args.models_dir or args.model
    print(f"ready bot ({served}, after {args.requests} answered requests): resident {figures['VmRSS']:.0f} MB, "
          f"peak {figures['VmHWM']:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
