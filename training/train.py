"""Fitting and exporting: the steps of a run (the callbacks that write its files: training/callbacks.py).

A run directory (git-ignored, default runs/<model name>/) keeps everything needed to continue:
  last.keras        the model and optimizer after the last finished epoch (for --resume)
  best.weights.h5   the weights with the best val loss so far (what is exported, also by --export-only)
  state.json        epoch, step, best val loss, early-stopping counter, fitting seconds, history, config, corpus
                    checksum
  log.csv           losses per epoch;  tensorboard/  TensorBoard logs
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, fields
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
#
# --strategy multi-worker runs one process per machine, each started with the same command and a TF_CONFIG naming
# the cluster and its own place in it. Worker 0 (or the chief) leads: it alone writes the run directory and the
# export, and it decides the run (options, state, precision, weights) that the other workers follow; they keep
# their files in a scratch directory, removed when they stop. Every collective (the steps, variable creation,
# checkpoint saves, the shares below) is made by every worker in the same order.

CLUSTER_JOBS = ("chief", "worker")
HEARTBEAT_SECONDS = 10  # a worker silent this long is lost: the others stop with an error
JOIN_SECONDS = 600  # how long the workers wait for each other to start
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})")


def read_tf_config(text: str | None) -> tuple[dict[str, list[str]], str, int]:
    """The cluster, this task's type and this task's index, from TF_CONFIG; every mistake named in one line."""
    if text is None:
        raise TrainError("--strategy multi-worker needs the TF_CONFIG environment variable (see README)")
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainError(f"TF_CONFIG is not valid JSON ({exc}); it looks like {example}") from None
    if not isinstance(tf_config, dict) or not isinstance(tf_config.get("cluster"), dict) or not tf_config["cluster"]:
        raise TrainError(f'TF_CONFIG has no "cluster"; it looks like {example}')
    cluster = tf_config["cluster"]
    for job, addresses in cluster.items():
        if job not in CLUSTER_JOBS:
            raise TrainError(f'TF_CONFIG: a cluster of bard-train has only "chief" and "worker" tasks, not {job!r}')
        if (
            not isinstance(addresses, list)
            or not addresses
            or not all(
                isinstance(a, str) and _ADDRESS.fullmatch(a) and 0 < int(a.rsplit(":", 1)[1]) < 65536 for a in addresses
            )
        ):
            raise TrainError(f'TF_CONFIG: the {job!r} tasks must be a list of "host:port" addresses, not {addresses!r}')
    if len(cluster.get("chief", [])) > 1:
        raise TrainError("TF_CONFIG: a cluster has at most one chief")
    every = [a for job in CLUSTER_JOBS for a in cluster.get(job, [])]
    if len(set(every)) < len(every):
        raise TrainError(f"TF_CONFIG: the cluster lists an address twice: {every}")
    task = tf_config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise TrainError(
            f'TF_CONFIG: "task" must say which of the cluster\'s tasks this is, e.g. {{"type": "worker", '
            f'"index": 0}}, not {task!r}'
        )
    index, count = task.get("index", 0), len(cluster[task["type"]])
    if type(index) is not int or not 0 <= index < count:
        raise TrainError(
            f"TF_CONFIG: task index {index!r} is out of range: the cluster has {count} "
            f"{task['type']} task{'s' * (count > 1)} (index 0 to {count - 1})"
        )
    return cluster, task["type"], index


def _configure_coordination(cluster: dict[str, list[str]]) -> None:
    """The coordination service as MultiWorkerMirroredStrategy configures it itself, with our time limits: a lost
    worker fails the others within seconds, and a worker that never starts fails them after JOIN_SECONDS."""
    from tensorflow.python.eager import context  # no public API sets these

    leader = "chief" if "chief" in cluster else "worker"
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{leader}/replica:0/task:0",
        heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
        cluster_register_timeout_in_ms=JOIN_SECONDS * 1000,
        shutdown_barrier_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
    )
    # Without it the join limit applies to reaching the leader, not to waiting there for the others.
    context.context().coordination_service.cluster_register_with_barrier = True


def make_strategy(name: str) -> tf.distribute.Strategy:
    """default: one device; mirrored: every local GPU; multi-worker: the cluster described by TF_CONFIG."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        cluster, task_type, index = read_tf_config(os.environ.get("TF_CONFIG"))
        _configure_coordination(cluster)
        try:  # waits until every worker of the cluster has started
            distribution = tf.distribute.MultiWorkerMirroredStrategy()
        except (tf.errors.OpError, ValueError, RuntimeError) as exc:
            raise TrainError(
                f"cannot join the cluster in TF_CONFIG as {task_type} {index}: {_join_failure(exc)}"
            ) from None
        if threading.current_thread() is threading.main_thread():
            # TensorFlow's preemption notifier swallows SIGTERM; make it stop the run as Ctrl-C does.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        return distribution
    return tf.distribute.get_strategy()


