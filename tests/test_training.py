"""Training end to end on tiny corpora: fit, export, resume, fine-tune, and every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model_store import store
from model_store.engine import Engine
from training import cli
from training.data import windows

TINY = [
    "--units",
    "16",
    "--embedding-dim",
    "8",
    "--seq-len",
    "32",
    "--batch-size",
    "8",
    "--sample-chars",
    "40",
    "--quiet",
]


@pytest.fixture
def play_file(tmp_path, script_text) -> Path:
    path = tmp_path / "plays" / "hamlet.txt"
    path.parent.mkdir()
    path.write_text(script_text)
    return path


def run_cli(*args: str | Path) -> int:
    return cli.main([str(a) for a in args])


def test_dataset_targets_are_inputs_shifted_by_one():
    ids = np.arange(100, dtype=np.int32)
    x, y = windows(ids, 10)
    assert x.shape == y.shape == (9, 10)
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert np.array_equal(y[:, -1], x[:, -1] + 1)


def test_train_one_epoch_export_and_generate(play_file, tmp_path, capsys):
    out, runs = tmp_path / "models" / "hamlet", tmp_path / "runs"
    t = time.monotonic()
    assert run_cli("--text", play_file, "--epochs", "1", "--out", out, "--run-dir", runs, *TINY) == 0
    assert time.monotonic() - t < 60
    printed = capsys.readouterr().out
    assert "sample after epoch 1" in printed and "exported" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("bard-train --text")
    assert manifest["epochs_trained"] == 1 and manifest["val_loss"] > 0 and manifest["train_loss"] > 0
    assert manifest["hyperparameters"]["units"] == 16
    assert manifest["corpus"]["train_chars"] > manifest["corpus"]["val_chars"] > 0
    for key in ("tensorflow", "keras", "numpy"):
        assert manifest["versions"][key]
    loaded = store.load(out)
    keras_model = store.load_keras(out)
    ids = loaded.vocab.encode("HAMLET:\nTo be, or not to be")
    keras_logits = np.asarray(keras_model(ids[None, :]))[0]
    engine = Engine(loaded)
    assert np.max(np.abs(engine.prime(ids)[0] - keras_logits)) <= 1e-4
    assert len(engine.generate("To be", max_chars=50, rng=np.random.default_rng(0)).text) <= 50
    assert (runs / "log.csv").read_text().count("\n") == 2
    assert (runs / "tensorboard").is_dir()


def test_resume_continues_from_the_checkpoint(play_file, tmp_path, capsys):
    out, runs = tmp_path / "m", tmp_path / "runs"
    assert run_cli("--text", play_file, "--epochs", "1", "--out", out, "--run-dir", runs, *TINY) == 0
    first = json.loads((runs / "state.json").read_text())
    assert (
        run_cli("--text", play_file, "--epochs", "2", "--out", out, "--run-dir", runs, "--resume", "--force", *TINY)
        == 0
    )
    assert "resuming" in capsys.readouterr().out
    state = json.loads((runs / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 2 * first["step"]
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert json.loads((out / "manifest.json").read_text())["epochs_trained"] == 2


def test_ctrl_c_then_resume(play_file, tmp_path):
    """An interrupted run keeps its last finished epoch and continues from it."""
    out, runs = tmp_path / "m", tmp_path / "runs"
    args = [
        sys.executable,
        "-m",
        "training.cli",
        "--text",
        str(play_file),
        "--epochs",
        "1000",
        "--out",
        str(out),
        "--run-dir",
        str(runs),
        *TINY,
        "--sample-chars",
        "0",
    ]
    proc = subprocess.Popen(
        args, cwd=Path(__file__).parents[1], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (runs / "state.json").exists() and json.loads((runs / "state.json").read_text())["epoch"] >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in err
    assert not out.exists()
    done = json.loads((runs / "state.json").read_text())["epoch"]
    assert done >= 2
    assert (
        run_cli("--text", play_file, "--epochs", str(done + 1), "--out", out, "--run-dir", runs, "--resume", *TINY) == 0
    )
    assert json.loads((runs / "state.json").read_text())["epoch"] == done + 1


def test_fine_tune_from_an_export_counts_unknown_characters(play_file, tmp_path, tiny_model_dir, capsys):
    new_play = tmp_path / "new.txt"
    new_play.write_text(play_file.read_text().replace("e", "\u00e9"))  # a character the model never saw
    out = tmp_path / "tuned"
    assert (
        run_cli(
            "--text",
            new_play,
            "--init-from",
            tiny_model_dir,
            "--epochs",
            "1",
            "--out",
            out,
            "--run-dir",
            tmp_path / "runs",
            *TINY,
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "are not in the model's vocabulary and map to the unknown id" in printed
    assert store.load(out).vocab == store.load(tiny_model_dir).vocab
    assert json.loads((out / "manifest.json").read_text())["init_from"] == str(tiny_model_dir)


def test_time_budget_stops_and_exports(play_file, tmp_path, capsys):
    out = tmp_path / "m"
    assert (
        run_cli(
            "--text",
            play_file,
            "--epochs",
            "1000",
            "--max-minutes",
            "0.05",
            "--out",
            out,
            "--run-dir",
            tmp_path / "runs",
            *TINY,
        )
        == 0
    )
    assert "time budget of 0.05 minutes reached" in capsys.readouterr().out
    assert store.load(out).manifest["epochs_trained"] < 1000


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--text", "{tmp}/missing.txt"], "no such file"),
        (["--text", "{tmp}/empty.txt"], "is empty"),
        (["--text", "{tmp}/binary.txt"], "binary"),
        (["--text", "{tmp}/latin1.txt"], "not valid UTF-8"),
        (["--play", "othelo"], "unknown play 'othelo'"),
        (["--group", "sonnets"], "unknown play group"),
        (["--text", "{tmp}/short.txt"], "fewer than one sequence"),
        (["--text", "{tmp}/ok.txt", "--units", "0"], "invalid --units"),
        (["--text", "{tmp}/ok.txt", "--dropout", "1.5"], "invalid --dropout"),
        (["--text", "{tmp}/ok.txt", "--lr-schedule", "linear"], "invalid --lr-schedule"),
        (["--text", "{tmp}/ok.txt", "--out", "{tmp}/existing"], "already exists"),
        (["--text", "{tmp}/ok.txt", "--init-from", "{tmp}/nomodel"], "does not exist"),
        (["--text", "{tmp}/ok.txt", "--resume"], "no checkpoint"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, capsys, script_text, extra, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9 au lait".encode("latin-1"))
    (tmp_path / "short.txt").write_text("To be.")
    (tmp_path / "ok.txt").write_text(script_text)
    (tmp_path / "existing").mkdir()
    args = [a.format(tmp=tmp_path) for a in extra]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "store" / "new")]
    assert run_cli(*TINY, *args, "--run-dir", tmp_path / "runs") == 2  # args last: they override TINY
    err = capsys.readouterr().err.strip()
    assert err.startswith("bard-train: error:") and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "store").exists()
    assert os.listdir(tmp_path / "existing") == []


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--play",
        "--group",
        "--text",
        "--out",
        "--resume",
        "--init-from",
        "--max-minutes",
        "--units",
        "--seq-len",
        "--learning-rate",
        "--clipnorm",
        "--seed",
        "--val-fraction",
    ):
        assert option in text


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_distribution_strategies_train_and_export(play_file, tmp_path, capsys, strategy):
    out = tmp_path / "m"
    assert (
        run_cli(
            "--text",
            play_file,
            "--epochs",
            "1",
            "--strategy",
            strategy,
            "--out",
            out,
            "--run-dir",
            tmp_path / "runs",
            *TINY,
        )
        == 0
    )
    assert f"strategy {strategy} (1 replicas)" in capsys.readouterr().out
    assert store.load(out).manifest["strategy"] == strategy


def test_multi_worker_needs_a_cluster(play_file, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    args = ("--strategy", "multi-worker", "--out", tmp_path / "m", "--run-dir", tmp_path / "runs")
    assert run_cli("--text", play_file, *args, *TINY) == 2
    assert "TF_CONFIG" in capsys.readouterr().err


def test_same_seed_same_run(play_file, tmp_path):
    """The model card's promise: its command, run again, reaches the same loss."""
    losses = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert (
            run_cli("--text", play_file, "--epochs", "2", "--out", out, "--run-dir", tmp_path / f"runs-{run}", *TINY)
            == 0
        )
        losses.append(json.loads((out / "manifest.json").read_text())["val_loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
