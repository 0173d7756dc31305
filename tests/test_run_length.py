"""A run set by its own length (the warm-up, the epoch limit under a time budget), the refusals made before
TensorFlow is imported, TensorFlow's start-up lines shown once, and what a model says of itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clocks import StoppedClock

from training import cli
from training.callbacks import LearningRateSchedule
from training.config import DEFAULT_EPOCHS, UNCAPPED_EPOCHS, TrainConfig
from training.manifest import summary, validation_text
from training.run_dir import RunState
from training.tf_startup import startup_lines

ROOT = Path(__file__).resolve().parent.parent


def rate_at(config: TrainConfig, step: int, total_steps: int, elapsed: float = 0.0) -> float:
    state = RunState.fresh(config, "sha")
    state.step = step
    return LearningRateSchedule(config, state, total_steps, StoppedClock(elapsed)).rate()


def test_a_run_of_23_steps_warms_up_over_two_and_reaches_its_peak():
    config = TrainConfig(learning_rate=2e-3)  # --warmup-steps 100, more than the whole run
    rates = [rate_at(config, step, total_steps=23) for step in range(23)]
    assert rates[0] == pytest.approx(1e-3) and rates[1] == pytest.approx(2e-3) and max(rates) == rates[1]
    assert rates[-1] < rates[2] < rates[1]  # then down the cosine to the floor
    assert rate_at(config, 99, total_steps=10_000) == pytest.approx(2e-3)  # a long run keeps its 100 steps


def test_under_a_time_budget_the_warm_up_ends_at_a_tenth_of_the_time():
    config = TrainConfig(learning_rate=1e-2, max_minutes=1.0, min_lr_ratio=0.0)
    uncapped = config.epoch_limit() * 10
    assert rate_at(config, 5, uncapped, elapsed=3.0) == pytest.approx(1e-2 * 0.5)  # half-way through its tenth
    assert rate_at(config, 5, uncapped, elapsed=6.0) == pytest.approx(1e-2 * 0.5 * (1 + 0.9510565), rel=1e-5)


def test_a_time_budget_is_not_cut_short_by_an_epoch_cap_unless_asked():
    assert TrainConfig().epoch_limit() == DEFAULT_EPOCHS == 30
    assert TrainConfig(max_minutes=60).epoch_limit() == UNCAPPED_EPOCHS
    assert TrainConfig(max_minutes=60, epochs=40).epoch_limit() == 40
    with pytest.raises(ValueError, match="invalid --epochs: -1"):
        TrainConfig(epochs=-1)


def test_help_says_what_the_defaults_adapt_to(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0: 30, or no cap with --max-minutes (the time budget is the run's length)" in text
    assert "at most a tenth of the run (its steps, or its --max-minutes): a short run reaches the peak" in text
    # --out is needed to train or export, not to look: --preview and --list-plays run without it
    assert "(required)" not in text
    assert (
        "--out OUT export directory, e.g. model_store/othello (required to train or export; not with --preview" in text
    )
    assert "tinyshakespeare.txt is char-rnn's data/tinyshakespeare/input.txt" in text


def test_tensorflows_start_up_lines_print_once_in_a_real_import():
    """What the user sees when bard-train imports TensorFlow: no line twice, and not absl's notice."""
    code = "from training.tf_startup import import_tensorflow\nimport_tensorflow()\nimport_tensorflow()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    messages = [line.split("] ", 1)[-1] for line in lines]  # the same message, stamped twice, is still twice
    assert len(messages) == len(set(messages)), done.stderr
    assert not any("absl::InitializeLog" in line for line in lines)


