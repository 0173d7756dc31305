"""Fitting and exporting: the steps of a run (the callbacks that write its files: training/callbacks.py).

A run directory (git-ignored, default runs/<model name>/) keeps everything needed to continue:
  last.keras        the model and optimizer after the last finished epoch (for --resume)
  best.weights.h5   the weights with the best val loss so far (what is exported, also by --export-only)
  state.json        epoch, step, best val loss, early-stopping counter, fitting seconds, history, config, corpus
                    checksum
  log.csv           losses per epoch;  tensorboard/  TensorBoard logs
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store import store
from model_store.lexicon import Lexicon
from model_store.metre import Metre
from model_store.speakers import Speakers
from model_store.store import LoadedModel, ModelError
from model_store.vocab import Vocab
from training.callbacks import (
    Checkpoints,
    EarlyStopping,
    EpochHistory,
    FitClock,
    LearningRateSchedule,
    RunPaths,
    SampleText,
    StepCounter,
    TimeBudget,
)
from training.config import TrainConfig, lstm_parameter_count, resolve_dropout
from training.corpus import Corpus
from training.data import make_dataset
from training.hardware import bf16_supported, choose_precision
from training.model import architecture, build_model, from_numpy_weights, numpy_weights
from training.speech_data import speech_data


class TrainError(Exception):
    """A problem with the request itself; reported as one line, exit status 2."""


class ExportWriteError(TrainError):
    """The export could not be written (a full disk, say); the run's checkpoints are intact."""

    def __init__(self, out: Path, run_dir: Path, reason: str) -> None:
        super().__init__(f"cannot write the export to {out}: {reason}; the run's checkpoints are kept in {run_dir}")
        self.run_dir = run_dir


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


# --------------------------------------------------------------------------- the steps of a run


def load_init_from(init_from: Path | None) -> LoadedModel | None:
    """The exported model to fine-tune, verified, or None."""
    if init_from is None:
        return None
    try:
        return store.load(init_from)
    except ModelError as exc:
        raise TrainError(f"--init-from: {exc}") from None


def choose_vocabulary(corpus: Corpus, base: LoadedModel | None) -> Vocab:
    """The training text's characters, or, when fine-tuning, the base model's (saying what it lacks)."""
    if base is None:
        return Vocab.from_text(corpus.train_text)
    text = corpus.train_text + corpus.val_text
    unknown = base.vocab.count_unknown(text)
    if unknown:
        missing = sorted(set(c for c in text if c not in base.vocab))
        print(
            f"fine-tuning: {unknown} characters of the corpus ({len(missing)} distinct: "
            f"{''.join(missing)[:40]!r}) are not in the model's vocabulary and map to the unknown id"
        )
    return base.vocab


