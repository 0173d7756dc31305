"""A fit clock that stands still, for the schedule's tests (training/callbacks.py reads the run's time from it)."""

from __future__ import annotations

from training.callbacks import FitClock


class StoppedClock(FitClock):
    """A run that has fitted for exactly `elapsed` seconds."""

    def __init__(self, elapsed: float) -> None:
        super().__init__(seconds_before=0.0)
        self.fixed = elapsed

    def elapsed(self) -> float:
        return self.fixed
