"""The run directory (git-ignored, default runs/<model name>/): where a run keeps everything needed to continue, and
its state as a typed record; starting a run there, and reopening one to resume it or export it.

  last.keras        the model and optimizer after the last finished epoch (for --resume)
  best.weights.h5   the weights with the best val loss so far (what is exported, also by --export-only)
  state.json        the RunState: epoch, step, best val loss, early-stopping counter, fitting seconds, history,
                    config, corpus checksum
  log.csv           losses per epoch;  tensorboard/  TensorBoard logs
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from training.config import TrainConfig
from training.corpus import Corpus
from training.errors import TrainError

KEPT_ON_RESUME = ("epochs", "max_minutes", "patience")  # how long a run may go on: the options a resume may change


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def last(self) -> Path:
        return self.root / "last.keras"

    @property
    def best(self) -> Path:
        return self.root / "best.weights.h5"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def csv(self) -> Path:
        return self.root / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"


def replace_atomically(target: Path, write: Any) -> None:
    """Write through a temporary name in the same folder, then rename over target."""
    tmp = target.with_name(f".tmp-{target.name}")  # keeps the suffix Keras insists on
    write(tmp)
    os.replace(tmp, target)


@dataclass
class RunState:
    """Where a run stands (what state.json holds): the callbacks update it as epochs finish; the checkpoint
    callback writes it after each one, with the run's config and corpus checksum to check a resume against."""

    epoch: int  # epochs finished
    step: int  # steps finished: the learning rate schedule's position
    best_val_loss: float
    best_epoch: int
    best_train_loss: float | None
    wait: int  # early stopping: epochs since the best
    history: list[dict[str, float]]  # per epoch: epoch, loss, val_loss, learning_rate, seconds
    config: dict[str, Any]  # the run's TrainConfig, as to_dict() writes it
    corpus_sha256: str
    train_seconds: float = 0.0  # fitting time, resumes included (absent from state files before it was counted)

    @classmethod
    def fresh(cls, config: TrainConfig, corpus_sha256: str) -> RunState:
        """The state of a run before its first epoch."""
        return cls(0, 0, math.inf, 0, None, 0, [], config.to_dict(), corpus_sha256)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """The state a dict (state.json's, or worker 0's on a cluster) holds; keys this version does not know are
        left out."""
        if not isinstance(data, dict):
            raise TrainError("the run's state is not a JSON object: not a state file of bard-train")
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING]
        if missing:
            raise TrainError(f"the run's state lacks {', '.join(missing)}: not a state file of bard-train")
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, path: Path) -> RunState:
        return cls.from_dict(json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        """Written atomically: a state file always names a complete checkpoint."""
        replace_atomically(path, lambda p: p.write_text(json.dumps(self.to_dict(), indent=2) + "\n"))


def start_run(paths: RunPaths, config: TrainConfig, corpus: Corpus, *, force: bool) -> RunState:
    """An empty run directory and a fresh state; an earlier run there is replaced only with force."""
    if paths.state.exists() and not force:
        raise TrainError(f"run directory {paths.root} already holds a run (use --resume, or --force to restart)")
    paths.root.mkdir(parents=True, exist_ok=True)
    for p in (paths.last, paths.best, paths.state, paths.csv):
        p.unlink(missing_ok=True)
    return RunState.fresh(config, corpus.sha256)


def resumed_config(saved: dict[str, Any], given: TrainConfig) -> TrainConfig:
    """A resumed run's config: the run's hyperparameters, and how long it may go on from the options given."""
    saved = TrainConfig.from_dict(saved).to_dict()
    return TrainConfig.from_dict(saved | {k: getattr(given, k) for k in KEPT_ON_RESUME})


def reopen_run(paths: RunPaths, config: TrainConfig, corpus: Corpus, flag: str) -> tuple[TrainConfig, RunState]:
    """The config and state of the run in paths, from its last checkpoint; `flag` names the option for errors.

    The run's hyperparameters stand; only how long it may go on (epochs, max_minutes, patience) can change.
    """
    if not (paths.state.exists() and paths.last.exists() and paths.best.exists()):
        raise TrainError(f"{flag}: {paths.root} holds no checkpoint")
    state = RunState.load(paths.state)
    if state.corpus_sha256 != corpus.sha256:
        raise TrainError(f"{flag}: the corpus differs from the one this run started on")
    return resumed_config(state.config, config), state


def open_run(
    paths: RunPaths, config: TrainConfig, corpus: Corpus, *, resume: bool, export_only: bool, force: bool
) -> tuple[TrainConfig, RunState]:
    """The run in paths to go on with (--resume) or export (--export-only), or a new run there."""
    if resume or export_only:
        return reopen_run(paths, config, corpus, "--export-only" if export_only else "--resume")
    return config, start_run(paths, config, corpus, force=force)
