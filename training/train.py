"""Fitting and exporting: the one module of training/ with side effects.

A run directory (git-ignored, default runs/<model name>/) keeps everything needed to continue:
  last.keras        the model and optimizer after the last finished epoch (for --resume)
  best.weights.h5   the weights with the best val loss so far
  state.json        epoch, step, best val loss, early-stopping counter, config, corpus checksum
  log.csv           losses per epoch;  tensorboard/  TensorBoard logs
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store import store
from model_store.engine import Engine
from model_store.store import ModelError
from model_store.vocab import Vocab
from training.config import TrainConfig
from training.corpus import Corpus
from training.data import make_dataset
from training.model import architecture, build_model, numpy_weights


class TrainError(Exception):
    """A problem with the request itself; reported as one line, exit status 2."""


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


def _replace_atomically(target: Path, write: Any) -> None:
    """Write through a temporary name in the same folder, then rename over target."""
    tmp = target.with_name(f".tmp-{target.name}")  # keeps the suffix Keras insists on
    write(tmp)
    os.replace(tmp, target)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _replace_atomically(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


# --------------------------------------------------------------------------- distribution


def make_strategy(name: str) -> tf.distribute.Strategy:
    """default: one device; mirrored: every local GPU; multi-worker: the cluster described by TF_CONFIG."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise TrainError("--strategy multi-worker needs the TF_CONFIG environment variable (see README)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the real checkpoints and export (task 0, or the chief, of a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


# --------------------------------------------------------------------------- callbacks


class RunKeeper(keras.callbacks.Callback):
    """Learning-rate schedule, time budget, checkpoints, early stopping and the resumable state."""

    def __init__(self, config: TrainConfig, paths: RunPaths, state: dict[str, Any], steps_per_epoch: int) -> None:
        super().__init__()
        self.config, self.paths, self.state = config, paths, state
        self.total_steps = config.epochs * steps_per_epoch
        self.started = time.monotonic()
        self.budget_hit = False

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _train_seconds(self) -> float:
        """Fitting time of the whole run, resumed invocations included."""
        return self.state.get("train_seconds_before", 0.0) + self._elapsed()

    def _progress(self) -> float:
        """Fraction of the run done: by steps, or by time when that is the tighter bound."""
        p = self.state["step"] / max(1, self.total_steps)
        if self.config.max_minutes > 0:
            p = max(p, self._elapsed() / (self.config.max_minutes * 60))
        return min(p, 1.0)

    def _learning_rate(self) -> float:
        c = self.config
        if c.lr_schedule == "constant":
            return c.learning_rate
        if self.state["step"] < c.warmup_steps:
            return c.learning_rate * (self.state["step"] + 1) / c.warmup_steps
        floor = c.learning_rate * c.min_lr_ratio
        return floor + (c.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * self._progress()))

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self._learning_rate()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.state["step"] += 1
        if self.config.max_minutes > 0 and self._elapsed() >= self.config.max_minutes * 60:
            self.budget_hit = True
            self.model.stop_training = True  # Keras still validates this (partial) epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        val = float(logs["val_loss"])
        s = self.state
        s["epoch"] = epoch + 1
        s["history"].append(
            {
                "epoch": epoch + 1,
                "loss": float(logs["loss"]),
                "val_loss": val,
                "learning_rate": self._learning_rate(),
                "seconds": round(self._train_seconds(), 1),
            }
        )
        if val < s["best_val_loss"]:
            s.update(best_val_loss=val, best_epoch=epoch + 1, best_train_loss=float(logs["loss"]), wait=0)
            _replace_atomically(self.paths.best, lambda p: self.model.save_weights(str(p)))
        else:
            s["wait"] += 1
            if s["wait"] >= self.config.patience:
                print(f"early stopping: val loss has not improved for {s['wait']} epochs")
                self.model.stop_training = True
        _replace_atomically(self.paths.last, lambda p: self.model.save(str(p)))
        s["train_seconds"] = self._train_seconds()
        _write_json(self.paths.state, s)  # last: a state file always names a complete checkpoint


