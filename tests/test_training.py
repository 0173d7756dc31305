"""Training end to end on tiny corpora: fit, export, resume, fine-tune, and every bad input."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from clocks import StoppedClock
from play_excerpts import FAUSTUS

from model_store import export, store
from model_store.engine import Engine
from model_store.lstm import LSTMNetwork
from model_store.names import NameRecord
from model_store.playscript import lexicon_and_speakers
from model_store.topics import TopicRecord
from training import cli
from training.callbacks import FitClock, LearningRateSchedule
from training.config import TrainConfig
from training.corpus import build_corpus, read_text_sources
from training.data import windows
from training.errors import TrainError
from training.hardware import bf16_supported, choose_precision, cpu_flags
from training.lstm_layer import F32GateLSTM
from training.model import build_model, from_numpy_weights, model_lstm_impl, numpy_weights
from training.model_card import write_card
from training.run_dir import RunState
from training.train import make_datasets

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


def run_cli(*args: str | Path) -> int:
    return cli.main([str(a) for a in args])


def test_dataset_targets_are_inputs_shifted_by_one():
    ids = np.arange(100, dtype=np.int32)
    x, y = windows(ids, 10)
    assert x.shape == y.shape == (9, 10)
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert np.array_equal(y[:, -1], x[:, -1] + 1)


def test_training_batches_reshuffle_every_epoch_with_no_autotuner_thread():
    config = TrainConfig(seq_len=10, batch_size=4)
    train_ds, val_ds = make_datasets(np.arange(201, dtype=np.int32), np.arange(91, dtype=np.int32), config, 0)
    epochs = [np.concatenate([x.numpy()[:, 0] for x, _ in train_ds]) for _ in range(2)]
    assert len(epochs[0]) == 20 and sorted(epochs[0]) == sorted(epochs[1]) == list(range(0, 200, 10))
    assert not np.array_equal(epochs[0], epochs[1])
    assert [len(x) for x, _ in val_ds] == [4, 4, 1]  # every window, the last batch partial
    for ds in (train_ds, val_ds):
        # Deleting an epoch's iterator waited for the autotuner's thread to wake (up to a minute, no CPU used).
        assert ds.options().autotune.enabled is False
        assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


def test_train_one_epoch_export_and_generate(play_file, tmp_path, capsys):
    out, runs = tmp_path / "models" / "hamlet", tmp_path / "runs"
    assert run_cli("--text", play_file, "--epochs", "1", "--out", out, "--run-dir", runs, *TINY) == 0
    printed = capsys.readouterr().out
    assert "sample after epoch 1" in printed and "exported" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("bard-train --text")
    assert manifest["epochs_trained"] == 1 and manifest["val_loss"] > 0 and manifest["train_loss"] > 0
    assert manifest["hyperparameters"]["units"] == 16
    # The play is small: the recipe measured on tiny-shakespeare regularises it (the flags given win).
    assert (
        manifest["hyperparameters"]["dropout"] == 0.25 and "dropout 0.25, weight drop 0.2, weight decay 0.2;" in printed
    )
    assert (manifest["hyperparameters"]["weight_drop"], manifest["hyperparameters"]["weight_decay"]) == (0.2, 0.2)
    assert printed.startswith("recipe for ") and "2x16, batch 8, dropout 0.25" in printed.splitlines()[0]
    assert manifest["corpus"]["train_chars"] > manifest["corpus"]["val_chars"] > 0
    for key in ("tensorflow", "keras", "numpy"):
        assert manifest["versions"][key]
    loaded = store.load(out)
    # The streamed loss is the exported arrays' own, over the held-out text the run validated on.
    val_ids = loaded.vocab.encode(build_corpus(read_text_sources([play_file]), 0.1).val_text)
    assert manifest["val_stream_loss"] == pytest.approx(LSTMNetwork(loaded).stream_loss(val_ids), rel=1e-6)
    keras_model = store.load_keras(out)
    ids = loaded.vocab.encode("HAMLET:\nTo be, or not to be")
    keras_logits = np.asarray(keras_model(ids[None, :]))[0]
    engine = Engine(loaded)
    assert np.max(np.abs(engine.network.prime(ids)[0] - keras_logits)) <= 1e-4
    assert len(engine.generate("To be", max_chars=50, rng=np.random.default_rng(0)).text) <= 50
    assert (runs / "log.csv").read_text().count("\n") == 2
    assert (runs / "tensorboard").is_dir()
    # What monologues need comes with the export: the play's words and its speakers.
    assert loaded.lexicon.count("question") == 6 and "question" in loaded.lexicon
    assert loaded.speakers.counts == {"HAMLET": 11, "HORATIO": 5, "OTHELLO": 5}  # in the first 90% of the text


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
    assert state["train_seconds"] > first["train_seconds"] > 0  # fitting time adds up across invocations
    assert state["wait"] == first["wait"] + (state["best_epoch"] != 2)  # the early-stopping counter carries over
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["epochs_trained"] == 2
    assert "--resume" not in manifest["command"]  # the command that trains it: the same run, uninterrupted


def epochs_done(run_dir: Path) -> int:
    state = run_dir / "state.json"  # replaced atomically: never read half-written
    return json.loads(state.read_text())["epoch"] if state.exists() else 0


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
        "--patience",
        "1000",  # the run must not end on its own (early stopping) while the test waits to interrupt it
    ]
    proc = subprocess.Popen(
        args, cwd=Path(__file__).parents[1], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    while proc.poll() is None and epochs_done(runs) < 2:  # however slow the machine, wait for two epochs
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)  # only a guard against a hang
    assert proc.returncode == 130
    assert "--resume" in err
    assert not out.exists()
    done = json.loads((runs / "state.json").read_text())["epoch"]
    assert done >= 2
    resume = ("--text", play_file, "--epochs", str(done + 1), "--patience", "1000", "--resume")
    assert run_cli(*resume, "--out", out, "--run-dir", runs, *TINY) == 0
    assert json.loads((runs / "state.json").read_text())["epoch"] == done + 1


def test_fine_tune_from_an_export_counts_unknown_characters(play_file, tmp_path, keras_model_dir, capsys):
    new_play = tmp_path / "new.txt"
    new_play.write_text(play_file.read_text().replace("e", "\u00e9"))  # a character the model never saw
    out = tmp_path / "tuned"
    assert (
        run_cli(
            "--text",
            new_play,
            "--init-from",
            keras_model_dir,
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
    assert store.load(out).vocab == store.load(keras_model_dir).vocab
    assert json.loads((out / "manifest.json").read_text())["init_from"] == str(keras_model_dir)


def test_fine_tuning_extends_the_base_models_lexicon_and_speakers(tmp_path, keras_model_dir, script_text):
    base = tmp_path / "base"
    shutil.copytree(keras_model_dir, base)
    lexicon, speakers = lexicon_and_speakers(script_text)
    names = NameRecord.of_plays([("tragedies/hamlet", script_text)], lexicon)
    topics = TopicRecord.of_plays([("tragedies/hamlet", script_text, script_text)], speakers.well_known())
    export.add_speech_data(base, lexicon=lexicon, speakers=speakers, names=names, topics=topics)
    play = tmp_path / "faustus.txt"
    play.write_text(FAUSTUS * 8)
    out = tmp_path / "tuned"
    args = ("--text", play, "--init-from", base, "--epochs", "1", "--out", out, "--run-dir", tmp_path / "runs")
    assert run_cli(*args, *TINY) == 0
    tuned, before = store.load(out), store.load(base)
    new_lexicon, new_speakers = lexicon_and_speakers(play.read_text()[: int(len(FAUSTUS * 8) * 0.9)])
    assert "ships" in tuned.lexicon and "question" in tuned.lexicon  # the new play's words and the base's
    assert tuned.lexicon.count("the") == before.lexicon.count("the") + new_lexicon.count("the")
    assert tuned.speakers.counts == before.speakers.counts | new_speakers.counts
    # The name record: the base's play and the new one, with the new play's names and speakers.
    assert tuned.names.plays == ("tragedies/hamlet", str(play))
    assert tuned.names.names["ilium"] == tuned.names.names["helen"] == (1,) and tuned.names.names["i"] == (0, 1)
    assert tuned.names.speakers["FAUSTUS"] == (1,) and tuned.names.speakers["HAMLET"] == (0,)
    # The topic record: the base's and the new play's, the quotations of both.
    assert tuned.topics.plays == ("tragedies/hamlet", str(play)) and set(before.topics.words) <= set(tuned.topics.words)
    assert "FAUSTUS" in tuned.topics.speakers and set(before.topics.speakers) <= set(tuned.topics.speakers)
    first = next(line for line in FAUSTUS.splitlines()[1:] if len(line.split()) >= 4)
    assert tuned.topics.quotation(first) == "FAUSTUS", first


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
    epochs = store.load(out).manifest["epochs_trained"]
    assert epochs < 1000
    # The budget is the run's: resuming a run that has spent it fits nothing more.
    resume = ("--text", play_file, "--epochs", "1000", "--max-minutes", "0.05", "--resume", "--force")
    assert run_cli(*resume, "--out", out, "--run-dir", tmp_path / "runs", *TINY) == 0
    assert "time budget of 0.05 minutes is spent" in capsys.readouterr().out
    assert store.load(out).manifest["epochs_trained"] == epochs


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--text", "{tmp}/missing.txt"], "no such file"),
        (["--text", "{tmp}/empty.txt"], "is empty"),
        (["--text", "{tmp}/binary.txt"], "binary"),
        (["--text", "{tmp}/prose.txt"], "prose.txt: no speeches found"),
        (["--play", "othelo"], "unknown play 'othelo'"),
        (["--group", "sonnets"], "unknown play group"),
        (["--text", "{tmp}/short.txt"], "fewer than one sequence"),
        (["--text", "{tmp}/ok.txt", "--units", "0"], "invalid --units"),
        (["--text", "{tmp}/ok.txt", "--dropout", "1.5"], "invalid --dropout"),
        (["--text", "{tmp}/ok.txt", "--dropout", "-0.5"], "invalid --dropout"),
        (["--text", "{tmp}/ok.txt", "--embedding-dropout", "1"], "invalid --embedding-dropout"),
        (["--text", "{tmp}/ok.txt", "--lstm-impl", "cudnn"], "invalid --lstm-impl"),
        (["--text", "{tmp}/ok.txt", "--lr-schedule", "linear"], "invalid --lr-schedule"),
        (["--text", "{tmp}/ok.txt", "--precision", "float16"], "invalid --precision"),
        (["--text", "{tmp}/ok.txt", "--out", "{tmp}/existing"], "already exists"),
        (["--text", "{tmp}/ok.txt", "--init-from", "{tmp}/nomodel"], "does not exist"),
        (["--text", "{tmp}/ok.txt", "--resume"], "--resume: {tmp}/runs holds no checkpoint"),
        (["--text", "{tmp}/ok.txt", "--export-only"], "--export-only: {tmp}/runs holds no checkpoint"),
        (["--text", "{tmp}/ok.txt", "--export-only", "--resume"], "cannot be combined"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, capsys, script_text, extra, message):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01")
    (tmp_path / "prose.txt").write_text("It was a dark and stormy night.\n\nThe rain fell in torrents.\n")
    (tmp_path / "short.txt").write_text("HAMLET:\nTo be.\n")
    (tmp_path / "ok.txt").write_text(script_text)
    (tmp_path / "existing").mkdir()
    args = [a.format(tmp=tmp_path) for a in extra]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "store" / "new")]
    assert run_cli(*TINY, *args, "--run-dir", tmp_path / "runs") == 2  # args last: they override TINY
    err = capsys.readouterr().err.strip()
    assert err.startswith("bard-train: error:") and message.format(tmp=tmp_path) in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "store").exists()
    assert os.listdir(tmp_path / "existing") == []


def test_help_documents_every_option(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "10000")  # one line per option: argparse would break words at hyphens
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for option in ("--play", "--group", "--text", "--out", "--resume", "--init-from", "--export-only"):
        assert option in text
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag, default = f"--{f.name.replace('_', '-')}", getattr(defaults, f.name)
        takes = f", --no-{flag[2:]}" if isinstance(default, bool) else f" {f.name.upper()}"
        assert f"{flag}{takes} {f.metadata['help']} (default {default})" in text


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


def test_the_run_state_reads_and_writes_state_json_as_older_runs_left_it(tmp_path):
    path = tmp_path / "state.json"
    history = [{"epoch": 1, "loss": 3.2, "val_loss": 3.1, "learning_rate": 0.002, "seconds": 4.0}]
    older = {  # a state file from before fitting time was counted, with a key this version does not know
        "epoch": 1,
        "step": 12,
        "best_val_loss": 3.1,
        "best_epoch": 1,
        "best_train_loss": 3.2,
        "wait": 0,
        "history": history,
        "config": TrainConfig().to_dict(),
        "corpus_sha256": "0" * 64,
        "train_seconds_before": 0.0,
    }
    path.write_text(json.dumps(older))
    state = RunState.load(path)
    assert (state.epoch, state.step, state.best_epoch, state.history, state.train_seconds) == (1, 12, 1, history, 0.0)
    state.train_seconds = 4.5
    state.save(path)
    written = json.loads(path.read_text())
    assert list(written) == [*list(older)[:-1], "train_seconds"]  # the order a run has always written
    assert written == {k: v for k, v in older.items() if k != "train_seconds_before"} | {"train_seconds": 4.5}
    path.write_text(json.dumps({k: v for k, v in older.items() if k != "step"}))
    with pytest.raises(TrainError, match="the run's state lacks step: not a state file of bard-train"):
        RunState.load(path)


def at_step(step: int) -> RunState:
    """A run's state after `step` steps: all the schedule reads."""
    return dataclasses.replace(RunState.fresh(TrainConfig(), "0" * 64), step=step)


