"""Per-request observability: one logfmt line per request at INFO, and the counters `!bard stats` shows.

A line says who (a keyed hash of the user id, never the id), how much (seed and output lengths, never the
text), how long (queue wait, generation) and how it ended:

    request user=3f9a1c0d22be seed_chars=12 chars=398 queue_wait_ms=4 gen_ms=870 outcome=ok
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from bot.metrics import BardMetrics

log = logging.getLogger("bot.requests")  # its own logger, so owners can route or silence it

# How a request ended: the `outcome=` of its log line, and a counter in `!bard stats`.
Outcome = Literal["ok", "busy", "timeout", "error", "cooldown", "bad_options", "closed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
WINDOW = 1000  # the percentiles are over this many recent generations: recent behaviour, bounded memory


class RequestStats:
    """Counts outcomes, keeps recent timings, logs each request as one line, and counts it in the metrics if given."""

    def __init__(
        self,
        *,
        salt: bytes | None = None,
        window: int = WINDOW,
        clock: Callable[[], float] = time.monotonic,
        metrics: BardMetrics | None = None,
    ):
        # A random key per process unless one is configured: the hashes then link one user's requests within a run,
        # and cannot be matched against known user ids by anyone without the key.
        self._key = salt or secrets.token_bytes(16)
        self._clock = clock
        self.started = clock()
        self.metrics = metrics
        self.outcomes: Counter[Outcome] = Counter()
        self.gen_ms: deque[float] = deque(maxlen=window)
        self.queue_wait_ms: deque[float] = deque(maxlen=window)

    def user_hash(self, user_id: int) -> str:
        """A stable pseudonym for the user: 12 hex digits of HMAC-SHA256(key, id)."""
        return hmac.new(self._key, str(user_id).encode(), hashlib.sha256).hexdigest()[:12]

    def record(
        self,
        user_id: int,
        outcome: Outcome,
        *,
        seed_chars: int | None = None,
        chars: int | None = None,
        queue_wait: float | None = None,
        gen_time: float | None = None,
    ) -> None:
        """Count one request and log its line; times in seconds, absent fields left out of the line."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.outcomes[outcome] += 1
        if queue_wait is not None:
            self.queue_wait_ms.append(queue_wait * 1000)
        if outcome == "ok" and gen_time is not None:
            self.gen_ms.append(gen_time * 1000)
        if self.metrics is not None:
            self.metrics.observe(outcome, chars=chars, queue_wait=queue_wait, gen_time=gen_time)
        fields: dict[str, Any] = {
            "user": self.user_hash(user_id),
            "seed_chars": seed_chars,
            "chars": chars,
            "queue_wait_ms": None if queue_wait is None else round(queue_wait * 1000),
            "gen_ms": None if gen_time is None else round(gen_time * 1000),
            "outcome": outcome,
        }
        log.info("request %s", " ".join(f"{k}={v}" for k, v in fields.items() if v is not None))

    def snapshot(self) -> dict[str, Any]:
        """The counters and percentiles (ms, None before any generation) for `!bard stats`."""
        o = self.outcomes
        return {
            "uptime_s": self._clock() - self.started,
            "requests": sum(o.values()),
            **{name: o[name] for name in OUTCOMES},
            "window": len(self.gen_ms),
            "gen_p50_ms": percentile(self.gen_ms, 50),
            "gen_p95_ms": percentile(self.gen_ms, 95),
            "queue_wait_p95_ms": percentile(self.queue_wait_ms, 95),
        }


def percentile(values: Sequence[float] | deque[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
