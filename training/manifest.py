"""What an export's manifest records about the run that produced it, from three records: the corpus it read, how
the model was set up and fitted, and what the run reached."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.config import TrainConfig
from training.corpus import Corpus
from training.hardware import bf16_supported
from training.run_dir import RunState


@dataclass(frozen=True)
class CorpusFacts:
    """The text the run read, and how many characters of it it trained and validated on."""

    corpus: Corpus
    train_chars: int
    val_chars: int


@dataclass(frozen=True)
class FitSetup:
    """How the model was set up and fitted: hyperparameters, architecture, devices, and the command."""

    config: TrainConfig
    arch: dict[str, int]
    precision: str  # what it fitted with (config.precision may say auto)
    lstm_impl: str
    strategy: str
    replicas: int  # the global batch was split across these, on this many machines (workers)
    workers: int
    init_from: Path | None
    command: str
    base_name: str | None = None  # the manifest name of the model fine-tuned (init_from)


@dataclass(frozen=True)
class Results:
    """What the run reached: its state after the last epoch, and the exported model's losses and size."""

    state: RunState
    val_loss: float
    val_stream_loss: float
    parameter_count: int


def export_manifest(name: str, corpus: CorpusFacts, setup: FitSetup, results: Results) -> dict[str, Any]:
    """What produced the model: corpus, hyperparameters, losses, history, versions, machine and command."""
    state = results.state
    return {
        "name": name,
        "corpus": {
            "description": corpus.corpus.description,
            "sha256": corpus.corpus.sha256,
            "sources": [s.name for s in corpus.corpus.sources],
            "train_chars": corpus.train_chars,
            "val_chars": corpus.val_chars,
        },
        "hyperparameters": setup.config.to_dict() | setup.arch,
        "parameter_count": results.parameter_count,
        "epochs_trained": state.epoch,
        "best_epoch": state.best_epoch,
        "train_loss": state.best_train_loss,
        "val_loss": results.val_loss,
        # The held-out text read as a few long streams, as the engine reads and writes (lstm.stream_loss); val_loss
        # averages windows of seq_len that each start from nothing, the figure early stopping compares.
        "val_stream_loss": results.val_stream_loss,
        "loss_units": "nats per character",
        "history": state.history,
        "train_seconds": round(state.train_seconds, 1),
        "init_from": str(setup.init_from) if setup.init_from else None,
        # What a model says of itself (bard-train's summary, the bot's !bard models): the model it was fine-tuned
        # from (None: from scratch), the text its val_loss was measured on, and how long it fitted.
        "base_model": {"name": setup.base_name, "path": str(setup.init_from)} if setup.init_from else None,
        "validation": {
            "texts": [s.name for s in corpus.corpus.sources],
            "fraction": setup.config.val_fraction,
            "chars": corpus.val_chars,
        },
        "train_minutes": round(state.train_seconds / 60, 1),
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "strategy": setup.strategy,
        "replicas": setup.replicas,
        "workers": setup.workers,
        # How it was fitted; the exported weights are float32 either way.
        "fit": {
            "precision": setup.precision,
            "lstm_impl": setup.lstm_impl,
            "jit_compile": setup.config.jit_compile,
            "cpu_bf16": bf16_supported(),
        },
        "command": setup.command,
    }


def validation_text(validation: dict[str, Any]) -> str:
    """ "the last 10% of 2 texts (volpone.xml, faustus.xml): 41,230 characters" """
    texts = validation["texts"]
    names = ", ".join(Path(t).name for t in texts[:3]) + (f" and {len(texts) - 3} more" if len(texts) > 3 else "")
    plural = "text" if len(texts) == 1 else "texts"
    return (
        f"the last {validation['fraction']:.0%} of {len(texts)} {plural} ({names}): {validation['chars']:,} characters"
    )


def summary(manifest: dict[str, Any]) -> str:
    """What the exported model is, in three lines: its base, what its val loss was measured on, its minutes."""
    base = manifest["base_model"]
    origin = f"fine-tuned from {base['name']} ({base['path']})" if base else "trained from scratch"
    return (
        f"  base:       {origin}\n"
        f"  val loss:   {manifest['val_loss']:.4f} nats/char on {validation_text(manifest['validation'])}\n"
        f"  training:   {manifest['train_minutes']:g} minutes, {manifest['epochs_trained']} epochs"
    )
