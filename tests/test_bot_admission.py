"""Admission by expected wait: batches priced and learnt (bot/admission.py), the service's rule, the busy reply, and a
burst of simultaneous commands against the fake Discord."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from discord_helpers import running, settings_for
from fake_discord import FakeDiscord
from test_bot_service import gate

from bot import replies
from bot.admission import RATIO_LIMITS, BatchCost, expected_wait
from bot.request import Caller
from bot.service import Busy, GenerationService
from model_store import store


def test_a_batch_is_priced_from_one_stream_and_a_full_batch() -> None:
    cost = BatchCost()
    cost.calibrate(one=1.0, full=4.0, streams=31, chars=10)  # 31 streams cost 4 times one, not 31 times
    assert cost.batch_seconds(1, 10) == pytest.approx(1.0)
    assert cost.batch_seconds(31, 10) == pytest.approx(4.0)
    assert cost.batch_seconds(31, 20) == pytest.approx(8.0)  # twice the characters, twice the steps
    assert cost.per_stream == pytest.approx(0.01) and cost.fixed == pytest.approx(0.09)


def test_the_price_follows_the_batches_that_ran_and_one_stall_moves_it_only_so_far() -> None:
    cost = BatchCost()
    cost.calibrate(one=1.0, full=4.0, streams=31, chars=10)
    for _ in range(20):
        cost.observe(31, 10, 8.0)  # the machine got twice as slow
    assert cost.batch_seconds(31, 10) == pytest.approx(8.0, rel=0.01)
    before = cost.scale
    cost.observe(31, 10, 8000.0)  # one batch stalled for minutes
    assert cost.scale == pytest.approx(before * (1 + 0.3 * (RATIO_LIMITS[1] - 1)))


def test_the_expected_wait_is_the_batch_running_then_the_queue_in_batches_then_its_own() -> None:
    cost = BatchCost(fixed=0.0, per_stream=0.001)  # a batch of b streams: b ms per character
    assert expected_wait(cost, [], 0.0, 100, 32) == pytest.approx(0.1)  # alone: its own generation
    ahead = [100] * 63  # with it, 64: two full batches
    assert expected_wait(cost, ahead, 0.5, 100, 32) == pytest.approx(0.5 + 3.2 + 3.2)
    assert expected_wait(cost, [*ahead, 100], 0.5, 50, 32) == pytest.approx(0.5 + 3.2 + 3.2 + 0.05)  # alone, short


@pytest_asyncio.fixture(loop_scope="function")
async def make_service(tiny_model_dir: Path) -> AsyncIterator[Callable[..., GenerationService]]:
    made: list[GenerationService] = []

    def make(**options: Any) -> GenerationService:
        made.append(GenerationService(store.load(tiny_model_dir), **options))
        return made[-1]

    yield make
    for service in made:
        await service.close()


async def test_requests_are_taken_while_their_reply_is_expected_within_the_max_wait(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(max_batch=4, max_wait=9.5)
    await service.start()
    assert service.cost.fixed > 0 and service.cost.per_stream > 0  # calibrated at start
    service.cost = BatchCost(fixed=0.0, per_stream=0.01)  # known prices: a batch of b streams, b × 10 ms per character
    g = gate(service, monkeypatch)
    first = service.submit("a", temperature=0.5, max_chars=100)
    await g.wait_entered()  # a batch of one generating: 1 s priced
    taken = [service.submit("b", temperature=0.5, max_chars=100) for _ in range(8)]  # two batches of 4: 1 + 4 + 4 s
    assert service.expected_wait(100) == pytest.approx(1 + 4 + 4 + 1, abs=0.1)
    with pytest.raises(Busy) as refused:
        service.submit("c", temperature=0.5, max_chars=100)  # 10 s away
    assert refused.value.retry_after == pytest.approx(10, abs=0.1)
    short = service.submit("short", temperature=0.5, max_chars=10)  # its own batch is short: 1 + 4 + 4 + 0.1 s
    assert service.stats()["busy"] == 1
    g.release.set()
    await asyncio.gather(first.result(), short.result(), *(p.result() for p in taken))


async def test_a_request_with_nothing_ahead_is_always_taken(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(max_wait=0.001)
    await service.start()
    service.cost = BatchCost(fixed=1.0, per_stream=1.0)  # priced at minutes
    g = gate(service, monkeypatch)
    first = service.submit("a", temperature=0.5, max_chars=100)
    with pytest.raises(Busy):
        service.submit("b", temperature=0.5, max_chars=100)
    g.release.set()
    await first.result()
    await service.submit("c", temperature=0.5, max_chars=10).result()  # alone again: taken


async def test_the_bard_tells_a_refused_user_in_about_how_long_to_ask_again(
    make_bard: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bard = make_bard(max_wait=5)
    await bard.service.start()
    bard.service.cost = BatchCost(fixed=0.0, per_stream=0.1)
    g = gate(bard.service, monkeypatch)
    first = asyncio.create_task(bard.write(Caller(1, "!"), "-n 100 To be"))
    await g.wait_entered()
    assert await bard.write(Caller(2, "!"), "-n 100 Or not") == replies.busy_for(20.0)  # the first 10 s, its own 10 s
    assert replies.busy_for(29.2).text.endswith("ask again in about 30 s.") and not replies.busy_for(0.2).ok
    g.release.set()
    assert (await first).ok


async def test_a_burst_of_simultaneous_commands_gets_one_reply_each_taken_or_told_when_to_ask(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    commands = 60
    async with running(fake, settings_for(fake, tiny_model_dir, length=200, max_wait=0.5)) as bot:
        assert bot.bard_service is not None
        bot.bard_service.cost = BatchCost(fixed=0.0, per_stream=0.0005)  # a batch of 32 at 200 chars: 3.2 s
        sent = await asyncio.gather(*(fake.send_message("!bard To be", author_id=5000 + i) for i in range(commands)))
        await fake.wait_for(lambda: True if len(fake.posts()) >= commands else None, timeout=60)
        served = bot.bard_service.stats()["served"]
    answers = [fake.replies_to(m) for m in sent]
    assert all(len(a) == 1 for a in answers)  # one reply each, no more
    texts = [a[0].json["content"] for a in answers]
    busy = [t for t in texts if t.startswith("🎭 The bard is busy")]
    assert 0 < len(busy) < commands and len(texts) - len(busy) == served
    assert all(re.search(r"ask again in about \d+ s\.$", t) for t in busy)
