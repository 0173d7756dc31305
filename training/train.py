"""Fitting and exporting: the steps of a run (the callbacks that write its files: training/callbacks.py; a run on a
cluster of machines, --strategy multi-worker: training/cluster.py).

A run directory (git-ignored, default runs/<model name>/) keeps everything needed to continue:
  last.keras        the model and optimizer after the last finished epoch (for --resume)
  best.weights.h5   the weights with the best val loss so far (what is exported, also by --export-only)
  state.json        epoch, step, best val loss, early-stopping counter, fitting seconds, history, config, corpus
                    checksum
  log.csv           losses per epoch;  tensorboard/  TensorBoard logs
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store import store
from model_store.lexicon import Lexicon
from model_store.lstm import LSTMNetwork
from model_store.metre import Metre
from model_store.names import NameRecord
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
from training.cluster import (
    ClockSync,
    Cluster,
    ClusterClock,
    WorkerShare,
    fit_across_workers,
    make_strategy,
    start_model,
    together,
    worker_files,
)
from training.config import TrainConfig
from training.corpus import Corpus
from training.data import make_dataset
from training.errors import TrainError
from training.hardware import bf16_supported, choose_precision
from training.model import (
    architecture,
    build_architecture,
    build_model,
    compile_for_fit,
    from_numpy_weights,
    model_lstm_impl,
    model_precision,
    numpy_weights,
)
from training.speech_data import speech_data


class ExportWriteError(TrainError):
    """The export could not be written (a full disk, say); the run's checkpoints are intact."""

    def __init__(self, out: Path, run_dir: Path, reason: str) -> None:
        super().__init__(f"cannot write the export to {out}: {reason}; the run's checkpoints are kept in {run_dir}")
        self.run_dir = run_dir


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
    """Shuffled training batches (a resumed run does not replay the first epoch's order) and validation batches.

    Batches are global: on a cluster every worker makes the same ones (the same text and seed) and trains on its
    share of each (DATA sharding; the AUTO policy's first choice, FILE, does not apply to arrays in memory, and OFF
    would train every worker on every sequence)."""
    epoch_seed = config.seed + epochs_done
    train_ds = make_dataset(train_ids, config.seq_len, config.batch_size, shuffle=True, seed=epoch_seed)
    val_ds = make_dataset(val_ids, config.seq_len, config.batch_size, shuffle=False, seed=config.seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return train_ds.with_options(options), val_ds.with_options(options)


def training_precision(config: TrainConfig) -> str:
    """The dtype policy this machine trains with: config.precision, with auto decided by the hardware."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    return choose_precision(config.precision, cpu_bf16=bf16_supported(), gpus=gpus)


def new_model(config: TrainConfig, vocab: Vocab, base: LoadedModel | None) -> keras.Model:
    """A compiled model to fit: freshly initialised, or built from the arrays of the export being fine-tuned
    (its architecture, this run's dropout and precision)."""
    precision = training_precision(config)
    if base is not None:
        model = from_numpy_weights(
            base.weights,
            base.arch,
            **config.regularisers(),
            precision=precision,
            lstm_impl=config.lstm_impl,
        )
    else:
        model = build_model(
            vocab.size,
            embedding_dim=config.embedding_dim,
            layers=config.layers,
            units=config.units,
            **config.regularisers(),
            precision=precision,
            lstm_impl=config.lstm_impl,
        )
    compile_for_fit(model, config)
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
    cluster: Cluster | None = None,
) -> None:
    """Fit until config.epochs, early stopping or the time budget; every epoch leaves a checkpoint to resume."""
    spent = config.max_minutes > 0 and state.get("train_seconds", 0.0) >= config.max_minutes * 60
    if spent:
        print(f"the run's time budget of {config.max_minutes:g} minutes is spent (a larger --max-minutes extends it)")
    if state["epoch"] >= config.epochs or state["wait"] >= config.patience or spent:
        return
    train_ds, val_ds = datasets
    seconds_before = state.get("train_seconds", 0.0)
    # On a cluster, a time limit is the chief's: every worker must stop at the same step.
    shared = cluster is not None and config.max_minutes > 0
    clock = ClusterClock(seconds_before, cluster) if shared else FitClock(seconds_before)
    schedule = LearningRateSchedule(config, state, config.epochs * int(train_ds.cardinality()), clock)
    budget = TimeBudget(config.max_minutes, clock)
    callbacks: list[keras.callbacks.Callback] = [
        *([ClockSync(clock)] if isinstance(clock, ClusterClock) else []),
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
    share = WorkerShare(cluster.strategy) if cluster is not None else None
    if share is not None:
        callbacks.append(share)
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
        if cluster is None:
            again, where = "the same command and --resume", f"checkpoint after epoch {state['epoch']} in {paths.root}"
        else:  # the other workers stop too: the cluster lost one
            again = "the same command and --resume on every worker"
            where = f"worker 0 keeps the checkpoint after epoch {state['epoch']}"
        raise TrainError(f"interrupted; continue with {again} ({where})") from None
    if budget.reached:
        print(f"time budget of {config.max_minutes:g} minutes reached")
    if share is not None:
        print(
            f"worker {cluster.index} of {cluster.workers} fitted {share.sequences} sequences an epoch, its share of "
            f"{int(train_ds.cardinality())} batches of {config.batch_size}"
        )


def best_model(
    paths: RunPaths, arch: dict[str, int], dropout: float, lstm_impl: str, cluster: Cluster | None = None
) -> keras.Model:
    """A fresh model (no optimizer state, Keras's own LSTM layers) holding the run's best weights, compiled to
    evaluate; on a cluster, the chief's, on every worker. lstm_impl is the layer the run fitted, whose checkpoint
    holds them. Call it in the strategy's scope."""
    leads = cluster is None or cluster.chief
    with together(cluster):
        if leads and not paths.best.exists():
            raise TrainError("no epoch finished, so there is nothing to export")
    model = build_architecture(arch, dropout=dropout, lstm_impl=lstm_impl)
    if leads:
        model.load_weights(str(paths.best))
    if cluster is not None:
        cluster.copy_chief_variables(model.variables)
    if lstm_impl != "keras":
        model = from_numpy_weights(numpy_weights(model), arch, dropout=dropout)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return fit_across_workers(model, cluster)


def stream_loss(model: keras.Model, vocab: Vocab, arch: dict[str, int], val_ids: np.ndarray) -> float:
    """The validation text's loss read as the engine reads it: by the exported arrays, state carried throughout."""
    network = LSTMNetwork(store.in_memory(numpy_weights(model), vocab, arch, name="validation"))
    return network.stream_loss(val_ids, streams=min(8, len(val_ids) - 1))


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
    val_stream_loss: float,
    init_from: Path | None,
    strategy: str,
    precision: str,
    lstm_impl: str,
    command: str,
    replicas: int = 1,
    workers: int = 1,
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
        # The held-out text read as a few long streams, as the engine reads and writes (lstm.stream_loss); val_loss
        # averages windows of seq_len that each start from nothing, the figure early stopping compares.
        "val_stream_loss": val_stream_loss,
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
        "replicas": replicas,  # the global batch was split across these, on this many machines (workers)
        "workers": workers,
        # How it was fitted (config.precision may say auto); the exported weights are float32 either way.
        "fit": {
            "precision": precision,
            "lstm_impl": lstm_impl,
            "jit_compile": config.jit_compile,
            "cpu_bf16": bf16_supported(),
        },
        "command": command,
    }


def export_model(
    out: Path,
    model: keras.Model,
    vocab: Vocab,
    manifest: dict[str, Any],
    *,
    speech: tuple[Lexicon, Speakers, Metre, NameRecord | None],
    force: bool,
    paths: RunPaths,
    weights_only: bool = False,
) -> Path:
    """Write the export through model_store, with the lexicon, speakers, metre and name record monologues need; a
    failed write (a full disk) leaves any old export as it was. weights_only leaves out model.keras."""
    lexicon, speakers, metre, names = speech
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
            names=names,
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
    checkpoint without fitting (after an export that failed, say). On a cluster (--strategy multi-worker) only
    the chief writes run_dir and out; the other workers write to a scratch directory, removed when they stop, and
    a failure of the cluster (a worker lost) is a TrainError.
    """
    # Exporting a checkpoint is one process's work: no cluster needed.
    distribution = tf.distribute.get_strategy() if export_only else make_strategy(strategy)
    cluster = Cluster.of(distribution)
    with worker_files(cluster, Path(out), RunPaths(Path(run_dir)), force) as (out, paths, force):
        leads = cluster is None or cluster.chief  # decides the run, and writes the real files
        continuing = resume or export_only
        state: dict[str, Any] = {}
        with together(cluster):  # on a cluster, one worker's problem here stops them all
            if out.exists() and not force:
                raise TrainError(f"output directory {out} already exists (use --force to replace it)")
            base = load_init_from(init_from)
            vocab = choose_vocabulary(corpus, base)
            train_ids, val_ids = encode_corpus(corpus, vocab, config.seq_len)
            if leads and continuing:
                config, state = reopen_run(paths, config, corpus, "--export-only" if export_only else "--resume")
            elif leads:
                state = start_run(paths, config, corpus, force=force)

        def make() -> keras.Model:  # seeded by the run's epoch; a checkpoint is compiled as the run started it
            keras.utils.set_random_seed(config.seed + state["epoch"])
            return keras.saving.load_model(paths.last, safe_mode=True) if continuing else new_model(config, vocab, base)

        if cluster is None:
            with distribution.scope():  # variables live where the strategy puts them
                model = make()
            arch, precision = architecture(model), model_precision(model)
        else:  # worker 0 makes the model and decides the run; the others follow
            config, state, continuing, arch, precision, model = start_model(
                cluster,
                make,
                config=config,
                state=state,
                continuing=continuing,
                corpus=corpus,
                vocab=vocab,
                paths=paths,
            )
        # A resumed run keeps the layer it started with, even one older than --lstm-impl.
        lstm_impl = model_lstm_impl(model)
        config = dataclasses.replace(config, lstm_impl=lstm_impl)
        datasets = make_datasets(train_ids, val_ids, config, state["epoch"])

        if export_only:
            print(f"exporting the best checkpoint of {paths.root} (epoch {state['best_epoch']})")
        elif continuing:
            run = paths.root if leads else "worker 0's run"
            print(f"resuming {run} after epoch {state['epoch']} (best val loss {state['best_val_loss']:.4f})")
        elif base is not None:
            print(f"fine-tuning {init_from} ({base.manifest.get('parameter_count')} parameters)")
        where = "" if cluster is None else f", worker {cluster.index} of {cluster.workers}"
        print(
            f"corpus: {corpus.description}\n"
            f"  {len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {vocab.size}\n"
            f"model: {arch['layers']}x{arch['units']} LSTM, {model.count_params():,} parameters, "
            f"dropout {config.dropout:g}"
            f"{f', embedding dropout {config.embedding_dropout:g}' if config.embedding_dropout else ''}"
            f"{f', weight drop {config.weight_drop:g}' if config.weight_drop else ''}"
            f"{f', weight decay {config.weight_decay:g}' if config.weight_decay else ''}; "
            f"{int(datasets[0].cardinality())} steps of {config.batch_size}x{config.seq_len} per epoch; "
            f"strategy {strategy} ({distribution.num_replicas_in_sync} replicas{where}); precision {precision}, "
            f"LSTM {lstm_impl}"
            f"{', XLA' if config.jit_compile else ''}",
            flush=True,
        )

        # On a cluster, fit and evaluate find the strategy in its scope (fit_across_workers).
        with distribution.scope() if cluster is not None else contextlib.nullcontext():
            if not export_only:
                fit_model(
                    model,
                    datasets,
                    config=config,
                    paths=paths,
                    state=state,
                    vocab=vocab,
                    resumed=resume,
                    verbose=verbose,
                    cluster=cluster,
                )
            with distribution.scope():
                final = best_model(paths, arch, config.dropout, lstm_impl, cluster)
            val_loss = float(final.evaluate(datasets[1], verbose=0))
        val_stream_loss = stream_loss(final, vocab, arch, val_ids)
        manifest = export_manifest(
            name=out.name,
            corpus=corpus,
            chars=(len(train_ids), len(val_ids)),
            config=config,
            arch=arch,
            model=final,
            state=state,
            val_loss=val_loss,
            val_stream_loss=val_stream_loss,
            init_from=init_from,
            strategy=strategy,
            precision=precision,
            lstm_impl=lstm_impl,
            command=command,
            replicas=distribution.num_replicas_in_sync,
            workers=1 if cluster is None else cluster.workers,
        )
        speech = speech_data(corpus.train_text, base, corpus.sources)  # a fine-tuned model's extends its base's
        export_model(out, final, vocab, manifest, speech=speech, force=force, paths=paths, weights_only=weights_only)
        if leads:
            print(
                f"exported {out} (val loss {val_loss:.4f} nats/char, {val_stream_loss:.4f} read as streams; "
                f"best epoch {state['best_epoch']})"
            )
        else:
            print(
                f"worker {cluster.index} of {cluster.workers} done (val loss {val_loss:.4f} nats/char); "
                "worker 0 exports"
            )
        return out
