"""bard-train --strategy multi-worker as it runs on two machines: two worker processes on this one, a TF_CONFIG
cluster on loopback ports. Each worker is started with the same command (the same --out and --run-dir: only
worker 0 writes them); each gets its own TMPDIR, where worker 1 keeps its scratch files.

Starting a cluster is the slow part, so one story serves every test but the TF_CONFIG ones (the `story` fixture):
two workers start a run; worker 0 is killed after its first epoch, and worker 1 must stop; while it notices, one
process fits the same first epoch alone; then the same two commands with --resume finish the run and export it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from model_store import store
from training import cli

ROOT = Path(__file__).parents[1]
# Float32 without dropout: a single process with the same global batch must reach the same weights.
TINY = [
    "--layers", "1", "--units", "16", "--embedding-dim", "8", "--seq-len", "16", "--batch-size", "8",
    "--sample-chars", "0", "--dropout", "0", "--weight-drop", "0", "--weight-decay", "0", "--precision", "float32",
    "--quiet",
]  # fmt: skip
EPOCHS = 3  # worker 0 is killed after the first: one to spare, however late the kill lands
EPOCH_LINE = re.compile(r"^\d+/\d+ - .* - loss: (\S+) - val_loss: (\S+)$", re.MULTILINE)
LIMIT = 300  # seconds: only a guard against a hang, on a slow, busy machine


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

    def __init__(self, tmp_path: Path, args: list, label: str) -> None:
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
                command = [sys.executable, "-m", "training.cli", *map(str, args)]
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

    def outputs(self) -> str:
        return self.output(0)[-2000:] + self.output(1)[-2000:]

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def epoch_losses(output: str) -> list[tuple[str, str]]:
    return EPOCH_LINE.findall(output)


@dataclass
class Story:
    out: Path
    runs: Path
    first: Workers  # worker 0 killed after its first epoch
    epochs_done: int  # by the first two, when worker 0 was killed
    worker1_status: int
    worker1_seconds: float  # from the kill until worker 1 stopped
    worker1_scratch: list[str]  # what worker 1's scratch held once it stopped
    exported_after_kill: bool
    alone: Path  # the first epoch, fitted by one process alone
    resumed: Workers
    resumed_status: list[int]


@pytest.fixture(scope="module")
def story(tmp_path_factory, script_text):
    tmp = tmp_path_factory.mktemp("multiworker")
    play = tmp / "plays" / "hamlet.txt"
    play.parent.mkdir()
    play.write_text(script_text)
    out, runs, state = tmp / "store" / "m", tmp / "runs", tmp / "runs" / "state.json"
    args = ["--text", play, "--strategy", "multi-worker", "--out", out, "--run-dir", runs, "--epochs", EPOCHS, *TINY]
    started: list[Workers] = []
    try:
        first = Workers(tmp, args, "first")
        started.append(first)
        deadline = time.monotonic() + LIMIT
        while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):  # replaced atomically
            assert first.procs[0].poll() is None, first.outputs()
            assert time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.1)
        first.procs[0].send_signal(signal.SIGKILL)
        killed, stopped = time.monotonic(), []
        watch = threading.Thread(target=lambda: stopped.append((first.procs[1].wait(), time.monotonic())))
        watch.start()

        # While worker 1 notices: the same run fitted by one process with the same global batch (as many epochs:
        # the warm-up and the schedule follow the run's length), whose first epoch the workers' is compared with.
        alone = tmp / "alone"
        arguments = ["--text", play, "--out", alone, "--run-dir", tmp / "runs-alone", "--epochs", EPOCHS, *TINY]
        assert cli.main([str(a) for a in arguments]) == 0

        watch.join(timeout=max(0.0, killed + LIMIT - time.monotonic()))
        assert stopped, f"worker 1 still running {LIMIT} s after worker 0 was killed"
        (status, at), done = stopped[0], json.loads(state.read_text())["epoch"]
        scratch, exported = os.listdir(first.scratch[1]), out.exists()

        resumed = Workers(tmp, [*args, "--resume"], "resume")
        started.append(resumed)
        yield Story(out, runs, first, done, status, at - killed, scratch, exported, alone, resumed, resumed.finish())
    finally:
        for workers in started:  # never leave a process behind, whatever failed
            workers.kill_all()


def test_a_lost_worker_stops_the_other_with_one_line(story):
    """SIGKILL worker 0 after its first epoch: worker 1 stops within seconds with one line naming the worker and
    how to go on, exports nothing, and removes its scratch."""
    assert story.worker1_status == 2, story.first.output(1)[-3000:]
    assert story.worker1_seconds < 60, f"worker 1 took {story.worker1_seconds:.0f} s to notice"
    error = [line for line in story.first.output(1).splitlines() if line.startswith("bard-train: error:")]
    assert len(error) == 1 and "worker 0" in error[0] and "--resume" in error[0], error
    assert story.epochs_done < EPOCHS and f"it goes on after epoch {story.epochs_done}" in error[0]
    assert not story.exported_after_kill
    assert story.worker1_scratch == []


def test_resumed_workers_go_on_from_worker_0s_checkpoint_in_step(story):
    assert story.resumed_status == [0, 0], story.resumed.outputs()
    chief, other = story.resumed.output(0), story.resumed.output(1)
    assert f"resuming {story.runs} after epoch {story.epochs_done}" in chief
    assert "resuming worker 0's run" in other
    assert "strategy multi-worker (2 replicas, worker 1 of 2)" in other and "dropout 0;" in other

    # In step: each worker fitted half of every global batch (24 batches of 8 sequences an epoch), and both saw
    # the same losses, the cluster's, which worker 0 logged; worker 1 went on from worker 0's checkpoint too.
    assert "worker 0 of 2 fitted 96 sequences an epoch, its share of 24 batches of 8" in chief
    assert "worker 1 of 2 fitted 96 sequences an epoch, its share of 24 batches of 8" in other
    assert len(epoch_losses(other)) == EPOCHS - story.epochs_done and epoch_losses(chief) == epoch_losses(other)
    logged = [line.split(",")[1:] for line in (story.runs / "log.csv").read_text().splitlines()[1:]]
    resumed_rows = logged[-(EPOCHS - story.epochs_done) :]
    assert [(f"{float(a):.4f}", f"{float(b):.4f}") for a, b in resumed_rows] == epoch_losses(other)


def test_worker_0_alone_exports_the_run_once(story):
    assert story.resumed_status == [0, 0], story.resumed.outputs()
    assert sorted(p.name for p in story.out.parent.iterdir()) == ["m"]
    manifest = store.load(story.out).manifest  # complete and loadable
    assert manifest["strategy"] == "multi-worker" and manifest["replicas"] == 2 and manifest["workers"] == 2
    assert manifest["epochs_trained"] == EPOCHS and [h["epoch"] for h in manifest["history"]] == list(
        range(1, EPOCHS + 1)
    )
    assert "--resume" not in manifest["command"]
    assert "worker 0 exports" in story.resumed.output(1) and f"exported {story.out}" in story.resumed.output(0)
    assert [os.listdir(d) for d in story.resumed.scratch] == [[], []]  # worker 1 wrote only scratch, and removed it


def test_the_workers_fit_every_batch_together_as_one_process_does(story):
    """Together the two workers made the very update one process makes with the same global batch (the gradients
    of the two halves of every batch summed across them): the first epoch's losses are one process's, and its
    validation loss, computed with the weights after that epoch, tells weights apart to well below 1e-5."""
    first_epoch = store.load(story.out).manifest["history"][0]
    alone = store.load(story.alone).manifest["history"][0]
    assert first_epoch["epoch"] == alone["epoch"] == 1
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(first_epoch[key], alone[key], rtol=1e-5, err_msg=key)


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