def encode_corpus(corpus: Corpus, vocab: Vocab, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation text as ids; each must hold at least one sequence."""
    train_ids, val_ids = vocab.encode(corpus.train_text), vocab.encode(corpus.val_text)
    for label, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < seq_len + 1:
            raise TrainError(
                f"the {label} text has {len(ids)} characters, fewer than one sequence "
                f"(--seq-len {seq_len} + 1); add text or lower --seq-len"
            )
    return train_ids, val_ids


def _fresh_state(config: TrainConfig, corpus: Corpus) -> dict[str, Any]:
    return {
        "epoch": 0,
        "step": 0,
        "best_val_loss": math.inf,
        "best_epoch": 0,
        "best_train_loss": None,
        "wait": 0,  # early stopping: epochs since the best
        "history": [],
        "config": config.to_dict(),
        "corpus_sha256": corpus.sha256,
    }


def planned_parameters(config: TrainConfig, vocab: Vocab, base: LoadedModel | None) -> int:
    """How many parameters the run's network will have: the fine-tuned export's architecture, or the config's."""
    if base is not None:
        return lstm_parameter_count(**base.arch)
    return lstm_parameter_count(vocab.size, config.embedding_dim, config.layers, config.units)


def start_run(paths: RunPaths, config: TrainConfig, corpus: Corpus, *, force: bool) -> dict[str, Any]:
    """An empty run directory and a fresh state; an earlier run there is replaced only with force."""
    if paths.state.exists() and not force:
        raise TrainError(f"run directory {paths.root} already holds a run (use --resume, or --force to restart)")
    paths.root.mkdir(parents=True, exist_ok=True)
    for p in (paths.last, paths.best, paths.state, paths.csv):
        p.unlink(missing_ok=True)
    return _fresh_state(config, corpus)


def reopen_run(paths: RunPaths, config: TrainConfig, corpus: Corpus, flag: str) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and state of the run in paths, from its last checkpoint; `flag` names the option for errors.

    The run's hyperparameters stand; only how long it may go on (epochs, max_minutes, patience) can change.
    """
    if not (paths.state.exists() and paths.last.exists() and paths.best.exists()):
        raise TrainError(f"{flag}: {paths.root} holds no checkpoint")
    state = json.loads(paths.state.read_text())
    if state["corpus_sha256"] != corpus.sha256:
        raise TrainError(f"{flag}: the corpus differs from the one this run started on")
    saved = TrainConfig.from_dict(state["config"]).to_dict()
    config = TrainConfig.from_dict(saved | {k: getattr(config, k) for k in ("epochs", "max_minutes", "patience")})
    return config, state


def make_datasets(
    train_ids: np.ndarray, val_ids: np.ndarray, config: TrainConfig, epochs_done: int
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Shuffled training batches (a resumed run does not replay the first epoch's order) and validation batches."""
    epoch_seed = config.seed + epochs_done
    train_ds = make_dataset(train_ids, config.seq_len, config.batch_size, shuffle=True, seed=epoch_seed)
    val_ds = make_dataset(val_ids, config.seq_len, config.batch_size, shuffle=False, seed=config.seed)
    return train_ds, val_ds


def _compile(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=config.jit_compile,
    )


def training_precision(config: TrainConfig) -> str:
    """The dtype policy this machine trains with: config.precision, with auto decided by the hardware."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    return choose_precision(config.precision, cpu_bf16=bf16_supported(), gpus=gpus)


def model_precision(model: keras.Model) -> str:
    """The dtype policy a (perhaps resumed) model computes its LSTMs in."""
    return model.get_layer("lstm0").dtype_policy.name


def new_model(config: TrainConfig, vocab: Vocab, base: LoadedModel | None) -> keras.Model:
    """A compiled model to fit: freshly initialised, or built from the arrays of the export being fine-tuned
    (its architecture, this run's dropout and precision)."""
    precision = training_precision(config)
    if base is not None:
        model = from_numpy_weights(base.weights, base.arch, dropout=config.dropout, precision=precision)
    else:
        model = build_model(
            vocab.size,
            embedding_dim=config.embedding_dim,
            layers=config.layers,
            units=config.units,
            dropout=config.dropout,
            precision=precision,
        )
    _compile(model, config)
    return model


def fit_model(
    model: keras.Model,
    datasets: tuple[tf.data.Dataset, tf.data.Dataset],
    *,
    config: TrainConfig,
    paths: RunPaths,
    state: dict[str, Any],
    vocab: Vocab,
    resumed: bool,
    verbose: int,
) -> None:
    """Fit until config.epochs, early stopping or the time budget; every epoch leaves a checkpoint to resume."""
    spent = config.max_minutes > 0 and state.get("train_seconds", 0.0) >= config.max_minutes * 60
    if spent:
        print(f"the run's time budget of {config.max_minutes:g} minutes is spent (a larger --max-minutes extends it)")
    if state["epoch"] >= config.epochs or state["wait"] >= config.patience or spent:
        return
    train_ds, val_ds = datasets
    clock = FitClock(seconds_before=state.get("train_seconds", 0.0))
    schedule = LearningRateSchedule(config, state, config.epochs * int(train_ds.cardinality()), clock)
    budget = TimeBudget(config.max_minutes, clock)
    callbacks: list[keras.callbacks.Callback] = [
        schedule,
        StepCounter(state),
        budget,
        EpochHistory(state, schedule, clock),
        EarlyStopping(state, config.patience),
        Checkpoints(paths, state, clock),
        keras.callbacks.CSVLogger(str(paths.csv), append=resumed),
        keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard), write_graph=False),
    ]
    if config.sample_chars:
        callbacks.append(SampleText(vocab, architecture(model), config.sample_chars, config.seed))
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
    if budget.reached:
        print(f"time budget of {config.max_minutes:g} minutes reached")


def best_model(paths: RunPaths, arch: dict[str, int], dropout: float) -> keras.Model:
    """A fresh model (no optimizer state) holding the run's best weights, compiled to evaluate."""
    if not paths.best.exists():
        raise TrainError("no epoch finished, so there is nothing to export")
    model = build_model(
        arch["vocab_size"],
        embedding_dim=arch["embedding_dim"],
        layers=arch["layers"],
        units=arch["units"],
        dropout=dropout,
    )
    model.load_weights(str(paths.best))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def export_manifest(
    *,
    name: str,
    corpus: Corpus,
    chars: tuple[int, int],
    config: TrainConfig,
    arch: dict[str, int],
    model: keras.Model,
    state: dict[str, Any],
    val_loss: float,
    init_from: Path | None,
    strategy: str,
    precision: str,
    command: str,
) -> dict[str, Any]:
    """What produced the model: corpus, hyperparameters, losses, history, versions, machine and command."""
    return {
        "name": name,
        "corpus": {
            "description": corpus.description,
            "sha256": corpus.sha256,
            "sources": [s.name for s in corpus.sources],
            "train_chars": chars[0],
            "val_chars": chars[1],
        },
        "hyperparameters": config.to_dict() | arch,
        "parameter_count": int(model.count_params()),
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
        # How it was fitted (config.precision may say auto); the exported weights are float32 either way.
        "fit": {"precision": precision, "jit_compile": config.jit_compile, "cpu_bf16": bf16_supported()},
        "command": command,
    }


