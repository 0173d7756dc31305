"""A cluster run (--strategy multi-worker): one bard-train process per machine, each started with the same command
and a TF_CONFIG naming the cluster and its place in it, training one model in step.

Worker 0 (or the chief) leads: it alone writes the run directory and the export, and it decides the run (options,
state, precision, weights) that the others follow; they keep their files in a scratch directory, removed when they
stop. Every collective (the steps, variable creation, checkpoint saves, the shares and plan below) is made by every
worker in the same order, or waits for the missing one until the coordination service declares it lost: a cluster's
failure stops every worker with one line. Nothing here writes a file but the scratch directory; train.py owns the
run's files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store.vocab import Vocab
from training.callbacks import FitClock, RunPaths
from training.config import TrainConfig
from training.corpus import Corpus
from training.errors import TrainError
from training.model import architecture, build_architecture, compile_for_fit, model_lstm_impl, model_precision

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


# --------------------------------------------------------------------------- a run on a cluster


@contextlib.contextmanager
def worker_files(
    cluster: Cluster | None, out: Path, paths: RunPaths, force: bool
) -> Iterator[tuple[Path, RunPaths, bool]]:
    """Where this process writes: out and the run's paths (force as given) for a single process or worker 0; a
    scratch directory (force: yes) for the other workers, removed when they stop. On a cluster, a failure of the
    cluster (a worker lost) ends the block as a TrainError saying how to go on."""
    if cluster is None:
        yield out, paths, force
        return
    scratch = None
    if not cluster.chief:
        # Every worker takes part in each save (a collective), but only the chief's files are kept.
        scratch = Path(tempfile.mkdtemp(prefix=f"bard-worker{cluster.index}-"))
        out, paths, force = scratch / "out", RunPaths(scratch / "run"), True
    try:
        yield out, paths, force
    except tf.errors.OpError as exc:
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


@contextlib.contextmanager
def together(cluster: Cluster | None) -> Iterator[None]:
    """On a cluster, a TrainError in the block stops every worker: the worker that had it names it, the others
    name that worker. A single process just raises it."""
    if cluster is None:
        yield
        return
    problem = None
    try:
        yield
    except TrainError as exc:
        problem = str(exc)
    cluster.agree(problem)


def start_model(
    cluster: Cluster,
    first_model: Callable[[], keras.Model],
    *,
    config: TrainConfig,
    state: dict[str, Any],
    continuing: bool,
    corpus: Corpus,
    vocab: Vocab,
    paths: RunPaths,
) -> tuple[TrainConfig, dict[str, Any], bool, dict[str, int], str, keras.Model]:
    """Worker 0's start of the run, on every worker: its config, state, continuing, architecture, precision and
    model, the model mirrored by the strategy and ready to fit (fit_across_workers) with worker 0's variables.

    Worker 0 makes its model with first_model, as a single process does (the same weights from the same seed, a
    checkpoint as the run compiled it), outside the strategy; every worker then builds the network in the
    strategy's scope and takes worker 0's weights and optimizer state."""
    plan, source = None, None
    if cluster.chief:
        source = first_model()
        plan = {
            "config": config.to_dict(),
            "state": state,
            "continuing": continuing,
            "arch": architecture(source),
            "precision": model_precision(source),
            "lstm_impl": model_lstm_impl(source),
            "vocab": vocab.to_json(),
        }
    plan = _run_plan(cluster, plan, config, corpus, vocab)
    config, state, continuing = TrainConfig.from_dict(plan["config"]), plan["state"], plan["continuing"]
    arch, precision = plan["arch"], plan["precision"]
    if not cluster.chief:
        paths.root.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed + state["epoch"])
    with cluster.strategy.scope():
        model = build_architecture(
            arch,
            **config.regularisers(),
            precision=precision,
            lstm_impl=plan["lstm_impl"],
        )
        compile_for_fit(model, config)
        model.optimizer.build(model.trainable_variables)
    if source is not None:
        _copy_variables(source, model)
    cluster.copy_chief_variables([*model.variables, *model.optimizer.variables])
    return config, state, continuing, arch, precision, fit_across_workers(model, cluster)


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


def _copy_variables(source: keras.Model, model: keras.Model) -> None:
    """The source model's weights, and its optimizer's state when it has one, into the model (the same network)."""
    pairs = list(zip(source.variables, model.variables, strict=True))
    if source.optimizer is not None and source.optimizer.built:
        pairs += list(zip(source.optimizer.variables, model.optimizer.variables, strict=True))
    for src, dst in pairs:
        if tuple(src.shape) != tuple(dst.shape):
            raise TrainError(f"the checkpoint's {src.path} has shape {tuple(src.shape)}, not {tuple(dst.shape)}")
        dst.assign(src.numpy())