@pytest.mark.parametrize(
    "step, elapsed, rate",
    [
        (0, 0, 1e-3),  # warm-up: 1/10 of the peak at the first step
        (9, 0, 1e-2),  # the peak at the last warm-up step
        (50, 0, 1e-3 + 9e-3 * 0.5),  # half way by steps: half way down the cosine
        (100, 0, 1e-3),  # the floor at the last step
        (20, 30, 1e-3 + 9e-3 * 0.5),  # half the time budget gone: the tighter bound
        (20, 90, 1e-3),  # past the budget: stays at the floor
    ],
)
def test_learning_rate_warms_up_then_decays_to_its_floor_over_steps_or_time(step, elapsed, rate):
    config = TrainConfig(learning_rate=1e-2, warmup_steps=10, min_lr_ratio=0.1, max_minutes=1.0)
    schedule = LearningRateSchedule(config, at_step(step), total_steps=100, clock=StoppedClock(elapsed))
    assert schedule.rate() == pytest.approx(rate)


def test_a_resumed_run_goes_on_down_the_same_curve():
    config = TrainConfig(learning_rate=1e-2, warmup_steps=10, min_lr_ratio=0.1, max_minutes=1.0)
    clock = FitClock(seconds_before=30.0)  # half the budget fitted before this invocation began
    schedule = LearningRateSchedule(config, at_step(20), total_steps=100, clock=clock)
    assert schedule.rate() == pytest.approx(1e-3 + 9e-3 * 0.5, rel=1e-3)


