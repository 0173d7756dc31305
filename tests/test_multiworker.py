"""bard-train --strategy multi-worker as it runs on two machines: two worker processes on this one, a TF_CONFIG
cluster on loopback ports. Each worker is started with the same command (the same --out and --run-dir: only
worker 0 writes them); each gets its own TMPDIR, where worker 1 keeps its scratch files."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model_store import store
from training import cli

ROOT = Path(__file__).parents[1]
# Float32 without dropout: a single process with the same global batch must reach the same weights.
TINY = [
    "--layers", "1", "--units", "16", "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8",
    "--sample-chars", "0", "--dropout", "0", "--precision", "float32", "--quiet",
]  # fmt: skip
EPOCH_LINE = re.compile(r"^\d+/\d+ - .* - loss: (\S+) - val_loss: (\S+)$", re.MULTILINE)
LIMIT = 300  # seconds: only a guard against a hang, on a slow, busy machine


@pytest.fixture
def play_file(tmp_path, script_text) -> Path:
    path = tmp_path / "plays" / "hamlet.txt"
    path.parent.mkdir()
    path.write_text(script_text)
    return path


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Workers:
    """Two bard-train processes forming one cluster; each one's output goes to a file."""

    def __init__(self, tmp_path: Path, args: list[str], label: str) -> None:
        ports = free_ports(2)
        cluster = {"worker": [f"localhost:{p}" for p in ports]}
        self.logs = [tmp_path / f"{label}-worker{i}.log" for i in range(2)]
        self.scratch = [tmp_path / f"tmp{i}" for i in range(2)]
        self.procs: list[subprocess.Popen] = []
        for i in range(2):
            self.scratch[i].mkdir(exist_ok=True)
            env = os.environ | {
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                "TMPDIR": str(self.scratch[i]),
            }
            with self.logs[i].open("w") as log:
                command = [sys.executable, "-m", "training.cli", *args]
                self.procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    def wait(self, i: int, deadline: float) -> int:
        try:
            return self.procs[i].wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {i} still running after {LIMIT} s:\n{self.output(i)[-3000:]}")

    def finish(self) -> list[int]:
        deadline = time.monotonic() + LIMIT
        return [self.wait(i, deadline) for i in range(2)]

    def output(self, i: int) -> str:
        return self.logs[i].read_text()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    started: list[Workers] = []

    def start(args: list[str], label: str) -> Workers:
        started.append(Workers(tmp_path, [str(a) for a in args], label))
        return started[-1]

    yield start
    for workers in started:  # never leave a process behind, whatever failed
        workers.kill_all()


def epoch_losses(output: str) -> list[tuple[str, str]]:
    return EPOCH_LINE.findall(output)


def test_two_workers_train_in_step_and_export_once(play_file, tmp_path, cluster):
    out, runs = tmp_path / "store" / "m", tmp_path / "runs"
    args = ["--text", play_file, "--epochs", "2", "--strategy", "multi-worker", "--out", out, "--run-dir", runs, *TINY]
    workers = cluster(args, "run")
    assert workers.finish() == [0, 0], workers.output(0)[-2000:] + workers.output(1)[-2000:]
    chief, other = workers.output(0), workers.output(1)

    # In step: each worker fitted half of every global batch (24 batches of 8 sequences an epoch), and both saw
    # the same losses, the cluster's, which worker 0 logged.
    assert "worker 0 of 2 fitted 96 sequences an epoch, its share of 24 batches of 8" in chief
    assert "worker 1 of 2 fitted 96 sequences an epoch, its share of 24 batches of 8" in other
    assert "strategy multi-worker (2 replicas, worker 1 of 2)" in other
    assert len(epoch_losses(chief)) == 2 and epoch_losses(chief) == epoch_losses(other)
    logged = [line.split(",")[1:] for line in (runs / "log.csv").read_text().splitlines()[1:]]
    assert [(f"{float(a):.4f}", f"{float(b):.4f}") for a, b in logged] == epoch_losses(other)

    # One export, by worker 0, complete and loadable; worker 1 wrote only to its scratch, and removed it.
    assert sorted(p.name for p in out.parent.iterdir()) == ["m"]
    model = store.load(out)
    assert model.manifest["strategy"] == "multi-worker"
    assert model.manifest["replicas"] == 2 and model.manifest["workers"] == 2
    assert model.manifest["epochs_trained"] == 2
    assert "worker 0 exports" in other and f"exported {out}" in chief
    assert [os.listdir(d) for d in workers.scratch] == [[], []]

    # Together they made the very update a single process makes with the same global batch: the gradients of
    # the two halves of every batch were summed across the workers.
    alone = tmp_path / "alone"
    args = ["--text", play_file, "--epochs", "2", "--out", alone, "--run-dir", tmp_path / "runs-alone", *TINY]
    assert cli.main([str(a) for a in args]) == 0
    single = store.load(alone)
    for name, weights in model.weights.items():
        np.testing.assert_allclose(weights, single.weights[name], atol=1e-5, err_msg=name)
    np.testing.assert_allclose(model.manifest["val_loss"], single.manifest["val_loss"], rtol=1e-5)