def _join_failure(exc: Exception) -> str:
    text = " ".join(str(getattr(exc, "message", exc)).split())
    if "Wait_for_all_tasks_to_register" in text:
        missing = sorted(set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text.split("timed out task names:")[-1])))
        who = ", ".join(f"{job} {task}" for job, task in missing) or "a worker"
        return f"{who} did not start within {JOIN_SECONDS} s"
    return text[:300]


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker cluster, and the collectives through which worker 0 leads.

    Each method is a collective: every worker calls it, in the same order, or the call waits for the missing one
    (until the coordination service declares it lost)."""

    strategy: tf.distribute.Strategy
    index: int  # 0: the chief (or worker 0, when the cluster has no chief)
    workers: int

    @classmethod
    def of(cls, strategy: tf.distribute.Strategy) -> Cluster | None:
        """The cluster a multi-worker strategy runs on, or None (a single process)."""
        resolver = getattr(strategy, "cluster_resolver", None)
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not resolver.task_type:
            return None
        jobs = resolver.cluster_spec().as_dict()
        workers = sum(len(jobs.get(job, [])) for job in CLUSTER_JOBS)
        index = resolver.task_id + (resolver.task_type == "worker" and "chief" in jobs)
        return cls(strategy, index, workers)

    @property
    def chief(self) -> bool:
        return self.index == 0

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of every worker's `values` (the same shape and dtype on all)."""
        local = tf.constant(values)
        per_worker = len(self.strategy.extended.worker_devices)  # replicas on this worker: only its first counts
        per_replica = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: local if ctx.replica_id_in_sync_group % per_worker == 0 else tf.zeros_like(local)
        )
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()

    def from_chief(self, text: str | None) -> str:
        """The chief's text, on every worker (the others pass None)."""
        mine = np.frombuffer(text.encode(), np.uint8).astype(np.int32) if self.chief else np.zeros(0, np.int32)
        size = int(self.all_sum(np.array([mine.size], np.int32))[0])
        padded = np.zeros(size, np.int32)
        padded[: mine.size] = mine
        return self.all_sum(padded).astype(np.uint8).tobytes().decode()

    def agree(self, problem: str | None) -> None:
        """Go on together, or stop together: raises this worker's problem, or names the workers that had one."""
        flags = np.zeros(self.workers, np.int32)
        flags[self.index] = problem is not None
        failed = [i for i, flag in enumerate(self.all_sum(flags)) if flag]
        if problem is not None:
            raise TrainError(problem)
        if failed:
            raise TrainError(f"worker {', '.join(map(str, failed))} of the cluster cannot go on (see its output)")

    def copy_chief_variables(self, variables: list[Any]) -> None:
        """Every worker's variables set to the chief's values: what worker 0 loaded (a checkpoint, the model to
        fine-tune) only it has; variables created under the strategy start equal, but assignments are local."""
        for variable in variables:
            value = np.asarray(variable.numpy())
            mine = value if self.chief else np.zeros_like(value)
            exact = np.float64 if value.dtype.kind in "iub" else value.dtype  # integers travel as doubles
            variable.assign(self.all_sum(mine.astype(exact)).astype(value.dtype))