def test_a_constant_schedule_is_constant():
    config = TrainConfig(learning_rate=1e-2, lr_schedule="constant")
    for step in (0, 5, 100):
        assert LearningRateSchedule(config, at_step(step), 100, StoppedClock(0)).rate() == pytest.approx(1e-2)


def test_export_only_exports_the_best_checkpoint_as_a_run_does(play_file, tmp_path):
    runs = tmp_path / "runs"
    trained = ("--text", play_file, "--epochs", "2", "--run-dir", runs, *TINY)
    assert run_cli(*trained, "--out", tmp_path / "a") == 0
    assert run_cli(*trained, "--out", tmp_path / "b", "--export-only") == 0
    a, b = (json.loads((tmp_path / n / "manifest.json").read_text()) for n in ("a", "b"))
    assert a.keys() == b.keys()
    for key in a.keys() - {"name", "created", "command", "files"}:
        assert a[key] == b[key], key
    assert a["files"][store.WEIGHTS_FILE] == b["files"][store.WEIGHTS_FILE]
    assert b["command"] == a["command"].replace(str(tmp_path / "a"), str(tmp_path / "b"))  # the training command
    assert json.loads((runs / "state.json").read_text())["epoch"] == 2  # nothing more was fitted


def test_a_full_disk_keeps_the_old_export_and_says_how_to_export_again(play_file, tmp_path, capsys, monkeypatch):
    out, runs = tmp_path / "models" / "hamlet", tmp_path / "runs"
    assert run_cli("--text", play_file, "--epochs", "1", "--out", out, "--run-dir", runs, *TINY) == 0
    old_export = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    write_bytes = Path.write_bytes

    def full_disk(path: Path, data: bytes) -> int:
        if path.name == store.WEIGHTS_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    more = ("--text", play_file, "--epochs", "2", "--out", out, "--run-dir", runs, "--resume", "--force", *TINY)
    assert run_cli(*more) == 2
    monkeypatch.undo()

    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"bard-train: error: cannot write the export to {out}: No space left on device; ")
    assert f"the run's checkpoints are kept in {runs}" in err
    assert sorted(p.name for p in out.parent.iterdir()) == ["hamlet"]  # no .hamlet.partial-* left beside it
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old_export

    again = shlex.split(err.split("export them again with: ")[1])
    assert again[0] == "bard-train" and "--export-only" in again and "--resume" not in again
    assert run_cli(*again[1:]) == 0
    manifest = store.load(out).manifest
    assert manifest["epochs_trained"] == 2
    assert manifest["best_epoch"] == json.loads((runs / "state.json").read_text())["best_epoch"]
    assert manifest["command"] == shlex.join(a for a in again if a != "--export-only")  # no --export-only recorded


