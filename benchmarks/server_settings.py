"""Per-server settings under load, through a crash, and clean mode's replies (issue 30's targets).

    .venv/bin/python benchmarks/server_settings.py [burst] [kill] [clean] [--members 50] [--changes 1000]
        [--replies 500] [--length 400] [--temperature 0.8] [--model DIR] [--json FILE]

burst: a real BardBot in this process against the tests' fake Discord (tests/fake_discord.py): `--members`
members send `--changes` `!bard set KEY VALUE` in all, each member one after another, all members at once. Counted:
the changes acknowledged, the database's record of them (settings_changes rows; each key's stored value is that of its
last change), the event loop's worst lag while it ran (target <= 50 ms; then, as a baseline, its worst lag idle for as
long, which on a busy machine is the scheduler's share) and `PRAGMA integrity_check` (target ok).

kill: a real `bard-bot` process (python -m bot.main) against the fake Discord, with the same burst of changes; once a
third of them are acknowledged it is killed with SIGKILL. Then a second process is started on the same database:
every acknowledged change must be in its record, each key's value that of its last change, and the file sound.

clean: `--replies` monologues (monologue.py's seeds, verse, default settings) with clean mode off and on, under the
same random seeds: the listed words (model_store/rules/clean_words.txt, with their forms) in each, and the reader's
measures unchanged: one speech and the words of the plays (monologue.py), lines of ten syllables and iambic lines
(verse.py, which needs the train extra's pronouncing dictionary), metre fallbacks. Targets: no listed word in clean
replies; the measures within a point of clean mode off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from discord_helpers import LoopLag, running, settings_for  # noqa: E402
from fake_discord import TOKEN, Call, FakeDiscord  # noqa: E402

from model_store import DEFAULT_MODEL_DIR  # noqa: E402

CHANGED = re.compile(r"⚙️ `(\w+)`: .* → \*\*(.*)\*\*")


class IndexedFake(FakeDiscord):
    """The fake Discord with the bot's replies indexed by the message they answer: a thousand waiting members each
    scanning every call after every call (FakeDiscord.wait_for) would cost the shared event loop more than the bot."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.replied: dict[int, Call] = {}
        self._arrived: dict[int, asyncio.Event] = {}

    async def _rest(self, request: Any) -> Any:
        response = await super()._rest(request)
        call = self.calls[-1]
        answered = ((call.json or {}).get("message_reference") or {}).get("message_id")
        if answered is not None and call.matches("POST", r"/channels/\d+/messages"):
            self.replied.setdefault(int(answered), call)
            self._arrived.setdefault(int(answered), asyncio.Event()).set()
        return response

    async def reply(self, message_id: int, timeout: float) -> Call:
        """The bot's first reply to a message, when it comes."""
        await asyncio.wait_for(self._arrived.setdefault(message_id, asyncio.Event()).wait(), timeout)
        return self.replied[message_id]


def plan(members: int, changes: int, seed: int = 1) -> list[list[tuple[str, str]]]:
    """Each member's changes, in order: keys and values of every kind, `default` among them."""
    rng = random.Random(seed)
    values = {
        "temperature": lambda: f"{rng.randint(0, 200) / 100:g}",
        "length": lambda: str(rng.randint(1, 1500)),
        "verse": lambda: rng.choice(["on", "off"]),
        "buttons": lambda: rng.choice(["on", "off"]),
        "channels": lambda: rng.choice(
            ["all", f"<#{FakeDiscord.CHANNEL_ID}>", f"<#{FakeDiscord.CHANNEL_ID}> <#900021>"]
        ),
        "cooldown": lambda: f"{rng.randint(0, 3600) / 10:g}",
        "clean": lambda: rng.choice(["on", "off"]),
    }
    made: list[list[tuple[str, str]]] = [[] for _ in range(members)]
    for i in range(changes):
        key = rng.choice(sorted(values))
        made[i % members].append((key, "default" if rng.random() < 0.05 else values[key]()))
    return made


async def send_changes(fake: IndexedFake, work: list[tuple[str, str]], user: int, acked: list[tuple[int, str]]) -> None:
    """One member's changes, each sent when the last was answered; the acknowledged ones noted as (user, reply)."""
    for key, value in work:
        sent = await fake.send_message(f"!bard set {key} {value}", author_id=user)
        reply = await fake.reply(sent, timeout=120)
        content = reply.json["content"]
        if CHANGED.fullmatch(content):
            acked.append((user, content))
        else:
            print(f"  member {user}: {key} {value}: {content}", file=sys.stderr)


