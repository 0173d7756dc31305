"""A cluster run (--strategy multi-worker): one bard-train process per machine, each started with the same command
and a TF_CONFIG naming the cluster and its place in it, training one model in step.

Worker 0 (or the chief) leads: it alone writes the run directory and the export, and it decides the run (options,
state, precision, weights) that the others follow; they keep their files in a scratch directory, removed when they
stop. Every collective (the steps, variable creation, checkpoint saves, the shares and plan below) is made by every
worker in the same order, or waits for the missing one until the coordination service declares it lost: a cluster's
failure stops every worker with one line. Nothing here writes a file but the scratch directory; train.py owns the
run's files.

A run reaches all of this through one seam, Workers: the processes it fits on. A single process (one device, or
every local GPU) is the trivial Workers, whose steps are what a run does anyway; ClusterWorkers does each step on a
cluster, through the collectives of Cluster.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store.vocab import Vocab
from training.callbacks import FitClock
from training.config import TrainConfig
from training.corpus import Corpus
from training.errors import TrainError
from training.model import architecture, build_architecture, compile_for_fit, model_lstm_impl, model_precision
from training.run_dir import RunPaths, RunState, resumed_config
from training.strategy import CLUSTER_JOBS, HEARTBEAT_SECONDS, make_strategy


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


def fit_across_workers(model: keras.Model, cluster: Cluster) -> keras.Model:
    """The model, ready for fit and evaluate inside the strategy's scope on a cluster.

    Keras 3 has two gaps with MultiWorkerMirroredStrategy (keras-team/keras#20585), bridged here on the model
    alone: before the first step, fit and evaluate average a batch of data across the cluster to build the model,
    which fails for (x, y) batches (so the model, built already, is told of no strategy of its own and finds the
    one in scope); and each step averages its logs across workers over axis 0, which fails for the scalar losses
    (so the steps return them as vectors of one element, which that average turns into the cluster's mean: every
    worker then sees the same losses, and makes the same early-stopping decisions)."""
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


# --------------------------------------------------------------------------- the seam: the processes a run fits on

ModelStart = tuple[TrainConfig, RunState, bool, keras.Model]  # config, state, continuing, and the model to fit


class Workers:
    """The processes a run fits on, as train.py sees them: this process alone (one device, or every local GPU),
    doing each step as a run does anyway. ClusterWorkers does the same steps on a cluster."""

    leads = True  # this process decides the run and writes its real files
    count = 1  # processes (machines) fitting the model
    place = ""  # this process's place in them, for the run's description

    def __init__(self, distribution: tf.distribute.Strategy) -> None:
        self.distribution = distribution

    @staticmethod
    def join(strategy: str) -> Workers:
        """The workers of a --strategy: this process, or the cluster in TF_CONFIG (once every worker started)."""
        distribution = make_strategy(strategy)
        cluster = Cluster.of(distribution)
        return Workers(distribution) if cluster is None else ClusterWorkers(cluster)

    @property
    def replicas(self) -> int:
        return self.distribution.num_replicas_in_sync

    @contextlib.contextmanager
    def files(self, out: Path, paths: RunPaths, force: bool) -> Iterator[tuple[Path, RunPaths, bool]]:
        """Where this process writes: out and the run's paths, force as given."""
        yield out, paths, force

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """A TrainError in the block stops the run (on a cluster, every worker's)."""
        yield

    def start_model(
        self,
        first_model: Callable[[], keras.Model],
        config: TrainConfig,
        state: RunState | None,
        continuing: bool,
        *,
        corpus: Corpus,
        vocab: Vocab,
        paths: RunPaths,
    ) -> ModelStart:
        """The run's config, state and continuing as given, and its model from first_model, made where the
        strategy puts variables."""
        with self.distribution.scope():
            return config, state, continuing, first_model()

    def fit_scope(self) -> contextlib.AbstractContextManager:
        """Where fit and evaluate run: outside any scope (Keras finds the strategy the model was made in)."""
        return contextlib.nullcontext()

    def fit_clock(self, seconds_before: float, max_minutes: float) -> FitClock:
        """The clock the schedule and the time budget read: this process's."""
        return FitClock(seconds_before)

    def fit_callbacks(self, callbacks: list[keras.callbacks.Callback], clock: FitClock) -> list:
        """The run's callbacks, with those the workers need around them."""
        return callbacks

    def fitted(self, batches: int, batch_size: int) -> None:
        """Said after fitting: nothing, for one process."""

    def how_to_continue(self, epoch: int, paths: RunPaths) -> str:
        """How to go on after an interrupted fit."""
        return f"the same command and --resume (checkpoint after epoch {epoch} in {paths.root})"

    def take_chief_weights(self, model: keras.Model) -> None:
        """Every worker's weights set to worker 0's: one process has them already."""

    def ready(self, model: keras.Model) -> keras.Model:
        """The model, ready for fit and evaluate."""
        return model

    def finished(self, out: Path, val_loss: float, val_stream_loss: float, best_epoch: int) -> str:
        """The run's last line."""
        return (
            f"exported {out} (val loss {val_loss:.4f} nats/char, {val_stream_loss:.4f} read as streams; "
            f"best epoch {best_epoch})"
        )


class ClusterWorkers(Workers):
    """A run on a cluster: worker 0 leads and writes; every step below is a collective (or made of them)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.strategy)
        self.cluster = cluster
        self.leads, self.count = cluster.chief, cluster.workers
        self.place = f", worker {cluster.index} of {cluster.workers}"
        self.share = WorkerShare(cluster.strategy)

    @contextlib.contextmanager
    def files(self, out: Path, paths: RunPaths, force: bool) -> Iterator[tuple[Path, RunPaths, bool]]:
        """Worker 0 writes out and the run's paths (force as given); the others write a scratch directory (force:
        yes), removed when they stop. A failure of the cluster (a worker lost) ends the block as a TrainError
        saying how to go on."""
        scratch = None
        if not self.cluster.chief:
            # Every worker takes part in each save (a collective), but only the chief's files are kept.
            scratch = Path(tempfile.mkdtemp(prefix=f"bard-worker{self.cluster.index}-"))
            out, paths, force = scratch / "out", RunPaths(scratch / "run"), True
        try:
            yield out, paths, force
        except tf.errors.OpError as exc:
            epochs = RunState.load(paths.state).epoch if paths.state.exists() else 0
            again = (
                f"start every worker again with the same command and --resume (it goes on after epoch {epochs})"
                if epochs
                else "no epoch finished: start every worker again with the same command"
            )
            raise TrainError(f"the cluster failed: {cluster_failure(exc)}; {again}") from None
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """A TrainError in the block stops every worker: the worker that had it names it, the others name that
        worker."""
        problem = None
        try:
            yield
        except TrainError as exc:
            problem = str(exc)
        self.cluster.agree(problem)

    def start_model(
        self,
        first_model: Callable[[], keras.Model],
        config: TrainConfig,
        state: RunState | None,  # None on the workers that follow
        continuing: bool,
        *,
        corpus: Corpus,
        vocab: Vocab,
        paths: RunPaths,
    ) -> ModelStart:
        """Worker 0's start of the run, on every worker: its config, state and continuing, and the model mirrored
        by the strategy, ready to fit with worker 0's variables.

        Worker 0 makes its model with first_model, as a single process does (the same weights from the same seed,
        a checkpoint as the run compiled it), outside the strategy; every worker then builds the network in the
        strategy's scope and takes worker 0's weights and optimizer state."""
        plan, source, cluster = None, None, self.cluster
        if cluster.chief:
            source = first_model()
            plan = {
                "config": config.to_dict(),
                "state": state.to_dict(),
                "continuing": continuing,
                "arch": architecture(source),
                "precision": model_precision(source),
                "lstm_impl": model_lstm_impl(source),
                "vocab": vocab.to_json(),
            }
        plan = _run_plan(cluster, plan, config, corpus, vocab)
        config, state = TrainConfig.from_dict(plan["config"]), RunState.from_dict(plan["state"])
        if not cluster.chief:
            paths.root.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(config.seed + state.epoch)
        with cluster.strategy.scope():
            model = build_architecture(
                plan["arch"],
                **config.regularisers(),
                precision=plan["precision"],
                lstm_impl=plan["lstm_impl"],
            )
            compile_for_fit(model, config)
            model.optimizer.build(model.trainable_variables)
        if source is not None:
            _copy_variables(source, model)
        cluster.copy_chief_variables([*model.variables, *model.optimizer.variables])
        return config, state, plan["continuing"], self.ready(model)

    def fit_scope(self) -> contextlib.AbstractContextManager:
        """Fit and evaluate find the strategy in its scope (fit_across_workers)."""
        return self.distribution.scope()

    def fit_clock(self, seconds_before: float, max_minutes: float) -> FitClock:
        # A time limit is the chief's: every worker must stop at the same step.
        return ClusterClock(seconds_before, self.cluster) if max_minutes > 0 else FitClock(seconds_before)

    def fit_callbacks(self, callbacks: list[keras.callbacks.Callback], clock: FitClock) -> list:
        """The clock shared before every step, and this worker's share counted."""
        sync = [ClockSync(clock)] if isinstance(clock, ClusterClock) else []
        return [*sync, *callbacks, self.share]

    def fitted(self, batches: int, batch_size: int) -> None:
        print(
            f"worker {self.cluster.index} of {self.cluster.workers} fitted {self.share.sequences} sequences an epoch, "
            f"its share of {batches} batches of {batch_size}"
        )

    def how_to_continue(self, epoch: int, paths: RunPaths) -> str:
        # The other workers stop too: the cluster lost one.
        return f"the same command and --resume on every worker (worker 0 keeps the checkpoint after epoch {epoch})"

    def take_chief_weights(self, model: keras.Model) -> None:
        """Every worker's weights set to worker 0's, which only it loaded."""
        self.cluster.copy_chief_variables(model.variables)

    def ready(self, model: keras.Model) -> keras.Model:
        return fit_across_workers(model, self.cluster)

    def finished(self, out: Path, val_loss: float, val_stream_loss: float, best_epoch: int) -> str:
        if self.leads:
            return super().finished(out, val_loss, val_stream_loss, best_epoch)
        return (
            f"worker {self.cluster.index} of {self.cluster.workers} done (val loss {val_loss:.4f} nats/char); "
            "worker 0 exports"
        )