def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) >= {"avx512f", "avx512_bf16"}
    assert bf16_supported(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert not bf16_supported(cpuinfo)
    assert not bf16_supported(tmp_path / "absent")  # not Linux: no bfloat16 assumed


@pytest.mark.parametrize(
    "requested, cpu_bf16, gpus, chosen",
    [
        ("auto", True, 0, "mixed_bfloat16"),
        ("auto", False, 0, "float32"),
        ("auto", True, 1, "float32"),
        ("float32", True, 0, "float32"),
        ("mixed_bfloat16", False, 0, "mixed_bfloat16"),
    ],
)
def test_auto_precision_is_bfloat16_only_on_a_cpu_with_native_bfloat16(requested, cpu_bf16, gpus, chosen):
    assert choose_precision(requested, cpu_bf16=cpu_bf16, gpus=gpus) == chosen


def test_mixed_precision_computes_lstms_in_bfloat16_and_logits_in_float32():
    model = build_model(30, embedding_dim=8, layers=2, units=16, dropout=0.1, precision="mixed_bfloat16")
    assert model.get_layer("lstm1").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)  # the variables, and so the export, stay float32
    assert model(np.zeros((2, 5), np.int32)).dtype == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        build_model(30, embedding_dim=8, layers=1, units=16, dropout=0.1, precision="float16")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_f32_gate_lstm_computes_what_keras_lstm_does_from_the_same_weights(seed):
    keras.utils.set_random_seed(seed)
    shape = {"embedding_dim": 8, "layers": 2, "units": 16, "dropout": 0.0}
    ours = build_model(30, **shape, lstm_impl="f32-gates")
    assert isinstance(ours.get_layer("lstm1"), F32GateLSTM)
    weights = [w * 3 for w in ours.get_weights()]  # large enough to saturate some gates
    ids = np.random.default_rng(seed).integers(0, 30, (3, 12)).astype(np.int32)

    def logits_and_grads(lstm_impl, precision):
        model = build_model(30, **shape, lstm_impl=lstm_impl, precision=precision)
        assert model_lstm_impl(model) == lstm_impl
        model.set_weights(weights)  # the same variables, in the same order
        with tf.GradientTape() as tape:
            logits = model(ids, training=True)
            loss = keras.losses.sparse_categorical_crossentropy(ids, logits, from_logits=True)
        grads = tape.gradient(loss, model.trainable_variables)
        return [np.asarray(logits)] + [np.asarray(tf.convert_to_tensor(g)) for g in grads]

    exact = logits_and_grads("keras", "float32")
    for ours, theirs in zip(logits_and_grads("f32-gates", "float32"), exact, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max())
    # In bfloat16, every output and gradient stays within 5% (by norm) of Keras's float32 layer.
    for ours, theirs in zip(logits_and_grads("f32-gates", "mixed_bfloat16"), exact, strict=True):
        assert np.linalg.norm(ours - theirs) <= 0.05 * np.linalg.norm(theirs)