class SampleText(keras.callbacks.Callback):
    """Prints a short sample after every epoch, as char-rnn does: the quickest check that it learns."""

    def __init__(self, vocab: Vocab, arch: dict[str, int], chars: int, seed: int) -> None:
        super().__init__()
        self.vocab, self.arch, self.chars, self.seed = vocab, arch, chars, seed

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        model = store.in_memory(numpy_weights(self.model), self.vocab, self.arch, name="sample")
        g = Engine(model).generate("", max_chars=self.chars, temperature=0.8, rng=np.random.default_rng(self.seed))
        print(f"--- sample after epoch {epoch + 1} (temperature 0.8) ---\n{g.text}\n---", flush=True)


# --------------------------------------------------------------------------- the run


def _compile(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def _fresh_state(config: TrainConfig, corpus: Corpus) -> dict[str, Any]:
    return {
        "epoch": 0,
        "step": 0,
        "best_val_loss": math.inf,
        "best_epoch": 0,
        "best_train_loss": None,
        "wait": 0,
        "history": [],
        "config": config.to_dict(),
        "corpus_sha256": corpus.sha256,
    }


def train(
    config: TrainConfig,
    corpus: Corpus,
    *,
    out: Path,
    run_dir: Path,
    force: bool = False,
    resume: bool = False,
    init_from: Path | None = None,
    command: str = "bard-train",
    verbose: int = 2,
    strategy: str = "default",
) -> Path:
    """Fit a model on the corpus and export it to `out`. Returns the export path."""
    distribution = make_strategy(strategy)
    if not is_chief(distribution):
        # Every worker must take part in saving, but only the chief's files are kept.
        scratch = Path(tempfile.mkdtemp(prefix="bard-worker-"))
        run_dir, out, force = scratch / "run", scratch / "out", True
    paths = RunPaths(Path(run_dir))
    out = Path(out)
    if out.exists() and not force:
        raise TrainError(f"output directory {out} already exists (use --force to replace it)")

    # Vocabulary: from the training text, or the one of the model being fine-tuned.
    base = None
    if init_from is not None:
        try:
            base = store.load(init_from)
        except ModelError as exc:
            raise TrainError(f"--init-from: {exc}") from None
    vocab = base.vocab if base else Vocab.from_text(corpus.train_text)
    unknown = vocab.count_unknown(corpus.train_text + corpus.val_text)
    if base and unknown:
        missing = sorted(set(c for c in corpus.train_text + corpus.val_text if c not in vocab))
        print(
            f"fine-tuning: {unknown} characters of the corpus ({len(missing)} distinct: "
            f"{''.join(missing)[:40]!r}) are not in the model's vocabulary and map to the unknown id"
        )
    train_ids, val_ids = vocab.encode(corpus.train_text), vocab.encode(corpus.val_text)
    for label, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < config.seq_len + 1:
            raise TrainError(
                f"the {label} text has {len(ids)} characters, fewer than one sequence "
                f"(--seq-len {config.seq_len} + 1); add text or lower --seq-len"
            )

    # Run directory: fresh, or resumed from its last checkpoint.
    if resume:
        if not paths.state.exists() or not paths.last.exists():
            raise TrainError(f"--resume: {paths.root} holds no checkpoint to resume from")
        state = json.loads(paths.state.read_text())
        if state["corpus_sha256"] != corpus.sha256:
            raise TrainError("--resume: the corpus differs from the one this run started on")
        # The run's hyperparameters stand; only how long it may go on can change.
        saved = TrainConfig.from_dict(state["config"])
        config = TrainConfig.from_dict(
            saved.to_dict() | {k: getattr(config, k) for k in ("epochs", "max_minutes", "patience")}
        )
        state["train_seconds_before"] = state.get("train_seconds", 0.0)
    else:
        if paths.state.exists() and not force:
            raise TrainError(f"run directory {paths.root} already holds a run (use --resume, or --force to restart)")
        paths.root.mkdir(parents=True, exist_ok=True)
        for p in (paths.last, paths.best, paths.state, paths.csv):
            p.unlink(missing_ok=True)
        state = _fresh_state(config, corpus)

    keras.utils.set_random_seed(config.seed + state["epoch"])
    epoch_seed = config.seed + state["epoch"]  # a resumed run does not replay the first epoch's order
    train_ds = make_dataset(train_ids, config.seq_len, config.batch_size, shuffle=True, seed=epoch_seed)
    val_ds = make_dataset(val_ids, config.seq_len, config.batch_size, shuffle=False, seed=config.seed)
    steps_per_epoch = int(train_ds.cardinality())

    with distribution.scope():  # variables live where the strategy puts them
        if resume:
            model = keras.saving.load_model(paths.last, safe_mode=True)  # compiled, optimizer state included
            print(f"resuming {paths.root} after epoch {state['epoch']} (best val loss {state['best_val_loss']:.4f})")
        else:
            if base is not None:
                model = store.load_keras(init_from)
                print(f"fine-tuning {init_from} ({base.manifest.get('parameter_count')} parameters)")
            else:
                model = build_model(
                    vocab.size,
                    embedding_dim=config.embedding_dim,
                    layers=config.layers,
                    units=config.units,
                    dropout=config.dropout,
                )
            _compile(model, config)
    arch = architecture(model)
    print(
        f"corpus: {corpus.description}\n"
        f"  {len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {vocab.size}\n"
        f"model: {arch['layers']}x{arch['units']} LSTM, {model.count_params():,} parameters; "
        f"{steps_per_epoch} steps of {config.batch_size}x{config.seq_len} per epoch; "
        f"strategy {strategy} ({distribution.num_replicas_in_sync} replicas)",
        flush=True,
    )

    keeper = RunKeeper(config, paths, state, steps_per_epoch)
    callbacks: list[keras.callbacks.Callback] = [
        keeper,
        keras.callbacks.CSVLogger(str(paths.csv), append=resume),
        keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard), write_graph=False),
    ]
    if config.sample_chars:
        callbacks.append(SampleText(vocab, arch, config.sample_chars, config.seed))
    if state["epoch"] < config.epochs and state["wait"] < config.patience:
        try:
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=config.epochs,
                initial_epoch=state["epoch"],
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,
            )
        except KeyboardInterrupt:
            raise TrainError(
                f"interrupted; continue with the same command and --resume "
                f"(checkpoint after epoch {state['epoch']} in {paths.root})"
            ) from None
    if keeper.budget_hit:
        print(f"time budget of {config.max_minutes:g} minutes reached")
    if not paths.best.exists():
        raise TrainError("no epoch finished, so there is nothing to export")

    # Export the best weights, in a fresh model without optimizer state.
    with distribution.scope():
        final = build_model(
            vocab.size,
            embedding_dim=arch["embedding_dim"],
            layers=arch["layers"],
            units=arch["units"],
            dropout=config.dropout,
        )
        final.load_weights(str(paths.best))
        final.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    val_loss = float(final.evaluate(val_ds, verbose=0))
    manifest = {
        "name": out.name,
        "corpus": {
            "description": corpus.description,
            "sha256": corpus.sha256,
            "sources": [s.name for s in corpus.sources],
            "train_chars": len(train_ids),
            "val_chars": len(val_ids),
        },
        "hyperparameters": config.to_dict() | arch,
        "parameter_count": int(final.count_params()),
        "epochs_trained": state["epoch"],
        "best_epoch": state["best_epoch"],
        "train_loss": state["best_train_loss"],
        "val_loss": val_loss,
        "loss_units": "nats per character",
        "history": state["history"],
        "train_seconds": round(state.get("train_seconds", 0.0), 1),
        "init_from": str(init_from) if init_from else None,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "strategy": strategy,
        "command": command,
    }
    try:
        store.export(out, keras_model=final, weights=numpy_weights(final), vocab=vocab, manifest=manifest, force=force)
    except ModelError as exc:
        raise TrainError(str(exc)) from None
    print(f"exported {out} (val loss {val_loss:.4f} nats/char, best epoch {state['best_epoch']})")
    return out