def _run_plan(
    cluster: Cluster, plan: dict[str, Any] | None, config: TrainConfig, corpus: Corpus, vocab: Vocab
) -> dict[str, Any]:
    """The chief's plan for the run (config, state, architecture, precision), on every worker; the others check
    that they were started on the same corpus with the same options."""
    plan = json.loads(cluster.from_chief(json.dumps(plan) if cluster.chief else None))
    problem = None
    if not cluster.chief:
        chief = TrainConfig.from_dict(plan["config"])
        mine = config
        if plan["continuing"]:  # as reopen_run merges them: the run's options, and how long it may go on
            mine = resumed_config(plan["state"]["config"], config)
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


def _copy_variables(source: keras.Model, model: keras.Model) -> None:
    """The source model's weights, and its optimizer's state when it has one, into the model (the same network)."""
    pairs = list(zip(source.variables, model.variables, strict=True))
    if source.optimizer is not None and source.optimizer.built:
        pairs += list(zip(source.optimizer.variables, model.optimizer.variables, strict=True))
    for src, dst in pairs:
        if tuple(src.shape) != tuple(dst.shape):
            raise TrainError(f"the checkpoint's {src.path} has shape {tuple(src.shape)}, not {tuple(dst.shape)}")
        dst.assign(src.numpy())