def test_the_f32_gate_lstm_starts_as_keras_does_and_reloads_from_a_keras_file(tmp_path):
    model = build_model(30, embedding_dim=8, layers=1, units=16, dropout=0.0, lstm_impl="f32-gates")
    _, recurrent, bias = model.get_layer("lstm0").get_weights()
    assert np.array_equal(bias, np.r_[np.zeros(16), np.ones(16), np.zeros(32)])  # unit forget bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(16), atol=1e-5)  # orthogonal rows
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    ids = np.arange(10, dtype=np.int32)[None]
    assert model_lstm_impl(reloaded) == "f32-gates"
    np.testing.assert_array_equal(reloaded(ids), model(ids))
    with pytest.raises(ValueError, match="lstm_impl must be one of"):
        build_model(30, embedding_dim=8, layers=1, units=16, dropout=0.0, lstm_impl="cudnn")


def test_weight_drop_drops_recurrent_kernel_entries_in_training_only(tmp_path):
    shape = {"embedding_dim": 8, "layers": 1, "units": 16, "dropout": 0.0, "lstm_impl": "f32-gates"}
    plain = build_model(30, **shape)
    dropped = build_model(30, **shape, weight_drop=0.5)
    dropped.set_weights(plain.get_weights())  # the same variables: the mask's seed is not a weight
    assert numpy_weights(dropped).keys() == numpy_weights(plain).keys()
    ids = np.random.default_rng(0).integers(0, 30, (4, 20)).astype(np.int32)
    np.testing.assert_allclose(dropped(ids, training=False), plain(ids, training=False), rtol=1e-6)

    def recurrent_grad(model):
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(ids, model(ids, training=True), from_logits=True)
        return np.asarray(tape.gradient(loss, model.get_layer("lstm0").recurrent_kernel.value))

    # DropConnect: a dropped entry of the kernel gets no gradient, about half of them at 0.5; without it, none.
    assert np.mean(recurrent_grad(plain) == 0) < 0.01
    assert 0.4 < np.mean(recurrent_grad(dropped) == 0) < 0.6
    dropped.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").get_layer("lstm0").weight_drop == 0.5
    with pytest.raises(ValueError, match="weight_drop needs lstm_impl f32-gates"):
        build_model(30, **{**shape, "lstm_impl": "keras"}, weight_drop=0.5)
    with pytest.raises(ValueError, match="--weight-drop needs --lstm-impl f32-gates"):
        TrainConfig(weight_drop=0.5, lstm_impl="keras")
    with pytest.raises(ValueError, match=r"invalid --weight-drop: 1\.0"):
        TrainConfig(weight_drop=1.0)


