"""Inference for the bot, off the event loop: an admitted queue, one batcher, one inference thread.

Requests wait in a queue. One is admitted while its reply is expected within max_wait (BARD_MAX_WAIT; see
bot/admission.py) and the queue holds fewer than queue_bound; otherwise the caller is told at once that the bard is
busy, and for how long. A single batcher task takes everything queued, up to max_batch, and runs it as one
Engine.generate_batch call per model in the service's own inference thread: twenty requests cost a few times
one, not twenty. The service serves one model, or every model of a models folder (BARD_MODELS_DIR) by name,
with a default; all share the one thread, which the service makes and, when closed, shuts down.
Whoever opens a service closes it: open_service() does both. This module knows numpy and model_store, never discord.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.admission import CALIBRATION_CHARS, BatchCost, expected_wait
from bot.jobs import (  # the ways a request is refused or fails: callers import them from here
    Busy,
    GenerationTimeout,
    Job,
    PendingGeneration,
    ReloadReport,
    ServiceClosed,
    UnknownModel,
    fail,
)
from bot.model_names import choose_default, refuse_case_twins, served_spelling
from model_store import store
from model_store.engine import Engine, Generation, GenerationRequest
from model_store.store import LoadedModel, ModelError

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL = 0.001  # seconds; see GenerationService.start
PROBE_CHARS = 4  # the health check's generation: enough to run every layer and the sampler, cheap enough to ignore


class GenerationService:
    """Serves generation requests from one model or several, by name, in batches, in its own inference thread."""

    def __init__(
        self,
        models: LoadedModel | Mapping[str, LoadedModel],
        *,
        default: str | None = None,
        queue_bound: int = 1000,
        max_batch: int = 32,
        timeout: float = 60.0,
        max_wait: float = 20.0,
        seed_speaker: bool = False,
        topic: float = 0.0,
    ) -> None:
        models = {models.name: models} if isinstance(models, LoadedModel) else dict(models)
        if not models:
            raise ModelError("no model to serve")
        self.engines = {name: Engine(model) for name, model in models.items()}
        self.default = choose_default(list(self.engines), default)
        # The one thread inference runs in (and BLAS is kept to one thread too: see bot/__init__.py); close() ends it.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bard-inference")
        self.queue_bound = queue_bound
        self.max_batch = max_batch
        self.timeout = timeout
        self.max_wait = max_wait
        self.cost = BatchCost()  # what a batch costs: calibrated at start, learnt from every batch
        self.seed_speaker = seed_speaker  # the seed chooses who speaks (model_store/rules/who_speaks.py)
        self.topic = topic  # how strongly each monologue keeps to its seed's subject (model_store/rules/subject.py)
        self.counters: Counter[str] = Counter()
        self._queue: deque[Job] = deque()
        self._queued = asyncio.Event()  # set when a job is queued: wakes the batcher
        self._pending = 0  # queued + generating: what the bound limits
        self._running_until = 0.0  # event-loop time the batch generating now is expected to end
        self._last_chars = 400  # the length the last request asked for: the expected wait's guess for the next
        self._batcher: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The default model's engine."""
        return self.engines[self.default]

    @property
    def model(self) -> LoadedModel:
        """The default model."""
        return self.engine.model

    def describe(self) -> str:
        """What is served, for logs and banners: "shakespeare", or "alpha, beta (default alpha)"."""
        if len(self.engines) == 1:
            return self.model.name
        return f"{', '.join(self.names)} (default {self.default})"

    @property
    def names(self) -> list[str]:
        """The models served, by name."""
        return sorted(self.engines)

    def model_named(self, name: str | None) -> LoadedModel:
        """The model of that name, in any case (None: the default); raises UnknownModel."""
        return self._engine_named(name).model

    def served_name(self, name: str | None) -> str:
        """The served model's own spelling of a name given in any case (None: the default's); raises UnknownModel."""
        if name is None:
            return self.default
        found = served_spelling(list(self.engines), name)
        if found is None:
            raise UnknownModel(f"no model named {name!r} here (models: {', '.join(sorted(self.engines))})")
        return found

    def _engine_named(self, name: str | None) -> Engine:
        return self.engines[self.served_name(name)]

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def serving(self) -> bool:
        """Started (warmed up, batcher running) and not closed."""
        return self._batcher is not None and not self._batcher.done() and not self._closed

    def stats(self) -> dict[str, int]:
        """Counters for `!bard info` and the logs."""
        counted = ("served", "busy", "timeouts", "errors", "batches")
        return {name: self.counters[name] for name in counted} | {"pending": self._pending}

    async def start(self) -> None:
        """Warm up (first BLAS call, the executor's thread) and start the batcher."""
        if self._batcher is not None:
            return
        # The sampling loop is Python that holds the GIL; by default the event loop may then wait 5 ms for it
        # at every switch, and tens of ms per callback (measured: loop lag 60-160 ms with 20 requests, 5 ms
        # with 1 ms slices). Shorter slices cost the inference thread a little throughput, the loop nothing.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        for engine in self.engines.values():
            await self._warm_up(engine)
        await self._calibrate(self.engine)
        self._batcher = asyncio.create_task(self._run_batches(), name="bard-batcher")

    async def _warm_up(self, engine: Engine) -> None:
        request = GenerationRequest("", max_chars=8, temperature=0.0, rng=np.random.default_rng(0))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, engine.generate_batch, [request])

    async def _calibrate(self, engine: Engine) -> None:
        """Price batches (self.cost) from timed ones: one stream, then max_batch streams, twice each, the slower kept
        (a machine busy with other work runs a short batch fast or slow by luck; too low a price admits too many)."""
        loop = asyncio.get_running_loop()
        seconds = {1: 0.0, self.max_batch: 0.0}
        for streams in [*seconds, *seconds]:
            requests = [
                GenerationRequest("", max_chars=CALIBRATION_CHARS, temperature=0.0, rng=np.random.default_rng(0))
                for _ in range(streams)
            ]
            began = loop.time()
            await loop.run_in_executor(self.executor, engine.generate_batch, requests)
            seconds[streams] = max(seconds[streams], loop.time() - began)
        self.cost.calibrate(seconds[1], seconds[self.max_batch], self.max_batch, CALIBRATION_CHARS)

    def expected_wait(self, max_chars: int | None = None) -> float:
        """Seconds until a request accepted now for max_chars characters (None: as long as the last one queued)
        would have its reply: the batch generating now, the queue, its own batch."""
        ahead = [job.request.max_chars for job in self._queue]
        chars = max_chars or (ahead[-1] if ahead else self._last_chars)
        running_left = max(self._running_until - asyncio.get_running_loop().time(), 0.0) if self._pending else 0.0
        return expected_wait(self.cost, ahead, running_left, chars, self.max_batch)

    def checksums(self) -> dict[str, str]:
        """The sha256 of each served model's weights, by name (the /metrics page's model info)."""
        return {name: str(e.model.manifest["files"].get("weights.npz", "")) for name, e in self.engines.items()}

    def split_seed(self, seed: str, model: str | None = None) -> tuple[str | None, str]:
        """(speaker, speech) for a seed opening with a name and a colon, by the model's Speakers.split_seed; (None,
        seed) when it names nobody, or the model has no speakers or is not served (submit says so)."""
        found = served_spelling(list(self.engines), self.default if model is None else model)
        engine = self.engines[found] if found is not None else None
        if engine is None or engine.speakers is None:
            return None, seed
        return engine.speakers.split_seed(seed)

    def speakers(self, limit: int, contains: str = "", model: str | None = None) -> tuple[list[tuple[str, int]], int]:
        """(the `limit` speakers with most speeches whose name contains `contains`, how many the model knows)."""
        known = self._engine_named(model).speakers
        return (known.best(limit, contains), len(known.counts)) if known is not None else ([], 0)

    def submit(
        self,
        seed: str,
        *,
        temperature: float,
        max_chars: int,
        top_k: int = 0,
        top_p: float = 1.0,
        monologue: bool = True,
        model: str | None = None,
        verse: bool = True,
        history: str = "",
        speaker: str | None = None,
        clean: bool = False,
        couplet: bool = True,
        sonnet: bool = False,
    ) -> PendingGeneration:
        """Queue one request for a model (None: the default): a monologue, after an exchange (history) and by a named
        speaker (None: the model chooses) if given, its verse closing on a couplet unless not `couplet`, its words
        clean if `clean`; or a `sonnet`. Raises ValueError (bad values, a sonnet without rhymes, clean mode without a
        lexicon, UnknownModel), Busy (its reply is not expected within max_wait, or the queue is at its bound) or
        ServiceClosed, at once. A request that finds nothing ahead of it is always accepted."""
        if self._closed:
            raise ServiceClosed("the bard is shutting down")
        if self._batcher is None:
            raise RuntimeError("GenerationService.start() was not awaited")
        name = self.served_name(model)
        request = GenerationRequest(
            seed,
            max_chars=max_chars,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            rng=np.random.default_rng(),
            monologue=monologue,
            verse=verse,
            history=history,
            speaker=speaker,
            seed_speaker=self.seed_speaker,
            topic=self.topic,
            clean=clean,
            couplet=couplet,
            sonnet=sonnet,
        )
        if clean and self.engines[name].names is None:  # checked here: a batch must not fail on it
            raise ValueError(f"model {name} has no lexicon, so clean mode cannot keep words out of it")
        if sonnet and not self.engines[name].sonnets:
            raise ValueError(f"the model {name} has no rhymes: it cannot write sonnets")
        if self._pending >= self.queue_bound:
            self.counters["busy"] += 1
            raise Busy(f"{self._pending} requests are already waiting")
        wait = self.expected_wait(max_chars)
        if self._pending and wait > self.max_wait:
            self.counters["busy"] += 1
            raise Busy(f"a reply is {wait:.0f} s away, more than {self.max_wait:g} s", retry_after=wait)
        self._last_chars = max_chars
        return PendingGeneration(self, self._enqueue(Job(request, name, *self._now_future())))

    def _now_future(self) -> tuple[asyncio.Future[Generation], float]:
        loop = asyncio.get_running_loop()
        return loop.create_future(), loop.time()

    def _enqueue(self, job: Job) -> Job:
        self._pending += 1
        self._queue.append(job)
        self._queued.set()
        return job

    async def probe(self, deadline: float) -> float:
        """The health check: a tiny generation through the queue and the inference thread; returns its seconds.

        Raises GenerationTimeout past `deadline`, ServiceClosed, or what generation raised. It is not held to the
        queue bound: a full queue means busy, not broken, and the check is whether the thread still answers.
        """
        if self._closed:
            raise ServiceClosed("the bard is shutting down")
        if self._batcher is None:
            raise RuntimeError("GenerationService.start() was not awaited")
        loop = asyncio.get_running_loop()
        request = GenerationRequest("", max_chars=PROBE_CHARS, temperature=0.0, rng=np.random.default_rng(0))
        job = self._enqueue(Job(request, self.default, *self._now_future(), probe=True))
        try:
            await asyncio.wait_for(asyncio.shield(job.future), deadline)
        except TimeoutError:
            job.future.cancel()
            raise GenerationTimeout(f"no answer within {deadline:g} s") from None
        except asyncio.CancelledError:
            job.future.cancel()
            raise
        return loop.time() - job.submitted

    async def _run_batches(self) -> None:
        while True:
            while not self._queue:
                self._queued.clear()
                await self._queued.wait()
            jobs = [self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))]
            try:
                live = [j for j in jobs if not j.future.done()]  # timed out while queued: skip
                if live:
                    started = asyncio.get_running_loop().time()
                    for job in live:
                        job.started = started
                    # One batch per model; requests in flight finish on the engine they started with, even if a
                    # reload swaps it now. A model removed since a request was queued fails that request.
                    engines = dict(self.engines)
                    for name in dict.fromkeys(j.model for j in live):
                        group = [j for j in live if j.model == name]
                        if name in engines:
                            await self._generate(engines[name], group)
                        else:
                            fail(group, UnknownModel(f"the model {name!r} was removed"))
            except asyncio.CancelledError:  # closing: nobody will finish these
                fail(jobs, ServiceClosed("the bard is shutting down"))
                raise
            except Exception:  # a bug here must not stop the batcher: every later request would time out
                log.exception("batcher failed on a batch of %d", len(jobs))
                fail(jobs, RuntimeError("batcher failed"))
            finally:
                self._pending -= len(jobs)

    async def _generate(self, engine: Engine, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        chars, began = max(j.request.max_chars for j in jobs), loop.time()
        self._running_until = began + self.cost.batch_seconds(len(jobs), chars)
        try:
            results = await loop.run_in_executor(self.executor, engine.generate_batch, [j.request for j in jobs])
        except Exception as exc:
            if len(jobs) > 1:
                # One bad request must not sink the others: run each alone to find it.
                log.warning("a batch of %d failed (%s); running its requests one by one", len(jobs), exc)
                for job in jobs:
                    await self._generate(engine, [job])
                return
            job = jobs[0]
            job.finished = loop.time()
            if not job.probe:
                self.counters["errors"] += 1
            if not job.future.done():
                job.future.set_exception(exc)
            return
        self.counters["batches"] += 1
        finished = loop.time()
        # Priced by the characters asked for, learnt by those the longest generation wrote: a lone monologue that
        # stopped early must not make a batch, which runs until its longest is done, look cheaper than it is.
        self.cost.observe(len(jobs), max(r.sampled for r in results) or chars, finished - began)
        for job, result in zip(jobs, results, strict=True):
            job.finished = finished
            if not job.future.done():
                if not job.probe:
                    self.counters["served"] += 1
                job.future.set_result(result)

    async def reload(self, model_dir: Path) -> LoadedModel:
        """Load, verify and warm up the model in model_dir, then serve it (alone). On any failure the old one stays."""
        async with self._reload_lock:
            loaded = await asyncio.to_thread(store.load_settled, model_dir)  # ModelError: refused
            engine = await asyncio.to_thread(Engine, loaded)
            await self._warm_up(engine)  # a model that cannot generate is refused too
            old = self.model.name
            self.engines, self.default = {loaded.name: engine}, loaded.name
            log.info("reloaded: now serving %s (was %s)", loaded.name, old)
            return loaded

    async def reload_folder(self, folder: Path, default: str | None = None) -> ReloadReport:
        """Serve the models now in a models folder: added ones are loaded, replaced ones reloaded (a model is
        replaced when its files' checksums change), removed ones dropped. A model that fails to load or to generate
        is reported and left out, and one that served before goes on serving. Raises ModelError when nothing at all
        would be served."""
        async with self._reload_lock:
            loaded, failed = await asyncio.to_thread(store.load_folder, folder)
            loaded = refuse_case_twins(loaded, failed, first=list(self.engines))
            engines: dict[str, Engine] = {}
            added, replaced = [], []
            for name, model in loaded.items():
                current = self.engines.get(name)
                if current is not None and current.model.manifest["files"] == model.manifest["files"]:
                    engines[name] = current
                    continue
                try:
                    engine = await asyncio.to_thread(Engine, model)
                    await self._warm_up(engine)
                except Exception as exc:  # a model that cannot generate is refused, as one that cannot load
                    failed[name] = f"{type(exc).__name__}: {exc}"
                    continue
                engines[name] = engine
                (added if current is None else replaced).append(name)
            kept = {name: self.engines[name] for name in failed if name in self.engines}
            engines |= kept
            if not engines:
                reasons = "; ".join(f"{name}: {why}" for name, why in failed.items()) or "it holds no model"
                raise ModelError(f"nothing in {folder} can be served ({reasons})")
            removed = sorted(set(self.engines) - set(engines))
            keep_default = self.default if self.default in engines else None
            self.engines, self.default = engines, choose_default(list(engines), default or keep_default)
            log.info("reloaded %s: serving %s; default %s", folder, ", ".join(sorted(engines)), self.default)
            for name, why in failed.items():
                log.warning("model %s not (re)loaded: %s", name, why)
            return ReloadReport(
                tuple(sorted(engines)), self.default, tuple(added), tuple(replaced), tuple(removed), failed
            )

    async def close(self) -> None:
        """Stop taking requests (those still queued fail with ServiceClosed) and end the inference thread. Idempotent;
        called by the service's owner (see open_service)."""
        self._closed = True
        if self._batcher is not None:
            self._batcher.cancel()
            await asyncio.gather(self._batcher, return_exceptions=True)
            self._batcher = None
        queued = list(self._queue)
        self._queue.clear()
        self._pending -= len(queued)
        fail(queued, ServiceClosed("the bard is shutting down"))
        self.executor.shutdown(wait=False, cancel_futures=True)  # the only place the thread is ended


@asynccontextmanager
async def open_service(settings: Settings) -> AsyncIterator[GenerationService]:
    """The configured service, loaded (off the event loop), warmed up and serving; closed when the block ends.
    Raises store.ModelError before anything is served."""
    service = await asyncio.to_thread(create_service, settings)
    try:
        await service.start()
        yield service
    finally:
        await service.close()


def create_service(settings: Settings) -> GenerationService:
    """Load and verify the configured model, or every model of the models folder, and build the service (not yet
    started; whoever builds it closes it); raises store.ModelError. In a folder, models that fail to load are logged
    and left out."""
    if settings.models_dir is None:
        models: LoadedModel | dict[str, LoadedModel] = store.load(settings.model_dir)
    else:
        models, failed = store.load_folder(settings.models_dir)
        models = refuse_case_twins(models, failed)
        for name, why in failed.items():
            log.warning("model %s left out: %s", name, why)
        if not models:
            reasons = "; ".join(f"{name}: {why}" for name, why in failed.items()) or "it holds no model"
            raise ModelError(f"no model in {settings.models_dir} can be served ({reasons})")
    return GenerationService(
        models,
        default=settings.default_model,
        queue_bound=settings.queue_bound,
        max_batch=settings.max_batch,
        timeout=settings.timeout,
        max_wait=settings.max_wait,
        seed_speaker=settings.seed_speaker,
        topic=settings.topic,
    )
