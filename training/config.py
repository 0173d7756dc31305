"""Every training hyperparameter, with its default: one flat, commented block.

The CLI exposes each field as --field-name; the exported manifest records them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    # network
    layers: int = 2  # stacked LSTM layers
    units: int = 448  # LSTM units per layer (2x448 keeps the shipped export under 25 MB)
    embedding_dim: int = 64  # size of each character's embedding
    dropout: float = 0.25  # after each LSTM layer, during training only
    # data
    seq_len: int = 128  # characters per training sequence (backprop through time)
    batch_size: int = 128  # sequences per step
    val_fraction: float = 0.1  # the last fraction of every source is held out for validation
    # optimisation
    epochs: int = 30  # upper bound; early stopping or --max-minutes may end sooner
    learning_rate: float = 2e-3  # peak Adam learning rate
    lr_schedule: str = "cosine"  # "cosine" (warm-up, then decay to min_lr over the run) or "constant"
    warmup_steps: int = 100  # linear warm-up at the start of the cosine schedule
    min_lr_ratio: float = 0.05  # the cosine schedule ends at learning_rate * min_lr_ratio
    clipnorm: float = 1.0  # gradient clipping by global norm
    patience: int = 4  # early stopping: epochs without a better val loss
    max_minutes: float = 0.0  # wall-clock budget for fitting (0 = none); the cosine decays to it
    seed: int = 1337  # seeds Python, numpy and TensorFlow: same seed, same run
    # reporting
    sample_chars: int = 240  # length of the sample printed after every epoch (0 = none)

    def __post_init__(self) -> None:
        checks = {
            "layers": 1 <= self.layers <= 8,
            "units": 1 <= self.units <= 8192,
            "embedding_dim": 1 <= self.embedding_dim <= 4096,
            "dropout": 0 <= self.dropout < 1,
            "seq_len": 2 <= self.seq_len <= 10_000,
            "batch_size": 1 <= self.batch_size <= 65_536,
            "val_fraction": 0 < self.val_fraction < 1,
            "epochs": 1 <= self.epochs <= 100_000,
            "learning_rate": 0 < self.learning_rate < 1,
            "lr_schedule": self.lr_schedule in ("cosine", "constant"),
            "warmup_steps": self.warmup_steps >= 0,
            "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
            "clipnorm": self.clipnorm > 0,
            "patience": self.patience >= 1,
            "max_minutes": self.max_minutes >= 0,
            "sample_chars": 0 <= self.sample_chars <= 10_000,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            raise ValueError(f"invalid --{name.replace('_', '-')}: {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# One line of help per field, for the CLI (kept beside the fields they describe).
HELP = {
    "layers": "stacked LSTM layers",
    "units": "LSTM units per layer",
    "embedding_dim": "character embedding size",
    "dropout": "dropout after each LSTM layer",
    "seq_len": "characters per training sequence",
    "batch_size": "sequences per step",
    "val_fraction": "last fraction of every source held out for validation",
    "epochs": "maximum epochs (early stopping may end sooner)",
    "learning_rate": "peak Adam learning rate",
    "lr_schedule": "cosine or constant",
    "warmup_steps": "linear warm-up steps (cosine schedule)",
    "min_lr_ratio": "final learning rate as a fraction of the peak (cosine schedule)",
    "clipnorm": "clip gradients to this global norm",
    "patience": "early stopping patience in epochs",
    "max_minutes": "stop fitting after this many minutes and export the best weights (0 = no limit)",
    "seed": "random seed for a reproducible run",
    "sample_chars": "characters of sample text printed after each epoch (0 = none)",
}
