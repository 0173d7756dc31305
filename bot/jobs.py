"""A generation request's life in the service (bot/service.py): the job queued, the handle its caller awaits, and the
ways it can be refused or fail. Nothing here runs the model."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from model_store.engine import Generation, GenerationRequest


class _Timed(Protocol):
    """What a PendingGeneration reads from its service."""

    timeout: float
    counters: Counter[str]


class Busy(Exception):
    """The bard cannot take the request now: the caller should say so rather than wait. retry_after: in about how
    many seconds it could (None: the queue is at its bound)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GenerationTimeout(Exception):
    """A request waited and ran longer than the per-request timeout."""


class ServiceClosed(Exception):
    """The service is shutting down and takes no more requests."""


class UnknownModel(ValueError):
    """A request named a model the service does not serve."""


@dataclass(frozen=True)
class ReloadReport:
    """What a reload of a models folder changed."""

    serving: tuple[str, ...]
    default: str
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)  # name -> why (a model that served before still does)


@dataclass
class Job:
    """One request in the queue, with what the service learns about it on the way."""

    request: GenerationRequest
    model: str  # the name of the model that serves it
    future: asyncio.Future[Generation]
    submitted: float  # event-loop time: the timeout counts from here
    probe: bool = False  # the health check's: not counted as a user's request
    started: float | None = None  # when its batch began generating
    finished: float | None = None  # when its result (or error) came back


class PendingGeneration:
    """A request accepted into the queue; await result() for its Generation."""

    def __init__(self, service: _Timed, job: Job) -> None:
        self._service, self._job = service, job

    async def result(self) -> Generation:
        """The generation; raises GenerationTimeout past the service's timeout, or what generation raised."""
        job, timeout = self._job, self._service.timeout
        remaining = timeout - (asyncio.get_running_loop().time() - job.submitted)
        try:
            # shield: a timeout must not cancel a batch other requests share; the job is dropped instead.
            return await asyncio.wait_for(asyncio.shield(job.future), max(remaining, 0))
        except TimeoutError:
            job.future.cancel()
            self._service.counters["timeouts"] += 1
            raise GenerationTimeout(f"no result within {timeout:g} s") from None
        except asyncio.CancelledError:
            job.future.cancel()
            raise

    def timings(self) -> tuple[float, float | None]:
        """(seconds queued, seconds generating or None if it never started), up to now for an unfinished job."""
        job, now = self._job, asyncio.get_running_loop().time()
        if job.started is None:
            return now - job.submitted, None
        return job.started - job.submitted, (job.finished or now) - job.started


def fail(jobs: list[Job], exc: Exception) -> None:
    """Fail every job not already done (or dropped) with exc."""
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(exc)