def _logs_as_vectors(step: Any, data: Any) -> dict[str, tf.Tensor]:
    return {name: tf.reshape(value, [1]) for name, value in step(data).items()}


def fit_across_workers(model: keras.Model, cluster: Cluster | None) -> keras.Model:
    """The model, ready for fit and evaluate inside the strategy's scope on a cluster.

    Keras 3 has two gaps with MultiWorkerMirroredStrategy (keras-team/keras#20585), bridged here on the model
    alone: before the first step, fit and evaluate average a batch of data across the cluster to build the model,
    which fails for (x, y) batches (so the model, built already, is told of no strategy of its own and finds the
    one in scope); and each step averages its logs across workers over axis 0, which fails for the scalar losses
    (so the steps return them as vectors of one element, which that average turns into the cluster's mean: every
    worker then sees the same losses, and makes the same early-stopping decisions)."""
    if cluster is None:
        return model
    model._distribute_strategy = None
    if cluster.workers > 1:
        for name in ("train_step", "test_step"):
            setattr(model, name, functools.partial(_logs_as_vectors, getattr(model, name)))
    return model


class WorkerShare(keras.callbacks.Callback):
    """Counts the sequences this worker itself fitted in a (full) epoch, from the loss tracker's count read
    locally: on a cluster, its share of every global batch."""

    def __init__(self, strategy: tf.distribute.Strategy) -> None:
        super().__init__()
        self.strategy, self.sequences = strategy, 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        tracker = self.model.metrics[0]  # Keras lists its loss tracker, a Mean, first
        count = next(v for v in tracker.variables if v.name == "count").value  # the tf.Variable, synced on read
        seen = int(sum(t.numpy() for t in self.strategy.experimental_local_results(count)))
        self.sequences = max(self.sequences, seen)  # a time budget may cut the last epoch short


class ClusterClock(FitClock):
    """The chief's fitting clock, shared at every step (by ClockSync), so that a time budget and a learning rate
    that follows it are the same on every worker."""

    def __init__(self, seconds_before: float, cluster: Cluster) -> None:
        super().__init__(seconds_before)
        self.cluster, self.shared = cluster, 0.0

    def sync(self) -> None:
        mine = super().elapsed() if self.cluster.chief else 0.0
        self.shared = float(self.cluster.all_sum(np.array([mine], np.float64))[0])

    def elapsed(self) -> float:
        return self.shared


class ClockSync(keras.callbacks.Callback):
    def __init__(self, clock: ClusterClock) -> None:
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.clock.sync()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.clock.sync()


def cluster_failure(exc: tf.errors.OpError) -> str:
    """What went wrong in the cluster, in a few words, from TensorFlow's error."""
    text = " ".join(exc.message.split())
    task = r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)"
    silent = re.search(r"stopped sending heartbeats\):\s*" + task, text)
    if silent:
        return f"{silent[1]} {silent[2]} stopped answering (no heartbeat for {HEARTBEAT_SECONDS} s)"
    remote = re.search(r"remote target " + task, text)
    if remote:
        return f"lost the connection to {remote[1]} {remote[2]}"
    return text.split(" The error could be from")[0][:200]


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


def best_model(paths: RunPaths, arch: dict[str, int], dropout: float, cluster: Cluster | None = None) -> keras.Model:
    """A fresh model (no optimizer state) holding the run's best weights, compiled to evaluate; on a cluster, the
    chief's, on every worker. Call it in the strategy's scope."""
    leads = cluster is None or cluster.chief
    problem = "no epoch finished, so there is nothing to export" if leads and not paths.best.exists() else None
    if cluster is not None:
        cluster.agree(problem)
    elif problem:
        raise TrainError(problem)
    model = build_model(
        arch["vocab_size"],
        embedding_dim=arch["embedding_dim"],
        layers=arch["layers"],
        units=arch["units"],
        dropout=dropout,
    )
    if leads:
        model.load_weights(str(paths.best))
    if cluster is not None:
        cluster.copy_chief_variables(model.variables)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return fit_across_workers(model, cluster)


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