def export_model(
    out: Path,
    model: keras.Model,
    vocab: Vocab,
    manifest: dict[str, Any],
    *,
    speech: tuple[Lexicon, Speakers, Metre],
    force: bool,
    paths: RunPaths,
    weights_only: bool = False,
) -> Path:
    """Write the export through model_store, with the lexicon, speakers and metre monologues need; a failed write
    (a full disk) leaves any old export as it was. weights_only leaves out model.keras."""
    lexicon, speakers, metre = speech
    try:
        return store.export(
            out,
            keras_model=None if weights_only else model,
            weights=numpy_weights(model),
            vocab=vocab,
            manifest=manifest,
            lexicon=lexicon,
            speakers=speakers,
            metre=metre,
            force=force,
        )
    except ModelError as exc:
        raise TrainError(str(exc)) from None
    except OSError as exc:
        raise ExportWriteError(out, paths.root, exc.strerror or str(exc)) from None


def train(
    config: TrainConfig,
    corpus: Corpus,
    *,
    out: Path,
    run_dir: Path,
    force: bool = False,
    resume: bool = False,
    export_only: bool = False,
    init_from: Path | None = None,
    weights_only: bool = False,
    command: str = "bard-train",
    verbose: int = 2,
    strategy: str = "default",
) -> Path:
    """Fit a model on the corpus and export its best weights to `out`. Returns the export path.

    resume continues the run in run_dir from its last checkpoint; export_only exports that run's best
    checkpoint without fitting (after an export that failed, say).
    """
    # Exporting a checkpoint is one process's work: no cluster needed.
    distribution = tf.distribute.get_strategy() if export_only else make_strategy(strategy)
    out, paths = Path(out), RunPaths(Path(run_dir))
    if not is_chief(distribution):
        # Every worker must take part in saving, but only the chief's files are kept.
        scratch = Path(tempfile.mkdtemp(prefix="bard-worker-"))
        out, paths, force = scratch / "out", RunPaths(scratch / "run"), True
    if out.exists() and not force:
        raise TrainError(f"output directory {out} already exists (use --force to replace it)")

    base = load_init_from(init_from)
    vocab = choose_vocabulary(corpus, base)
    train_ids, val_ids = encode_corpus(corpus, vocab, config.seq_len)
    continuing = resume or export_only
    if continuing:
        config, state = reopen_run(paths, config, corpus, "--export-only" if export_only else "--resume")
    else:
        config = resolve_dropout(config, train_chars=len(train_ids), parameters=planned_parameters(config, vocab, base))
        state = start_run(paths, config, corpus, force=force)
    keras.utils.set_random_seed(config.seed + state["epoch"])
    datasets = make_datasets(train_ids, val_ids, config, state["epoch"])

    with distribution.scope():  # variables live where the strategy puts them
        # A checkpoint is compiled (precision, XLA and optimizer state included) as the run started it.
        model = keras.saving.load_model(paths.last, safe_mode=True) if continuing else new_model(config, vocab, base)
    arch, precision = architecture(model), model_precision(model)
    if export_only:
        print(f"exporting the best checkpoint of {paths.root} (epoch {state['best_epoch']})")
    elif resume:
        print(f"resuming {paths.root} after epoch {state['epoch']} (best val loss {state['best_val_loss']:.4f})")
    elif base is not None:
        print(f"fine-tuning {init_from} ({base.manifest.get('parameter_count')} parameters)")
    print(
        f"corpus: {corpus.description}\n"
        f"  {len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {vocab.size}\n"
        f"model: {arch['layers']}x{arch['units']} LSTM, {model.count_params():,} parameters, "
        f"dropout {config.dropout:g}; "
        f"{int(datasets[0].cardinality())} steps of {config.batch_size}x{config.seq_len} per epoch; "
        f"strategy {strategy} ({distribution.num_replicas_in_sync} replicas); precision {precision}"
        f"{', XLA' if config.jit_compile else ''}",
        flush=True,
    )

    if not export_only:
        fit_model(
            model, datasets, config=config, paths=paths, state=state, vocab=vocab, resumed=resume, verbose=verbose
        )
    with distribution.scope():
        final = best_model(paths, arch, config.dropout)
    val_loss = float(final.evaluate(datasets[1], verbose=0))
    manifest = export_manifest(
        name=out.name,
        corpus=corpus,
        chars=(len(train_ids), len(val_ids)),
        config=config,
        arch=arch,
        model=final,
        state=state,
        val_loss=val_loss,
        init_from=init_from,
        strategy=strategy,
        precision=precision,
        command=command,
    )
    speech = speech_data(corpus.train_text, base)  # a fine-tuned model's lexicon extends its base's
    export_model(out, final, vocab, manifest, speech=speech, force=force, paths=paths, weights_only=weights_only)
    print(f"exported {out} (val loss {val_loss:.4f} nats/char, best epoch {state['best_epoch']})")
    return out
