"""The callbacks that keep a run's state and files: one job each (schedule, budget, history, early stopping,
checkpoints, a sample). They share the run's RunState (training/run_dir.py) and a FitClock; Keras calls them in
list order, and train.py lists them so that each epoch's checkpoint is written after everything it records.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from model_store import store
from model_store.engine import Engine
from model_store.vocab import Vocab
from training.config import TrainConfig
from training.model import numpy_weights
from training.run_dir import RunPaths, RunState, replace_atomically


class FitClock:
    """Seconds of fitting: this invocation's (what the time budget limits) and the whole run's, resumes included."""

    def __init__(self, seconds_before: float) -> None:
        self.started = time.monotonic()
        self.seconds_before = seconds_before

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run_seconds(self) -> float:
        return self.seconds_before + self.elapsed()


WARMUP_SHARE = 0.1  # the warm-up takes at most this share of a run, so that a short run reaches its peak rate


class LearningRateSchedule(keras.callbacks.Callback):
    """Sets the learning rate before every step: constant, or a linear warm-up and then a cosine decay to the
    floor over the run's steps, or over its time budget when that is the tighter bound. Both are set from the
    run's own length: the warm-up is --warmup-steps or a tenth of the run, whichever is shorter."""

    def __init__(self, config: TrainConfig, state: RunState, total_steps: int, clock: FitClock) -> None:
        super().__init__()
        self.config, self.state, self.total_steps, self.clock = config, state, total_steps, clock

    def progress(self) -> float:
        """Fraction of the run done: by steps, or by time (the whole run's, resumes included, so a resumed run
        goes on down the same curve) when that is the tighter bound."""
        p = self.state.step / max(1, self.total_steps)
        if self.config.max_minutes > 0:
            p = max(p, self.clock.run_seconds() / (self.config.max_minutes * 60))
        return min(p, 1.0)

    def warmup_steps(self) -> int:
        """--warmup-steps, or a tenth of the run's steps when that is fewer (a run of 23 steps warms up over 2)."""
        if not self.config.warmup_steps:
            return 0
        return max(1, min(self.config.warmup_steps, round(WARMUP_SHARE * self.total_steps)))

    def rate(self) -> float:
        c, step = self.config, self.state.step
        if c.lr_schedule == "constant":
            return c.learning_rate
        warmup = self.warmup_steps()
        # Under a time budget the warm-up also ends at a tenth of the time, whatever the steps.
        timed = self.clock.run_seconds() / (c.max_minutes * 60) if c.max_minutes > 0 else 0.0
        if step < warmup and timed < WARMUP_SHARE:
            return c.learning_rate * max((step + 1) / warmup, timed / WARMUP_SHARE)
        floor = c.learning_rate * c.min_lr_ratio
        return floor + (c.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * self.progress()))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate()


class StepCounter(keras.callbacks.Callback):
    """Counts finished steps in the run's state: the schedule's position, carried across resumes."""

    def __init__(self, state: RunState) -> None:
        super().__init__()
        self.state = state

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.state.step += 1


class TimeBudget(keras.callbacks.Callback):
    """Stops fitting once the run has fitted for max_minutes, resumes included (0: never); a resume may raise it."""

    def __init__(self, max_minutes: float, clock: FitClock) -> None:
        super().__init__()
        self.max_minutes, self.clock = max_minutes, clock
        self.reached = False

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.max_minutes > 0 and self.clock.run_seconds() >= self.max_minutes * 60:
            self.reached = True
            self.model.stop_training = True  # Keras still validates this (partial) epoch


class EpochHistory(keras.callbacks.Callback):
    """Records every finished epoch in the run's state: its losses, learning rate and the run's seconds so far."""

    def __init__(self, state: RunState, schedule: LearningRateSchedule, clock: FitClock) -> None:
        super().__init__()
        self.state, self.schedule, self.clock = state, schedule, clock

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.state.epoch = epoch + 1
        self.state.history.append(
            {
                "epoch": epoch + 1,
                "loss": float(logs["loss"]),
                "val_loss": float(logs["val_loss"]),
                "learning_rate": self.schedule.rate(),
                "seconds": round(self.clock.run_seconds(), 1),
            }
        )


class EarlyStopping(keras.callbacks.Callback):
    """Keeps the best val loss in the run's state, and stops after `patience` epochs without a better one."""

    def __init__(self, state: RunState, patience: int) -> None:
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        s, val = self.state, float(logs["val_loss"])
        if val < s.best_val_loss:
            s.best_val_loss, s.best_epoch, s.best_train_loss, s.wait = val, epoch + 1, float(logs["loss"]), 0
            return
        s.wait += 1
        if s.wait >= self.patience:
            print(f"early stopping: val loss has not improved for {s.wait} epochs")
            self.model.stop_training = True


class Checkpoints(keras.callbacks.Callback):
    """After every epoch: the best weights (when this epoch is the best), the model with its optimizer, and
    state.json, written last so that a state file always names a complete checkpoint."""

    def __init__(self, paths: RunPaths, state: RunState, clock: FitClock) -> None:
        super().__init__()
        self.paths, self.state, self.clock = paths, state, clock

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.state.best_epoch == epoch + 1:
            replace_atomically(self.paths.best, lambda p: self.model.save_weights(str(p)))
        replace_atomically(self.paths.last, lambda p: self.model.save(str(p)))
        self.state.train_seconds = self.clock.run_seconds()
        self.state.save(self.paths.state)


class SampleText(keras.callbacks.Callback):
    """Prints a short sample after every epoch, as char-rnn does: the quickest check that it learns."""

    def __init__(self, vocab: Vocab, arch: dict[str, int], chars: int, seed: int) -> None:
        super().__init__()
        self.vocab, self.arch, self.chars, self.seed = vocab, arch, chars, seed

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        model = store.in_memory(numpy_weights(self.model), self.vocab, self.arch, name="sample")
        g = Engine(model).generate("", max_chars=self.chars, temperature=0.8, rng=np.random.default_rng(self.seed))
        print(f"--- sample after epoch {epoch + 1} (temperature 0.8) ---\n{g.text}\n---", flush=True)