def _run_plan(
    cluster: Cluster,
    plan: dict[str, Any] | None,
    *,
    config: TrainConfig,
    corpus: Corpus,
    vocab: Vocab,
) -> dict[str, Any]:
    """The chief's plan for the run (config, state, architecture, precision), on every worker; the others check
    that they were started on the same corpus with the same options."""
    plan = json.loads(cluster.from_chief(json.dumps(plan) if cluster.chief else None))
    problem = None
    if not cluster.chief:
        chief = TrainConfig.from_dict(plan["config"])
        mine = config
        if plan["continuing"]:  # as reopen_run merges them: the run's options, and how long it may go on
            kept = ("epochs", "max_minutes", "patience")
            mine = TrainConfig.from_dict(plan["state"]["config"] | {k: getattr(config, k) for k in kept})
        different = [f.name for f in fields(TrainConfig) if getattr(mine, f.name) != getattr(chief, f.name)]
        if plan["state"]["corpus_sha256"] != corpus.sha256:
            problem = (
                "this worker's corpus differs from worker 0's: give every worker the same corpus options and files"
            )
        elif plan["vocab"] != vocab.to_json():
            problem = "this worker's vocabulary differs from worker 0's (another --init-from model?)"
        elif different:
            name = different[0]
            problem = (
                f"this worker was started with --{name.replace('_', '-')} {getattr(mine, name)}, worker 0 with "
                f"{getattr(chief, name)}; start every worker with the same command"
            )
    cluster.agree(problem)
    return plan


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
    paths, scratch = RunPaths(Path(run_dir)), None
    if cluster is not None and not cluster.chief:
        # Every worker takes part in each save (a collective), but only the chief's files are kept.
        scratch = Path(tempfile.mkdtemp(prefix=f"bard-worker{cluster.index}-"))
        out, paths, force = scratch / "out", RunPaths(scratch / "run"), True
    try:
        return _train(
            config,
            corpus,
            distribution=distribution,
            cluster=cluster,
            out=Path(out),
            paths=paths,
            force=force,
            resume=resume,
            export_only=export_only,
            init_from=init_from,
            weights_only=weights_only,
            command=command,
            verbose=verbose,
            strategy=strategy,
        )
    except tf.errors.OpError as exc:
        if cluster is None:
            raise
        epochs = json.loads(paths.state.read_text())["epoch"] if paths.state.exists() else 0
        again = (
            f"start every worker again with the same command and --resume (it goes on after epoch {epochs})"
            if epochs
            else "no epoch finished: start every worker again with the same command"
        )
        raise TrainError(f"the cluster failed: {cluster_failure(exc)}; {again}") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(
    config: TrainConfig,
    corpus: Corpus,
    *,
    distribution: tf.distribute.Strategy,
    cluster: Cluster | None,
    out: Path,
    paths: RunPaths,
    force: bool,
    resume: bool,
    export_only: bool,
    init_from: Path | None,
    weights_only: bool,
    command: str,
    verbose: int,
    strategy: str,
) -> Path:
    leads = cluster is None or cluster.chief  # decides the run, and writes the real files
    continuing = resume or export_only
    state: dict[str, Any] = {}
    source: keras.Model | None = None  # on a cluster, the chief's model before the strategy mirrors it
    problem = None
    try:
        if out.exists() and not force:
            raise TrainError(f"output directory {out} already exists (use --force to replace it)")
        base = load_init_from(init_from)
        vocab = choose_vocabulary(corpus, base)
        train_ids, val_ids = encode_corpus(corpus, vocab, config.seq_len)
        if not continuing:
            # Every worker resolves the same dropout from the same corpus (so that the others' options match
            # worker 0's); worker 0's, in its plan, is the one that counts.
            config = resolve_dropout(
                config, train_chars=len(train_ids), parameters=planned_parameters(config, vocab, base)
            )
        if leads:
            if continuing:
                config, state = reopen_run(paths, config, corpus, "--export-only" if export_only else "--resume")
            else:
                state = start_run(paths, config, corpus, force=force)
    except TrainError as exc:
        if cluster is None:
            raise
        problem = str(exc)

    if cluster is None:
        keras.utils.set_random_seed(config.seed + state["epoch"])
        with distribution.scope():  # variables live where the strategy puts them
            # A checkpoint is compiled (precision, XLA and optimizer state included) as the run started it.
            model = (
                keras.saving.load_model(paths.last, safe_mode=True) if continuing else new_model(config, vocab, base)
            )
        arch, precision = architecture(model), model_precision(model)
    else:
        cluster.agree(problem)  # each worker's own start-up problem, named by it; the others stop too
        plan = None
        if cluster.chief:
            keras.utils.set_random_seed(config.seed + state["epoch"])
            # Made as a single process makes it (the same weights from the same seed), outside the strategy.
            source = (
                keras.saving.load_model(paths.last, safe_mode=True) if continuing else new_model(config, vocab, base)
            )
            plan = {
                "config": config.to_dict(),
                "state": state,
                "continuing": continuing,
                "arch": architecture(source),
                "precision": model_precision(source),
                "vocab": vocab.to_json(),
            }
        plan = _run_plan(cluster, plan, config=config, corpus=corpus, vocab=vocab)
        config, state, continuing = TrainConfig.from_dict(plan["config"]), plan["state"], plan["continuing"]
        arch, precision = plan["arch"], plan["precision"]
        if not cluster.chief:
            paths.root.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(config.seed + state["epoch"])
        with distribution.scope():
            model = build_model(
                arch["vocab_size"],
                embedding_dim=arch["embedding_dim"],
                layers=arch["layers"],
                units=arch["units"],
                dropout=config.dropout,
                precision=precision,
            )
            _compile(model, config)
            model.optimizer.build(model.trainable_variables)
        if source is not None:
            _copy_variables(source, model)
        cluster.copy_chief_variables([*model.variables, *model.optimizer.variables])
        fit_across_workers(model, cluster)
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
        f"dropout {config.dropout:g}; "
        f"{int(datasets[0].cardinality())} steps of {config.batch_size}x{config.seq_len} per epoch; "
        f"strategy {strategy} ({distribution.num_replicas_in_sync} replicas{where}); precision {precision}"
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
            final = best_model(paths, arch, config.dropout, cluster)
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
        replicas=distribution.num_replicas_in_sync,
        workers=1 if cluster is None else cluster.workers,
    )
    speech = speech_data(corpus.train_text, base)  # a fine-tuned model's lexicon extends its base's
    export_model(out, final, vocab, manifest, speech=speech, force=force, paths=paths, weights_only=weights_only)
    if leads:
        print(f"exported {out} (val loss {val_loss:.4f} nats/char, best epoch {state['best_epoch']})")
    else:
        print(f"worker {cluster.index} of {cluster.workers} done (val loss {val_loss:.4f} nats/char); worker 0 exports")
    return out


def _copy_variables(source: keras.Model, model: keras.Model) -> None:
    """The source model's weights, and its optimizer's state when it has one, into the model (the same network)."""
    pairs = list(zip(source.variables, model.variables, strict=True))
    if source.optimizer is not None and source.optimizer.built:
        pairs += list(zip(source.optimizer.variables, model.optimizer.variables, strict=True))
    for src, dst in pairs:
        if tuple(src.shape) != tuple(dst.shape):
            raise TrainError(f"the checkpoint's {src.path} has shape {tuple(src.shape)}, not {tuple(dst.shape)}")
        dst.assign(src.numpy())
