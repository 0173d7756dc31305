"""Observability: one logfmt line per request (no seed text, no raw user id) and the owner-only `bard stats`."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from discord_helpers import ask, running, settings_for
from fake_discord import FakeDiscord

from bot import replies
from bot.bard import Bard
from bot.request import Caller
from bot.stats import RequestStats, percentile

LINE = re.compile(r"request user=(?P<user>[0-9a-f]{12})(?P<fields>( [a-z_]+=\S+)*)")
USER = 987_654_321_012_345_678
SEED = "Sweet Juliet"


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """The request lines logged, as dicts (user included)."""
    found = []
    for record in caplog.records:
        if record.name == "bot.requests" and record.levelno == logging.INFO:
            match = LINE.fullmatch(record.getMessage())
            assert match, record.getMessage()
            found.append({"user": match["user"]} | dict(f.split("=") for f in match["fields"].split()))
    return found


class Hold:
    """Holds the engine's generate_batch until released, then runs it (or fails)."""

    def __init__(self, bard: Bard, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        engine = bard.service.engine
        original = functools.partial(type(engine).generate_batch, engine)  # not an earlier Hold

        def held(requests: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.release.wait(10)
            if fail:
                raise RuntimeError("the model fell over")
            return original(requests, **kwargs)

        monkeypatch.setattr(bard.service.engine, "generate_batch", held)


async def test_each_request_is_one_logfmt_line_without_the_seed_or_the_user_id(
    make_bard: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bard = make_bard(cooldown=60, queue_bound=1, timeout=0.3)
    await bard.service.start()
    assert (await bard.write(Caller(USER, "!"), f"-n 40 -t 0 {SEED}")).ok
    assert not (await bard.write(Caller(USER, "!"), f"-n 40 {SEED}")).ok  # cooldown
    assert not (await bard.write(Caller(USER, "!"), f"-z 3 {SEED}")).ok  # bad option
    Hold(bard, monkeypatch, fail=True).release.set()
    assert await bard.write(Caller(3, "!"), SEED) == replies.FAILED
    hold = Hold(bard, monkeypatch)
    slow = asyncio.create_task(bard.write(Caller(1, "!"), SEED))  # holds the only place in the queue...
    assert await asyncio.to_thread(hold.entered.wait, 10)
    assert await bard.write(Caller(2, "!"), SEED) == replies.BUSY  # ...so this one is refused at once
    assert (await slow).text == replies.timed_out(0.3).text
    bard.accepting = False
    assert await bard.write(Caller(4, "!"), SEED) == replies.LEAVING
    hold.release.set()

    lines = request_lines(caplog)
    assert [line["outcome"] for line in lines] == [
        "ok",
        "cooldown",
        "bad_options",
        "error",
        "busy",
        "timeout",
        "closed",
    ]
    ok = lines[0]
    assert ok["seed_chars"] == str(len(SEED)) and 1 <= int(ok["chars"]) <= 40
    assert int(ok["queue_wait_ms"]) >= 0 and int(ok["gen_ms"]) >= 0
    assert "chars" not in lines[1] and "gen_ms" not in lines[4]  # refused before the queue: nothing to report
    assert "chars" not in lines[3] and "gen_ms" in lines[3]  # the error: it ran, and produced nothing
    assert int(lines[5]["queue_wait_ms"]) + int(lines[5]["gen_ms"]) >= 300  # the timeout: it waited it out
    assert lines[0]["user"] == lines[1]["user"] == lines[2]["user"] == bard.requests.user_hash(USER)
    assert len({line["user"] for line in lines}) == 5
    text = caplog.text
    assert SEED not in text and "Juliet" not in text
    hashes = {bard.requests.user_hash(user) for user in (USER, 1, 2, 3, 4)}
    # the warnings name the hash too (a hash may be all digits, so compare with the hashes, not a pattern)
    assert str(USER) not in text and set(re.findall(r"\buser[ =](\S+)", text)) == hashes


def test_user_hashes_are_keyed_per_process_unless_a_salt_is_set() -> None:
    one, other = RequestStats(), RequestStats()
    assert one.user_hash(USER) == one.user_hash(USER) != other.user_hash(USER)
    salted = RequestStats(salt=b"pepper"), RequestStats(salt=b"pepper")
    assert salted[0].user_hash(USER) == salted[1].user_hash(USER) != RequestStats(salt=b"salt").user_hash(USER)


def test_percentiles_are_over_a_bounded_window_of_recent_generations() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 50) == 50 and percentile(list(range(1, 101)), 95) == 95
    stats = RequestStats(window=10, clock=lambda: 100.0)
    for ms in [1000.0] * 10 + [10.0] * 10:  # the slow ones are older than the window
        stats.record(1, "ok", seed_chars=1, chars=1, queue_wait=0.0, gen_time=ms / 1000)
    stats.record(1, "busy")
    snap = stats.snapshot()
    assert snap["requests"] == 21 and snap["ok"] == 20 and snap["busy"] == 1 and snap["window"] == 10
    assert snap["gen_p50_ms"] == snap["gen_p95_ms"] == pytest.approx(10.0)
    with pytest.raises(ValueError):
        stats.record(1, "exploded")  # type: ignore[arg-type]


async def test_stats_are_for_owners(make_bard: Callable[..., Any]) -> None:
    bard = make_bard()
    await bard.service.start()
    assert (await bard.dispatch("stats", author_id=1, prefix="!")) == replies.NOT_OWNER
    await bard.write(Caller(1, "!"), "-n 20 To be")
    await bard.write(Caller(1, "!"), "-t 9 To be")
    reply = await bard.dispatch("STATS", author_id=1, prefix="!", is_owner=True)
    assert reply.ok
    lines = reply.text.split("\n")
    assert re.fullmatch(r"\*\*bard stats\*\* · up \d+ s · serving \*\*tiny\*\*", lines[0])
    assert lines[1].startswith("Requests: 2 · answered 1 · errors 0 · timed out 0 · busy 0 · cooldown 0")
    assert re.fullmatch(r"Generation time: p50 \d+ ms · p95 \d+ ms \(last 1\) · queue wait p95 \d+ ms", lines[2])
    assert lines[3] == "Now: 0 pending"


def test_durations_read_naturally() -> None:
    assert [replies.duration(s) for s in (0, 59, 61, 3600, 3725, 90_061)] == [
        "0 s",
        "59 s",
        "1 min 1 s",
        "1 h 0 min",
        "1 h 2 min",
        "1 d 1 h",
    ]


async def test_the_stats_command_on_discord(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)):
        await ask(fake, "!bard -n 20 To be", user=5)
        refused = await ask(fake, "!bard stats", user=5)
        stats = await ask(fake, "!bard stats", user=fake.OWNER_ID)
    assert refused.json["content"] == replies.NOT_OWNER.text
    content = stats.json["content"]
    assert "Requests: 1 · answered 1" in content and "\nNow: 0 pending · guilds 1" in content
    assert stats.json["allowed_mentions"] == {"parse": []}
