"""The transport-neutral command handling: routing, cooldown, friendly errors, the indicator, draining."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from discord_helpers import Gate

from bot import replies
from bot.bard import Bard
from bot.request import Caller
from bot.service import open_service
from bot.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="function")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_command_gets_a_monologue(make_bard: Callable[..., Bard]) -> None:
    bard = make_bard()
    await bard.service.start()
    reply = await bard.write(Caller(1, "!"), "-n 30 -t 0 To be")
    assert reply.ok and reply.text.startswith("*The bard continues:*\n>>> To be")


async def test_dispatch_routes_like_the_command_group(make_bard: Callable[..., Bard]) -> None:
    bard = make_bard()
    await bard.service.start()
    assert (await bard.dispatch("HELP", author_id=1, prefix="?")).text == bard.help("?").text
    assert "model card" in (await bard.dispatch(" info", author_id=1, prefix="!")).text
    assert await bard.dispatch("reload", author_id=1, prefix="!") == replies.NOT_OWNER
    assert (await bard.dispatch("information -n 5", author_id=1, prefix="!")).text.startswith("*The bard continues:*")
    bad = await bard.dispatch("-z 1 To be", author_id=1, prefix="!")
    assert not bad.ok and "unknown option “-z”" in bad.text and "`!bard help`" in bad.text


async def test_cooldown_per_user_owners_exempt(make_bard: Callable[..., Bard]) -> None:
    bard = make_bard(cooldown=10)
    clock = Clock()
    bard._clock = clock
    await bard.service.start()
    assert (await bard.write(Caller(1, "!"), "-n 5 a")).ok
    wait = await bard.write(Caller(1, "!"), "-n 5 a")
    assert not wait.ok and "in 10 s" in wait.text
    assert (await bard.write(Caller(2, "!"), "-n 5 a")).ok  # another user
    assert (await bard.write(Caller(1, "!", True), "-n 5 a")).ok
    clock.now += 10.5
    assert (await bard.write(Caller(1, "!"), "-n 5 a")).ok
    # A refused command (bad options) costs no cooldown.
    assert not (await bard.write(Caller(3, "!"), "-t 9 a")).ok
    assert (await bard.write(Caller(3, "!"), "-n 5 a")).ok


async def test_generation_errors_get_the_friendly_reply_with_a_logged_traceback(
    make_bard: Callable[..., Bard], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bard = make_bard()
    await bard.service.start()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("the model fell over")

    monkeypatch.setattr(bard.service.engine, "generate_batch", broken)
    with caplog.at_level(logging.ERROR, logger="bot.bard"):
        assert await bard.write(Caller(1, "!"), "To be") == replies.FAILED
    record = next(r for r in caplog.records if r.name == "bot.bard")
    assert record.exc_info and record.exc_info[0] is ZeroDivisionError
    monkeypatch.undo()
    assert (await bard.write(Caller(1, "!"), "-n 5 To be")).ok  # and it keeps serving


async def test_busy_and_timeout_replies(make_bard: Callable[..., Bard], monkeypatch: pytest.MonkeyPatch) -> None:
    bard = make_bard(queue_bound=1, timeout=0.2)
    await bard.service.start()
    gate = Gate(bard.service, monkeypatch)
    first = asyncio.create_task(bard.write(Caller(1, "!"), "a"))
    await gate.wait_entered()  # the first request holds the only place in the queue
    assert await bard.write(Caller(2, "!"), "b") == replies.BUSY
    assert await first == replies.timed_out(0.2)
    gate.release.set()


async def test_the_indicator_shows_only_while_generating_and_its_failure_loses_nothing(
    make_bard: Callable[..., Bard],
) -> None:
    bard = make_bard()
    await bard.service.start()
    events: list[str] = []

    @asynccontextmanager
    async def indicator() -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    assert (await bard.write(Caller(1, "!", False, indicator), "-n 5 a")).ok
    assert events == ["start", "stop"]
    assert not (await bard.write(Caller(1, "!", False, indicator), "-t 7 a")).ok
    assert events == ["start", "stop"]  # no indicator for a refusal

    @asynccontextmanager
    async def broken() -> AsyncIterator[None]:
        raise ConnectionError("typing endpoint down")
        yield

    assert (await bard.write(Caller(1, "!", False, broken), "-n 5 a")).ok


async def test_close_lets_a_generation_in_flight_finish_then_refuses(
    make_bard: Callable[..., Bard], monkeypatch: pytest.MonkeyPatch
) -> None:
    bard = make_bard()
    await bard.service.start()
    gate = Gate(bard.service, monkeypatch)

    async def command() -> replies.Reply:
        with bard.in_flight():
            return await bard.write(Caller(1, "!"), "-n 5 To be")

    task = asyncio.create_task(command())
    await gate.wait_entered()
    closing = asyncio.create_task(bard.close(grace=10))
    await asyncio.sleep(0)
    assert not closing.done() and not bard.accepting
    assert await bard.write(Caller(2, "!"), "a") == replies.LEAVING  # nothing new once closing
    gate.release.set()
    reply = await task
    assert reply.ok and "To be" in reply.text  # the one in flight was answered
    await closing


async def test_close_gives_up_after_the_grace_period(
    make_bard: Callable[..., Bard], caplog: pytest.LogCaptureFixture
) -> None:
    bard = make_bard()
    await bard.service.start()
    caplog.set_level(logging.INFO, logger="bot.bard")
    with bard.in_flight():  # a command that never finishes
        await bard.close(grace=0.05)
        # done while the command is still in flight; the service is its owner's to close (make_bard's here)
        assert not bard.accepting and bard.service.serving
    assert [r.getMessage() for r in caplog.records if r.name == "bot.bard"] == [
        "finishing 1 command(s) in flight (up to 0.05 s)",
        "1 command(s) still in flight after 0.05 s; closing anyway",
    ]


async def test_close_with_nothing_in_flight_does_not_wait(
    make_bard: Callable[..., Bard], caplog: pytest.LogCaptureFixture
) -> None:
    bard = make_bard()
    await bard.service.start()
    caplog.set_level(logging.INFO, logger="bot.bard")
    with bard.in_flight():
        pass  # a command that finished
    await bard.close(grace=3600)  # would hang the test if the finished command were still counted
    assert not bard.accepting and bard.service.serving  # the service is its owner's to close
    assert not [r for r in caplog.records if r.name == "bot.bard"]


async def test_speakers_lists_the_model_speakers_with_and_without_a_filter(monologue_model_dir):
    settings = Settings(model_dir=monologue_model_dir, cooldown=0)
    async with open_service(settings) as service:
        bard = Bard(settings, service)
        everyone = (await bard.dispatch("speakers", author_id=1, prefix="!")).text
        assert everyone.splitlines() == [
            "**Speakers**, by speeches (of 3; name one: `Hamlet: To be`):",
            "HAMLET (12) · HORATIO (6) · OTHELLO (6)",
        ]
        some = (await bard.dispatch("speakers ho", author_id=1, prefix="!")).text
        assert some.splitlines()[1] == "HORATIO (6)" and "matching “ho”" in some
        none = (await bard.dispatch("speakers lear", author_id=1, prefix="!")).text
        assert none == "No speaker matching “lear” among the model's 3."
    assert not service.serving and service.executor._shutdown  # type: ignore[attr-defined]  # closed by its opener


async def test_a_named_speaker_opens_free_text_as_it_did_in_the_seed(make_bard: Callable[..., Bard]) -> None:
    bard = make_bard()  # the tiny model has no speakers: it writes free text
    await bard.service.start()
    reply = await bard.write(Caller(1, "/"), "-t 0 -n 20 To be", speaker="horatio")
    assert reply.text.startswith("*The bard continues:*\n>>> Horatio: To be")
    bad = await bard.write(Caller(1, "/"), "To be", speaker="Hamlet: To")
    assert not bad.ok and "is not a speaker's name" in bad.text
