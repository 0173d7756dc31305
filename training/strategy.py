"""The tf.distribute strategy a run asks for (--strategy): one device, every local GPU, or a cluster of machines
named by TF_CONFIG, which it reads (every mistake named in one line) and joins, with the coordination service's
time limits set so that a lost or missing worker fails the others (training/cluster.py runs the cluster)."""

from __future__ import annotations

import json
import os
import re
import signal
import threading

import tensorflow as tf

from training.errors import TrainError

CLUSTER_JOBS = ("chief", "worker")
HEARTBEAT_SECONDS = 10  # a worker silent this long is lost: the others stop with an error
JOIN_SECONDS = 600  # how long the workers wait for each other to start
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})")


def read_tf_config(text: str | None) -> tuple[dict[str, list[str]], str, int]:
    """The cluster, this task's type and this task's index, from TF_CONFIG; every mistake named in one line."""
    if text is None:
        raise TrainError("--strategy multi-worker needs the TF_CONFIG environment variable (see docs/training.md)")
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