def test_embedding_dropout_acts_in_training_only_and_adds_no_weights():
    plain = build_model(30, embedding_dim=8, layers=1, units=16, dropout=0.0)
    dropped = build_model(30, embedding_dim=8, layers=1, units=16, dropout=0.0, embedding_dropout=0.5)
    dropped.set_weights(plain.get_weights())  # the same variables: dropout has none
    assert dropped.get_layer("embedding_dropout").rate == 0.5
    assert "embedding_dropout" not in [layer.name for layer in plain.layers]
    ids = np.arange(20, dtype=np.int32).reshape(2, 10)
    np.testing.assert_allclose(dropped(ids, training=False), plain(ids, training=False), rtol=1e-6)
    assert not np.allclose(dropped(ids, training=True), plain(ids, training=True))
    assert numpy_weights(dropped).keys() == numpy_weights(plain).keys()


def test_the_keras_model_is_rebuilt_from_the_exported_arrays(keras_model_dir):
    loaded = store.load(keras_model_dir)
    rebuilt = from_numpy_weights(loaded.weights, loaded.arch, dropout=0.0)
    assert all(np.array_equal(a, loaded.weights[k]) for k, a in numpy_weights(rebuilt).items())
    ids = np.array([[1, 2, 3, 4]], np.int32)
    np.testing.assert_allclose(rebuilt(ids), store.load_keras(keras_model_dir)(ids), rtol=1e-5, atol=1e-6)


