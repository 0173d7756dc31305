"""A burst of simultaneous commands: a real BardBot against the tests' fake Discord on 127.0.0.1, in one process.

    .venv/bin/python benchmarks/burst.py [--commands 200] [--model DIR] [--length 400] [BARD_* settings in the env]

Connects the bot (the bundled model by default, the default settings otherwise), then has `--commands` users post
`!bard <seed>` at the same moment and waits until every one has a reply. Prints how many were monologues and how
many were told the bard is busy, the monologues' latency (from the post to the reply reaching the fake) at p50 and
max, and the event loop's worst lag over the whole burst (a 5 ms ticker in the bot's own loop; the fake Discord
shares that loop, as in the tests), beside its worst lag over 3 s idle just before (what a busy machine alone adds)
and the most CPU the loop's thread spent between two ticks (its own work, which a loaded machine does not inflate).
No network beyond loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # this checkout's bot, and the tests' helpers
from discord_helpers import LoopLag, start  # noqa: E402 (the tests' helpers)
from fake_discord import TOKEN, FakeDiscord  # noqa: E402 (the tests' fake Discord server)

from bot.app import BardBot  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from model_store import DEFAULT_MODEL_DIR  # noqa: E402

SEEDS = ["To be, or not to be", "Now is the winter", "O Romeo", "Friends, Romans", "Is this a dagger", "All the world"]
BUSY_MARK = "The bard is busy"  # every busy reply says this, whatever else it adds
IDLE_SECONDS = 3.0


class PostCounter:
    """Counts the bot's message posts as they arrive, looking at each REST call once: the fake re-checks its probe
    after every call, and a probe that scanned every post for every command would lag the loop it measures."""

    def __init__(self, fake: FakeDiscord, expected: int) -> None:
        self.fake, self.expected = fake, expected
        self.seen = self.posts = 0
        self.before = len(fake.posts())

    def all_sent(self) -> bool | None:
        calls = self.fake.calls
        self.posts += sum(c.method == "POST" and c.path.endswith("/messages") for c in calls[self.seen :])
        self.seen = len(calls)
        return True if self.posts - self.before >= self.expected else None


async def burst(commands: int, model: Path, length: int) -> dict[str, object]:
    fake = FakeDiscord(TOKEN)
    await fake.start()
    settings = load_settings(
        env_file=None,
        secrets_dir=None,
        token=TOKEN,
        model_dir=model,
        api_base_url=fake.api_base_url,
        gateway_url=fake.gateway_url,
        length=length,
    )
    bot = BardBot(settings, guild_ready_timeout=0.01)
    try:
        async with bot:
            task = await start(bot)
            warm = await fake.send_message("!bard Once more", author_id=1)
            await fake.wait_for(lambda: fake.reply_to(warm), timeout=120)
            gc.collect()
            async with LoopLag() as idle:  # the same loop with nothing to do: what the machine alone adds
                await asyncio.sleep(IDLE_SECONDS)
            loop = asyncio.get_running_loop()
            async with LoopLag() as lag:
                began = loop.time()
                sent = await asyncio.gather(
                    *(
                        fake.send_message(f"!bard {SEEDS[i % len(SEEDS)]}", author_id=10_000 + i)
                        for i in range(commands)
                    )
                )
                await fake.wait_for(PostCounter(fake, commands).all_sent, timeout=600)
            took = loop.time() - began
            await bot.close()
            await task
    finally:
        await fake.close()
    replies = [fake.reply_to(m) for m in sent]
    busy = [r for r in replies if r is not None and BUSY_MARK in r.json["content"]]
    answered = [r for r in replies if r is not None and r not in busy]
    latencies = sorted(r.at - began for r in answered)
    return {
        "commands": commands,
        "monologues": len(answered),
        "busy": len(busy),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "max_s": round(latencies[-1], 2) if latencies else None,
        "loop_lag_max_ms": round(lag.worst * 1000, 1),
        "idle_loop_lag_max_ms": round(idle.worst * 1000, 1),
        "loop_cpu_between_ticks_max_ms": round(lag.worst_cpu * 1000, 1),
        "all_replied_s": round(took, 2),
        "busy_sample": busy[0].json["content"] if busy else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--length", type=int, default=400, help="characters per monologue (BARD_LENGTH)")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    result = asyncio.run(burst(args.commands, args.model, args.length))
    print(json.dumps({"started": started} | result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
