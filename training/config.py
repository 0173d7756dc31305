"""Every training hyperparameter, with its default and its help: one flat block.

The CLI exposes each field as --field-name with the field's help; the exported manifest records them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _hp(default: Any, doc: str) -> Any:
    """A hyperparameter: its default, and the one line of help `bard-train --help` shows for it."""
    return field(default=default, metadata={"help": doc})


PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16")
DEFAULT_EPOCHS = 30  # --epochs 0 (the default) without --max-minutes
UNCAPPED_EPOCHS = 100_000  # --epochs 0 with --max-minutes: the time budget ends the run, not an epoch count
LSTM_IMPL_CHOICES = ("f32-gates", "keras")  # training/lstm_layer.py's F32GateLSTM, Keras's LSTM


@dataclass(frozen=True)
class TrainConfig:
    # network
    layers: int = _hp(2, "stacked LSTM layers")
    units: int = _hp(448, "LSTM units per layer (the shipped model has 576: 16.7 MB of weights, 2 hours here)")
    embedding_dim: int = _hp(64, "size of each character's embedding")
    dropout: float = _hp(0.25, "dropout after each LSTM layer, during training only")
    embedding_dropout: float = _hp(
        0.0,
        "dropout of the character embeddings, the first LSTM layer's input, during training only (0 = none)",
    )
    weight_drop: float = _hp(
        0.0,
        "DropConnect (weight drop) of each LSTM's recurrent kernel, during training only: the fraction of its "
        "entries each batch drops (0 = none; not with Keras's own LSTM layer)",
    )
    # data
    seq_len: int = _hp(128, "characters per training sequence (backprop through time)")
    batch_size: int = _hp(128, "sequences per step (the global batch, split across replicas)")
    val_fraction: float = _hp(0.1, "the last fraction of every source held out for validation")
    # optimisation
    epochs: int = _hp(
        0,
        f"maximum epochs; early stopping or --max-minutes may end sooner. 0: {DEFAULT_EPOCHS}, or no cap with "
        "--max-minutes (the time budget is the run's length). The cosine schedule decays over the tighter of "
        "epochs and --max-minutes: on a small corpus, few enough epochs let it decay before the run overfits",
    )
    learning_rate: float = _hp(2e-3, "peak Adam learning rate")
    lr_schedule: str = _hp("cosine", "cosine (warm-up, then decay to the floor over the run) or constant")
    warmup_steps: int = _hp(
        100,
        "linear warm-up steps at the start of the cosine schedule, at most a tenth of the run (its steps, or its "
        "--max-minutes): a short run reaches the peak learning rate",
    )
    min_lr_ratio: float = _hp(0.05, "the cosine schedule ends at the peak learning rate times this")
    weight_decay: float = _hp(
        0.0,
        "decoupled (AdamW) weight decay of the kernels and embedding, not the biases: each step shrinks them by "
        "learning rate x this",
    )
    clipnorm: float = _hp(1.0, "clip gradients to this global norm")
    patience: int = _hp(4, "early stopping: epochs without a better val loss")
    max_minutes: float = _hp(
        0.0,
        "stop fitting after this many minutes (the run's, resumes included) and export the best weights "
        "(0 = no limit); the cosine decays to it",
    )
    seed: int = _hp(1337, "seeds Python, numpy and TensorFlow: same seed, same run")
    subject_minutes: float = _hp(
        30.0,
        "after the export, fit its subject adapter (training/subject.py: what lets a speech keep to its seed's "
        "subject) for at most this many minutes, on 50,000 training characters or more (0 = none)",
    )
    # speed (benchmarks/fit_throughput.py measures them side by side)
    precision: str = _hp(
        "auto",
        "float32, mixed_bfloat16 (bfloat16 arithmetic, float32 weights and logits), or auto: mixed_bfloat16 where "
        "the CPU has native bfloat16 (avx512_bf16 or amx_bf16) and no GPU is used, else float32",
    )
    lstm_impl: str = _hp(
        "f32-gates",
        "f32-gates (training/lstm_layer.py: only the sequential work in the time loops, gate arithmetic in float32; "
        "faster to fit on a CPU) or keras (Keras's own LSTM layer): the same equations and weights, and an export "
        "holds Keras's layer either way",
    )
    jit_compile: bool = _hp(False, "XLA-compile the train step (measured 2-6x slower than without on CPU; for GPUs)")
    # reporting
    sample_chars: int = _hp(240, "characters of sample text printed after each epoch (0 = none)")

    def __post_init__(self) -> None:
        checks = {
            "layers": 1 <= self.layers <= 8,
            "units": 1 <= self.units <= 8192,
            "embedding_dim": 1 <= self.embedding_dim <= 4096,
            "dropout": 0 <= self.dropout < 1,
            "embedding_dropout": 0 <= self.embedding_dropout < 1,
            "weight_drop": 0 <= self.weight_drop < 1,
            "seq_len": 2 <= self.seq_len <= 10_000,
            "batch_size": 1 <= self.batch_size <= 65_536,
            "val_fraction": 0 < self.val_fraction < 1,
            "epochs": 0 <= self.epochs <= UNCAPPED_EPOCHS,
            "learning_rate": 0 < self.learning_rate < 1,
            "lr_schedule": self.lr_schedule in ("cosine", "constant"),
            "warmup_steps": self.warmup_steps >= 0,
            "min_lr_ratio": 0 <= self.min_lr_ratio <= 1,
            "weight_decay": 0 <= self.weight_decay < 10,
            "clipnorm": self.clipnorm > 0,
            "patience": self.patience >= 1,
            "max_minutes": self.max_minutes >= 0,
            "subject_minutes": self.subject_minutes >= 0,
            "precision": self.precision in PRECISION_CHOICES,
            "lstm_impl": self.lstm_impl in LSTM_IMPL_CHOICES,
            "sample_chars": 0 <= self.sample_chars <= 10_000,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            raise ValueError(f"invalid --{name.replace('_', '-')}: {getattr(self, name)!r}")
        if self.weight_drop and self.lstm_impl != "f32-gates":
            raise ValueError("--weight-drop needs --lstm-impl f32-gates: Keras's LSTM layer has no DropConnect")

    def epoch_limit(self) -> int:
        """The epochs the run may fit: --epochs, or by default DEFAULT_EPOCHS, and no cap under a time budget."""
        if self.epochs:
            return self.epochs
        return UNCAPPED_EPOCHS if self.max_minutes > 0 else DEFAULT_EPOCHS

    def regularisers(self) -> dict[str, float]:
        """The training-only options of build_model (and build_architecture) that a run sets: one place to add one."""
        return {"dropout": self.dropout, "embedding_dropout": self.embedding_dropout, "weight_drop": self.weight_drop}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
