"""The inference service: batching in the dedicated thread, the queue bound, timeouts, errors, reload, close."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.service import Busy, GenerationService, GenerationTimeout, ServiceClosed
from model_store import store
from model_store.engine import Engine, GenerationRequest

pytestmark = pytest.mark.asyncio(loop_scope="function")


class Gate:
    """Wraps an engine's generate_batch: records each call and holds it until released."""

    def __init__(self, engine: Engine, *, fail_on: Callable[[list[GenerationRequest]], bool] | None = None) -> None:
        self.original = engine.generate_batch
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls: list[tuple[str, int]] = []
        self.fail_on = fail_on

    def __call__(self, requests: list[GenerationRequest], **kwargs: Any) -> Any:
        self.calls.append((threading.current_thread().name, len(requests)))
        self.entered.set()
        assert self.release.wait(10), "the test never released the gate"
        if self.fail_on is not None and self.fail_on(list(requests)):
            raise RuntimeError("poisoned batch")
        return self.original(requests, **kwargs)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


@pytest_asyncio.fixture(loop_scope="function")
async def make_service(tiny_model_dir: Path) -> AsyncIterator[Callable[..., GenerationService]]:
    made: list[GenerationService] = []

    def make(model_dir: Path = tiny_model_dir, **options: Any) -> GenerationService:
        service = GenerationService(store.load(model_dir), **options)
        made.append(service)
        return service

    yield make
    for service in made:
        await service.close()


def gate(service: GenerationService, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Gate:
    g = Gate(service.engine, **kwargs)
    monkeypatch.setattr(service.engine, "generate_batch", g)
    return g


async def test_queued_requests_share_one_batch_in_the_inference_thread(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    service = make_service()
    await service.start()
    g = gate(service, monkeypatch)
    g.release.set()
    pending = [service.submit(f"To be {i}", temperature=0.0, max_chars=30) for i in range(5)]
    results = await asyncio.gather(*(p.result() for p in pending))
    assert len(g.calls) == 1 and g.calls[0][1] == 5
    assert g.calls[0][0].startswith("bard-inference")
    # Each gets what it would get alone.
    alone = Engine(store.load(tiny_model_dir)).generate("To be 3", max_chars=30, temperature=0.0)
    assert results[3].seed + results[3].text == alone.seed + alone.text
    assert service.pending == 0 and service.stats()["served"] == 5


async def test_batches_are_at_most_max_batch(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(max_batch=2)
    await service.start()
    g = gate(service, monkeypatch)
    g.release.set()
    pending = [service.submit("To be", temperature=0.5, max_chars=10) for _ in range(5)]
    await asyncio.gather(*(p.result() for p in pending))
    assert [n for _, n in g.calls] == [2, 2, 1]


async def test_past_the_bound_the_caller_is_told_at_once(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(queue_bound=2)
    await service.start()
    g = gate(service, monkeypatch)
    first = service.submit("a", temperature=0.5, max_chars=10)
    second = service.submit("b", temperature=0.5, max_chars=10)
    with pytest.raises(Busy):
        service.submit("c", temperature=0.5, max_chars=10)
    assert service.stats()["busy"] == 1 and service.pending == 2
    g.release.set()
    await first.result()
    await second.result()
    await service.submit("d", temperature=0.5, max_chars=10).result()  # room again


async def test_bad_values_are_refused_before_queueing(make_service: Callable[..., GenerationService]) -> None:
    service = make_service()
    await service.start()
    with pytest.raises(ValueError, match="top_p"):
        service.submit("a", temperature=0.5, max_chars=10, top_p=0.0)
    assert service.pending == 0


async def test_a_request_that_takes_too_long_times_out_and_the_service_recovers(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(timeout=0.2)
    await service.start()
    g = gate(service, monkeypatch)
    slow = service.submit("a", temperature=0.5, max_chars=10)
    with pytest.raises(GenerationTimeout):
        await slow.result()
    assert service.stats()["timeouts"] == 1
    g.release.set()
    monkeypatch.setattr(service, "timeout", 10.0)
    result = await service.submit("To be", temperature=0.0, max_chars=10).result()
    assert result.seed == "To be"
    assert service.pending == 0


async def test_one_failing_request_does_not_sink_its_batch(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service()
    await service.start()
    g = gate(service, monkeypatch, fail_on=lambda reqs: any(r.seed == "poison" for r in reqs))
    g.release.set()
    pending = [service.submit(seed, temperature=0.5, max_chars=10) for seed in ("good", "poison", "fine")]
    results = await asyncio.gather(*(p.result() for p in pending), return_exceptions=True)
    assert results[0].seed == "good" and results[2].seed == "fine"  # type: ignore[union-attr]
    assert isinstance(results[1], RuntimeError)
    assert [n for _, n in g.calls] == [3, 1, 1, 1]
    assert service.stats()["errors"] == 1 and service.stats()["served"] == 2


def copy_model(source: Path, target: Path, name: str) -> Path:
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps(manifest | {"name": name}))  # not itself checksummed
    return target


async def test_reload_swaps_the_model_and_requests_in_flight_finish_on_the_old_one(
    make_service: Callable[..., GenerationService],
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    live = copy_model(tiny_model_dir, tmp_path / "live", "first")
    service = make_service(live)
    await service.start()
    g = gate(service, monkeypatch)
    in_flight = service.submit("To be", temperature=0.0, max_chars=20)
    await g.wait_entered()
    shutil.rmtree(live)
    copy_model(tiny_model_dir, live, "second")  # a newly exported model
    reload = asyncio.create_task(service.reload(live))
    g.release.set()
    assert (await in_flight.result()).seed == "To be"
    loaded = await reload
    assert loaded.name == "second" and service.model.name == "second"
    await service.submit("Now", temperature=0.0, max_chars=20).result()
    assert len(g.calls) == 1  # the new request ran on the new engine, not through the old one's gate


async def test_a_model_that_fails_to_load_is_refused_and_the_old_one_stays(
    make_service: Callable[..., GenerationService], tiny_model_dir: Path, tmp_path: Path
) -> None:
    live = copy_model(tiny_model_dir, tmp_path / "live", "first")
    service = make_service(live)
    await service.start()
    weights = live / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])  # a truncated export
    with pytest.raises(store.ModelError, match="checksum"):
        await service.reload(live)
    assert service.model.name == "first"
    assert (await service.submit("To be", temperature=0.0, max_chars=10).result()).seed == "To be"


async def test_close_fails_what_is_queued_and_refuses_more(
    make_service: Callable[..., GenerationService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service()
    await service.start()
    g = gate(service, monkeypatch)
    running = service.submit("a", temperature=0.5, max_chars=10)
    await g.wait_entered()
    queued = service.submit("b", temperature=0.5, max_chars=10)
    await service.close()
    for pending in (running, queued):
        with pytest.raises(ServiceClosed):
            await pending.result()
    with pytest.raises(ServiceClosed):
        service.submit("c", temperature=0.5, max_chars=10)
    assert service.pending == 0
    g.release.set()
