"""Admission by expected wait: the service accepts a request when its reply is expected within BARD_MAX_WAIT.

The expected wait is what the batches ahead of it still cost (the one generating, then the queue in batches of
max_batch, the newcomer's own batch last), priced by BatchCost: seconds per character step for a batch of b
streams, scale × (fixed + per_stream × b). A batch of 32 costs a few times one stream, not 32 times, so a
burst after a quiet spell is priced at what a full batch costs, not at what the last lone request cost.
fixed and per_stream come from two short timed batches at start (one stream, max_batch streams); scale then
follows the batches actually run, so a slower machine, heavier rules or monologues that stop early are learnt
within a few batches. This module is pure: the service measures and asks.
"""

from __future__ import annotations

from collections.abc import Sequence

CALIBRATION_CHARS = 16  # the start-up batches' length: long enough to time, short enough not to delay start-up
LEARNING_RATE = 0.3  # how far one batch moves the scale towards what it measured
RATIO_LIMITS = (0.2, 5.0)  # one batch's measured/priced ratio is held to these: a stall is not the new normal
MIN_STEP = 1e-6  # seconds: the smallest price a step is given, so that a wait is never free


class BatchCost:
    """What a batch of generations costs, in seconds: priced from start-up timings, corrected by measurement."""

    def __init__(self, fixed: float = 1e-3, per_stream: float = 1e-3) -> None:
        self.fixed = fixed  # seconds per step whatever the batch's size
        self.per_stream = per_stream  # seconds per step per stream
        self.scale = 1.0

    def calibrate(self, one: float, full: float, streams: int, chars: int) -> None:
        """Set the shape from two timed batches of `chars` steps: one stream (`one` s), `streams` streams (`full`
        s); the scale starts again at 1."""
        one_step, full_step = one / chars, full / chars
        per_stream = (full_step - one_step) / (streams - 1) if streams > 1 else one_step / 2
        self.per_stream = max(per_stream, MIN_STEP)
        self.fixed = max(one_step - self.per_stream, MIN_STEP)
        self.scale = 1.0

    def batch_seconds(self, streams: int, chars: int) -> float:
        """The price of one batch: `streams` generations of at most `chars` characters."""
        return self.scale * chars * (self.fixed + self.per_stream * streams)

    def observe(self, streams: int, chars: int, seconds: float) -> None:
        """Learn from a batch that ran: `streams` generations asked for at most `chars` characters, `seconds` long."""
        priced = chars * (self.fixed + self.per_stream * streams)
        if priced <= 0 or seconds <= 0:
            return
        ratio = min(max(seconds / priced / self.scale, RATIO_LIMITS[0]), RATIO_LIMITS[1])
        self.scale *= 1 + LEARNING_RATE * (ratio - 1)


def expected_wait(cost: BatchCost, ahead: Sequence[int], running_left: float, chars: int, max_batch: int) -> float:
    """Seconds until a request for `chars` characters would have its reply, queued behind requests for `ahead`
    characters (oldest first) and a batch with `running_left` seconds still to run."""
    jobs = [*ahead, chars]
    total = running_left
    for start in range(0, len(jobs), max_batch):
        batch = jobs[start : start + max_batch]
        total += cost.batch_seconds(len(batch), max(batch))
    return total
