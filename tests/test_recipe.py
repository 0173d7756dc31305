"""The recipe scales with the corpus: the rule at the measured sizes, between and below them, explicit flags winning,
a fine-tune keeping its base model's size, and the line a run opens with. No TensorFlow: bard-train stops where it
would import it."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import cli, recipe
from training.config import TrainConfig

TINY_SHAKESPEARE = {  # the 1.4365 run of docs/training.md's table
    "units": 448,
    "batch_size": 64,
    "dropout": 0.25,
    "weight_drop": 0.2,
    "weight_decay": 0.2,
    "epochs": 40,
    "patience": 6,
}
BUNDLED_PLAYS = {"units": 448, "batch_size": 128, "dropout": 0.25, "weight_drop": 0.0, "weight_decay": 0.0}
BUNDLED_PLAYS |= {"epochs": 0, "patience": 4}


class StopBeforeTensorFlow(Exception):
    pass


def opening_line(monkeypatch, capsys, *args: str | Path) -> str:
    """What bard-train prints before it would import TensorFlow (which this stops)."""

    def stop() -> None:
        raise StopBeforeTensorFlow

    monkeypatch.setattr(cli, "import_tensorflow", stop)
    with pytest.raises(StopBeforeTensorFlow):
        cli.main([str(a) for a in args])
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1
    return printed[0]


def test_the_bundled_plays_keep_todays_recipe():
    assert {name: getattr(TrainConfig(), name) for name in BUNDLED_PLAYS} == BUNDLED_PLAYS
    assert recipe.scaled_defaults(4_498_372) == BUNDLED_PLAYS
    assert recipe.scaled_defaults(20_000_000) == BUNDLED_PLAYS  # no extrapolation past what was measured


def test_tiny_shakespeare_gets_the_recipe_measured_on_it_and_smaller_corpora_too():
    assert recipe.scaled_defaults(1_003_854) == TINY_SHAKESPEARE
    assert recipe.scaled_defaults(4_000) == recipe.scaled_defaults(1) == TINY_SHAKESPEARE  # 0.48 dropout did worse


def test_between_the_sizes_regularisation_falls_on_a_log_scale_and_the_rest_is_the_nearer_sizes():
    sizes = [1_200_000, 1_500_000, 2_000_000, 2_200_000, 3_000_000, 4_000_000]
    rules = [recipe.scaled_defaults(n) for n in sizes]
    for name in ("weight_drop", "weight_decay"):
        values = [TINY_SHAKESPEARE[name]] + [r[name] for r in rules] + [BUNDLED_PLAYS[name]]
        assert values == sorted(values, reverse=True) and values[0] > values[3] > values[-1], name
    assert all(r["dropout"] == 0.25 for r in rules)  # measured the same at both sizes
    assert recipe.scaled_defaults(1_500_000)["weight_drop"] == 0.15  # a third of the way on a log scale (1.4 of 4.5)
    assert recipe.scaled_defaults(1_500_000)["weight_decay"] == 0.15
    for name in ("units", "batch_size", "epochs", "patience"):
        assert recipe.scaled_defaults(2_100_000)[name] == TINY_SHAKESPEARE[name]
        assert recipe.scaled_defaults(2_150_000)[name] == BUNDLED_PLAYS[name]  # the midpoint: 2.125M


def test_explicit_flags_win_and_keras_layers_get_no_weight_drop():
    chosen = recipe.choose({"dropout": 0.5, "units": 64}, 1_003_854)
    assert (chosen.config.dropout, chosen.config.units, chosen.config.weight_decay) == (0.5, 64, 0.2)
    assert chosen.line.endswith("; given: --units --dropout")
    assert recipe.choose({"lstm_impl": "keras"}, 4_000).config.weight_drop == 0
    with pytest.raises(ValueError, match="--weight-drop needs --lstm-impl f32-gates"):
        recipe.choose({"lstm_impl": "keras", "weight_drop": 0.2}, 4_000)


def test_a_fine_tune_keeps_its_base_models_size():
    base = {"layers": 2, "units": 576, "embedding_dim": 64}
    config = recipe.choose({}, 4_000, base).config
    assert (config.layers, config.units, config.embedding_dim, config.dropout) == (2, 576, 64, 0.25)
    assert recipe.choose({"units": 576}, 4_000, base).config.units == 576
    with pytest.raises(ValueError, match=r"^--units 512: a fine-tune keeps its base model's size \(2x576"):
        recipe.choose({"units": 512}, 4_000, base)


def test_a_run_opens_with_what_the_rule_chose_and_why(tmp_path, monkeypatch, capsys, script_text):
    play = tmp_path / "play.txt"
    play.write_text(script_text)
    line = opening_line(monkeypatch, capsys, "--text", play, "--out", tmp_path / "m", "--run-dir", tmp_path / "r")
    assert line.startswith("recipe for ") and " training characters (tiny-shakespeare's size or smaller): " in line
    assert line.endswith("2x448, batch 64, dropout 0.25, weight drop 0.2, weight decay 0.2, 40 epochs, patience 6")
    given = ["--batch-size", "16", "--dropout", "0.1", "--epochs", "2"]
    line = opening_line(monkeypatch, capsys, "--text", play, "--out", tmp_path / "m", *given)
    assert "batch 16, dropout 0.1, weight drop 0.2, weight decay 0.2, 2 epochs" in line
    assert line.endswith("given: --batch-size --dropout --epochs")
    # A time budget is a budget: the rule's 40 epochs cap nothing under --max-minutes, unless --epochs is given.
    line = opening_line(monkeypatch, capsys, "--text", play, "--out", tmp_path / "m", "--max-minutes", "60")
    assert line.endswith("weight decay 0.2, no epoch cap (--max-minutes), patience 6")
    line = opening_line(
        monkeypatch, capsys, "--text", play, "--out", tmp_path / "m", "--max-minutes", "60", "--epochs", "40"
    )
    assert line.endswith("weight decay 0.2, 40 epochs, patience 6; given: --epochs")


def test_the_bundled_plays_open_with_todays_recipe(tmp_path, monkeypatch, capsys):
    line = opening_line(monkeypatch, capsys, "--out", tmp_path / "m", "--run-dir", tmp_path / "r")
    assert line == (
        "recipe for 4,498,372 training characters (the bundled plays' size or larger): 2x448, batch 128, "
        "dropout 0.25, weight drop 0, weight decay 0, epochs 0 (30, or no cap under --max-minutes), patience 4"
    )


def test_a_fine_tune_opens_with_its_base_models_size_and_refuses_another(
    tmp_path, monkeypatch, capsys, script_text, tiny_model_dir
):
    play = tmp_path / "play.txt"
    play.write_text(script_text)
    args = ["--text", play, "--init-from", tiny_model_dir, "--out", tmp_path / "m", "--run-dir", tmp_path / "r"]
    assert ": 2x16 (the base model's), batch 64, dropout 0.25" in opening_line(monkeypatch, capsys, *args)
    assert cli.main([str(a) for a in [*args, "--units", "32"]]) == 2
    err = capsys.readouterr().err
    assert err == "bard-train: error: --units 32: a fine-tune keeps its base model's size (2x16, embedding 8)\n"