def test_a_lost_worker_stops_the_other_and_both_resume(play_file, tmp_path, cluster):
    """SIGKILL worker 0 after its first epoch: worker 1 stops within seconds with one line (and removes its
    scratch); the same two commands with --resume go on from worker 0's checkpoint and export once."""
    out, runs = tmp_path / "store" / "m", tmp_path / "runs"
    common = ["--text", play_file, "--strategy", "multi-worker", "--out", out, "--run-dir", runs, *TINY]
    args = [*common, "--epochs", "3", "--patience", "1000"]
    workers = cluster(args, "first")
    state = runs / "state.json"  # replaced atomically: never read half-written
    deadline = time.monotonic() + LIMIT
    while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        assert workers.procs[0].poll() is None, workers.output(0)[-3000:]
        assert time.monotonic() < deadline, "no epoch finished"
        time.sleep(0.1)
    workers.procs[0].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert workers.wait(1, killed + LIMIT) == 2
    stopped = time.monotonic() - killed
    assert stopped < 60, f"worker 1 took {stopped:.0f} s to notice"
    error = [line for line in workers.output(1).splitlines() if line.startswith("bard-train: error:")]
    assert len(error) == 1 and "worker 0" in error[0] and "--resume" in error[0], error
    done = json.loads(state.read_text())["epoch"]
    assert done < 3 and f"it goes on after epoch {done}" in error[0]
    assert not out.exists()
    assert os.listdir(workers.scratch[1]) == []  # worker 1 removed its scratch, stopping

    again = cluster([*args, "--resume"], "resume")
    assert again.finish() == [0, 0], again.output(0)[-2000:] + again.output(1)[-2000:]
    assert f"resuming {runs} after epoch {done}" in again.output(0)
    assert epoch_losses(again.output(0)) == epoch_losses(again.output(1))
    assert len(epoch_losses(again.output(1))) == 3 - done  # worker 1 went on from worker 0's checkpoint too
    manifest = store.load(out).manifest
    assert manifest["epochs_trained"] == 3 and [h["epoch"] for h in manifest["history"]] == [1, 2, 3]
    assert [os.listdir(d) for d in again.scratch] == [[], []]


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG has no "cluster"'),
        ('{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 2}}',
         "task index 2 is out of range: the cluster has 2 worker tasks (index 0 to 1)"),
        ('{"cluster": {"worker": ["localhost:1"]}}', 'TF_CONFIG: "task" must say which'),
        ('{"cluster": {"worker": ["localhost:1"], "ps": ["localhost:2"]}, "task": {"type": "worker", "index": 0}}',
         "only \"chief\" and \"worker\" tasks, not 'ps'"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', '"host:port" addresses'),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "an address twice"),
    ],
)  # fmt: skip
def test_a_bad_tf_config_gives_one_line_and_writes_nothing(
    play_file, tmp_path, capsys, monkeypatch, tf_config, message
):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    args = ["--text", play_file, "--strategy", "multi-worker", "--out", tmp_path / "store" / "m"]
    assert cli.main([str(a) for a in [*args, "--run-dir", tmp_path / "runs", *TINY]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bard-train: error:") and message in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "store").exists() and not (tmp_path / "runs").exists()