def test_bfloat16_and_xla_train_export_float32_and_resume_as_they_started(play_file, tmp_path, capsys):
    out, runs = tmp_path / "m", tmp_path / "runs"
    args = ("--text", play_file, "--out", out, "--run-dir", runs, "--force", *TINY)
    assert run_cli(*args, "--epochs", "1", "--precision", "mixed_bfloat16", "--jit-compile", "--weights-only") == 0
    assert "precision mixed_bfloat16, LSTM f32-gates, XLA" in capsys.readouterr().out
    first = store.load(out)
    assert first.manifest["fit"] | {"cpu_bf16": None} == {
        "precision": "mixed_bfloat16",
        "lstm_impl": "f32-gates",
        "jit_compile": True,
        "cpu_bf16": None,
    }
    assert "model.keras" not in first.manifest["files"] and not (out / "model.keras").exists()
    assert all(w.dtype == np.float32 for w in first.weights.values())
    card = write_card(out, None).read_text()
    assert "fitted in mixed_bfloat16, F32GateLSTM layers with XLA (exported in float32)" in card
    # --resume keeps the run's precision and XLA, whatever this invocation's flags say
    resume = ("--epochs", "2", "--resume", "--precision", "float32", "--no-jit-compile", "--lstm-impl", "keras")
    assert run_cli(*args, *resume) == 0
    assert store.load(out).manifest["fit"]["precision"] == "mixed_bfloat16"
    assert store.load(out).manifest["fit"]["lstm_impl"] == "f32-gates"
    assert store.load(out).manifest["hyperparameters"]["lstm_impl"] == "f32-gates"
    assert store.load(out).manifest["fit"]["jit_compile"] is True
    assert store.load(out).manifest["epochs_trained"] == 2


def test_fine_tuning_needs_only_the_exported_arrays(play_file, tmp_path, tiny_model_dir):
    base = store.load(tiny_model_dir)
    arrays_only = tmp_path / "arrays-only"
    manifest = {k: v for k, v in base.manifest.items() if k not in ("schema_version", "created", "files")}
    export.write(arrays_only, weights=base.weights, vocab=base.vocab, manifest=manifest)
    out = tmp_path / "tuned"
    args = ("--text", play_file, "--init-from", arrays_only, "--epochs", "1", "--out", out, "--run-dir", tmp_path / "r")
    assert run_cli(*args, *TINY, "--precision", "float32") == 0
    tuned = store.load(out)
    assert tuned.arch == base.arch and tuned.manifest["fit"]["precision"] == "float32"


def test_weight_decay_shrinks_kernels_and_embedding_but_not_biases():
    from training.model import compile_for_fit

    model = build_model(9, embedding_dim=4, layers=1, units=6, dropout=0.0)
    compile_for_fit(model, TrainConfig(learning_rate=0.1, weight_decay=0.5))
    before = {v.path: np.array(v) for v in model.trainable_variables}
    # Zero gradients leave Adam's own update at zero, so what changes is the decay alone.
    model.optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    for v in model.trainable_variables:
        expected = before[v.path] if v.name == "bias" else before[v.path] * (1 - 0.1 * 0.5)
        np.testing.assert_allclose(np.array(v), expected, rtol=1e-6, err_msg=v.path)
    assert {v.name for v in model.trainable_variables} >= {"bias", "kernel", "recurrent_kernel", "embeddings"}