def check_record(path: Path, acked: list[tuple[int, str]], *, exact: bool) -> dict[str, Any]:
    """The database's record against the acknowledged changes: all of them there (exact: and nothing more)."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT user_id, key, new FROM settings_changes ORDER BY id").fetchall()
    stored = dict(db.execute("SELECT key, value FROM server_settings WHERE server_id = ?", (FakeDiscord.GUILD_ID,)))
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    recorded: dict[tuple[int, str], int] = {}
    for user, key, _ in rows:
        recorded[(user, key)] = recorded.get((user, key), 0) + 1
    wanted: dict[tuple[int, str], int] = {}
    for user, content in acked:
        key = CHANGED.fullmatch(content).group(1)  # type: ignore[union-attr]
        wanted[(user, key)] = wanted.get((user, key), 0) + 1
    missing = sum(max(0, n - recorded.get(k, 0)) for k, n in wanted.items())
    last = {key: new for _, key, new in rows}  # each key's last change (None: back to the default)
    consistent = all(stored.get(key) == new for key, new in last.items())
    return {
        "acknowledged": len(acked),
        "recorded": len(rows),
        "missing": missing,
        "all_recorded": missing == 0 and (not exact or len(rows) == len(acked)),
        "stored_is_last_change": consistent,
        "integrity_check": integrity,
    }


async def burst(members: int, changes: int, model: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bard-burst-"))
    fake = IndexedFake(TOKEN)
    await fake.start()
    settings = settings_for(fake, model, database_url=f"sqlite:///{folder / 'bard.sqlite3'}")
    work = plan(members, changes)
    acked: list[tuple[int, str]] = []
    try:
        async with running(fake, settings):
            started = time.perf_counter()
            async with LoopLag() as lag:
                await asyncio.gather(*(send_changes(fake, w, 1000 + i, acked) for i, w in enumerate(work)))
            seconds = time.perf_counter() - started
            async with LoopLag() as idle:  # the same loop doing nothing as long: what the machine alone costs
                await asyncio.sleep(seconds)
    finally:
        await fake.close()
    found = check_record(folder / "bard.sqlite3", acked, exact=True)
    lags = {"worst_loop_lag_ms": round(lag.worst * 1000, 1), "idle_worst_loop_lag_ms": round(idle.worst * 1000, 1)}
    return found | {"seconds": round(seconds, 2)} | lags


async def start_bot(fake: FakeDiscord, database: Path, model: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARD_")} | {
        "BARD_TOKEN": TOKEN,
        "BARD_API_BASE_URL": fake.api_base_url,
        "BARD_GATEWAY_URL": fake.gateway_url,
        "BARD_MODEL_DIR": str(model),
        "BARD_DATABASE_URL": f"sqlite:///{database}",
        "BARD_OWNER_IDS": str(FakeDiscord.OWNER_ID),
        "PYTHONPATH": str(REPO),
    }
    fake.identified.clear()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.main", "--env-file", "/dev/null", "--secrets-dir", "/nonexistent",
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(fake.identified.wait(), 120)
    return process


async def kill(members: int, changes: int, model: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bard-kill-"))
    database = folder / "bard.sqlite3"
    fake = IndexedFake(TOKEN)
    await fake.start()
    acked: list[tuple[int, str]] = []
    try:
        process = await start_bot(fake, database, model)
        senders = [
            asyncio.create_task(send_changes(fake, w, 1000 + i, acked)) for i, w in enumerate(plan(members, changes))
        ]
        while len(acked) < changes // 3:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        at_kill = len(acked)
        await asyncio.sleep(0.5)  # replies already on the wire are acknowledged too
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        restarted = await start_bot(fake, database, model)  # opens, migrates and reads the same file
        sent = await fake.send_message("!bard settings", author_id=FakeDiscord.OWNER_ID)
        shown = (await fake.reply(sent, timeout=60)).json["content"]
        restarted.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restarted.wait(), 60)
    finally:
        await fake.close()
    found = check_record(database, acked, exact=False)
    db = sqlite3.connect(database)
    length = db.execute("SELECT value FROM server_settings WHERE key = 'length'").fetchone()
    db.close()
    served = f"`length` **{length[0]}** (set here)" in shown if length else "`length` **400**" in shown
    return found | {
        "acknowledged_at_kill": at_kill,
        "restarted_serves_them": served,
        "restart_exit": restarted.returncode,
    }


def clean(replies: int, length: int, temperature: float, model: Path) -> dict[str, Any]:
    import numpy as np
    from monologue import SEEDS, generated_words, one_speech, request
    from verse import bard_lines, line_scores

    from model_store import store
    from model_store.engine import Engine
    from model_store.rules.clean import forms, read_word_list

    engine = Engine(store.load(model))
    rng = np.random.default_rng
    listed = forms(w for category in read_word_list().values() for w in category)
    counts = engine.model.lexicon.counts
    found: dict[str, Any] = {}
    for mode in ("off", "on"):
        on, made = mode == "on", []
        started = time.perf_counter()
        for first in range(0, replies, 25):
            batch = [
                replace(
                    request(engine, SEEDS[i % len(SEEDS)], rng(i)), max_chars=length, temperature=temperature, clean=on
                )
                for i in range(first, min(first + 25, replies))
            ]
            made += engine.generate_batch(batch)
        all_words = [w for g in made for w in generated_words(g)]
        found[mode] = {
            "replies": len(made),
            "listed_words": sum(w in listed for w in all_words),
            "replies_with_a_listed_word": sum(any(w in listed for w in generated_words(g)) for g in made),
            "one_speech": sum(one_speech(g, engine.speaker_names) for g in made) / len(made),
            "words_of_the_plays": sum(counts.get(w, [0])[0] > 0 for w in all_words) / len(all_words),
            "metre_fallbacks_per_reply": sum(g.metre_fallbacks for g in made) / len(made),
            "seconds": round(time.perf_counter() - started, 1),
        } | line_scores([line for g in made for line in bard_lines(g)])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="PART", help="burst, kill, clean (default: all three)")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    parts = args.parts or ["burst", "kill", "clean"]
    if set(parts) - {"burst", "kill", "clean"}:
        parser.error(f"unknown part(s): {', '.join(sorted(set(parts) - {'burst', 'kill', 'clean'}))}")
    results: dict[str, Any] = {}
    if "burst" in parts:
        results["burst"] = asyncio.run(burst(args.members, args.changes, args.model))
        print("burst:", json.dumps(results["burst"]), flush=True)
    if "kill" in parts:
        results["kill"] = asyncio.run(kill(args.members, args.changes, args.model))
        print("kill:", json.dumps(results["kill"]), flush=True)
    if "clean" in parts:
        results["clean"] = clean(args.replies, args.length, args.temperature, args.model)
        print("clean:", json.dumps(results["clean"]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