REFUSE = """
import sys, time
from training.cli import main
started = time.monotonic()
code = main(sys.argv[1:])
print(code, "tensorflow" in sys.modules, round(time.monotonic() - started, 2))
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--out", "{tmp}/existing"], "output directory {tmp}/existing already exists (use --force to replace it)"),
        (["--out", "{tmp}/new", "--text", "{tmp}/missing.txt"], "{tmp}/missing.txt: no such file"),
        (["--out", "{tmp}/new", "--units", "0"], "invalid --units: 0"),
        (["--out", "{tmp}/new", "--init-from", "{tmp}/existing"], "--init-from: {tmp}/existing has no manifest"),
        (["--out", "{tmp}/new", "--resume"], "--resume: {tmp}/runs holds no checkpoint"),
        (["--out", "{tmp}/new", "--run-dir", "{tmp}/held"], "run directory {tmp}/held already holds a run"),
    ],
)
def test_a_refusal_that_needs_no_tensorflow_comes_before_it_in_one_line(tmp_path, script_text, extra, message):
    (tmp_path / "existing").mkdir()
    (tmp_path / "held").mkdir()
    (tmp_path / "held" / "state.json").write_text("{}")
    (tmp_path / "ok.txt").write_text(script_text)
    args = [a.format(tmp=tmp_path) for a in ["--text", "{tmp}/ok.txt", "--run-dir", "{tmp}/runs", *extra]]
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", REFUSE, *args], cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    code, imported, _ = done.stdout.split()
    assert (code, imported) == ("2", "False"), done.stderr
    assert done.stderr.startswith(f"bard-train: error: {message.format(tmp=tmp_path)}")
    assert len(done.stderr.splitlines()) == 1
    assert took < 10  # the whole process, Python's start included; about 0.4 s here, TensorFlow's import 5 s


def test_tensorflows_start_up_lines_are_shown_once_each():
    notice = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
    onednn = "port.cc:153] oneDNN custom operations are on."
    cuda = "cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used."
    captured = "\n".join(
        [
            notice,
            f"I0000 00:00:1796455385.567378   26999 {onednn}",
            f"I0000 00:00:1796455385.567720   26999 {cuda}",
            notice,
            f"I0000 00:00:1796455389.828982   26999 {onednn}",
            f"I0000 00:00:1796455389.833974   26999 {cuda}",
            "Traceback: a real error is passed on",
        ]
    )
    assert startup_lines(captured) == [
        f"I0000 00:00:1796455385.567378   26999 {onednn}",
        f"I0000 00:00:1796455385.567720   26999 {cuda}",
        "Traceback: a real error is passed on",
    ]


def test_the_summary_says_the_base_the_validation_text_and_the_minutes():
    manifest = {
        "base_model": {"name": "shakespeare", "path": "model_store/shakespeare"},
        "val_loss": 1.318,
        "validation": {"texts": ["plays/jew-of-malta.xml"], "fraction": 0.1, "chars": 21345},
        "train_minutes": 7.5,
        "epochs_trained": 23,
    }
    assert summary(manifest) == (
        "  base:       fine-tuned from shakespeare (model_store/shakespeare)\n"
        "  val loss:   1.3180 nats/char on the last 10% of 1 text (jew-of-malta.xml): 21,345 characters\n"
        "  training:   7.5 minutes, 23 epochs"
    )
    scratch = manifest | {"base_model": None, "validation": {"texts": list("abcde"), "fraction": 0.1, "chars": 9}}
    assert summary(scratch).startswith("  base:       trained from scratch\n")
    assert validation_text(scratch["validation"]) == "the last 10% of 5 texts (a, b, c and 2 more): 9 characters"


def test_a_short_fine_tune_reaches_its_peak_rate_and_says_what_it_is(tmp_path, keras_model_dir, capsys, script_text):
    play = tmp_path / "play.txt"
    play.write_text(script_text[: len(script_text) // 2])
    out, runs = tmp_path / "fine", tmp_path / "runs"
    tiny = ["--seq-len", "32", "--batch-size", "8", "--sample-chars", "0", "--quiet", "--patience", "50"]
    args = ["--text", play, "--init-from", keras_model_dir, "--epochs", "6", "--out", out, "--run-dir", runs, *tiny]
    assert cli.main([str(a) for a in args]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    state = json.loads((runs / "state.json").read_text())
    steps = state["step"]
    assert steps < 100  # shorter than --warmup-steps' default: the warm-up is a tenth of it
    rates = [epoch["learning_rate"] for epoch in state["history"]]
    assert max(rates) > 0.9 * 2e-3  # the peak's reach, measured at epoch ends, after the warm-up's one step or two
    assert manifest["base_model"] == {"name": keras_model_dir.name, "path": str(keras_model_dir)}
    assert manifest["validation"]["texts"] == [str(play)] and manifest["validation"]["fraction"] == 0.1
    assert manifest["validation"]["chars"] == manifest["corpus"]["val_chars"] > 0
    assert manifest["train_minutes"] == round(manifest["train_seconds"] / 60, 1)
    assert f"  base:       fine-tuned from {keras_model_dir.name} ({keras_model_dir})\n" in printed
    assert "  val loss:   " in printed and "of 1 text (play.txt): " in printed and "  training:   " in printed
