"""The model card's reproducibility section: a re-run of the card's command, compared epoch by epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_tiny_model

from model_store.store import ModelError
from training.model_card import RERUN_HEADING, add_rerun, main

CARD = "# Model card: shipped\n\n## Training\n\nsome facts\n\n## Known limitations\n\n- a few\n"


def history(*val_losses: float) -> list[dict]:
    return [
        {"epoch": i + 1, "loss": v + 0.1, "val_loss": v, "learning_rate": 1e-3, "seconds": 60.0 * (i + 1)}
        for i, v in enumerate(val_losses)
    ]


def trained(out: Path, text: str, val_losses: tuple[float, ...], *, seed: int = 0, units: int = 16) -> Path:
    facts = {
        "history": history(*val_losses),
        "val_loss": min(val_losses),
        "epochs_trained": len(val_losses),
        "train_seconds": 60.0 * len(val_losses),
        "machine": "x86_64, 2 CPUs",
        "command": f"bard-train --epochs {len(val_losses)} --out {out}",
    }
    return make_tiny_model(out, text, seed=seed, units=units, manifest=facts)


def test_a_rerun_is_recorded_before_the_limitations_and_replaced_not_repeated(tmp_path, script_text):
    shipped = trained(tmp_path / "shipped", script_text, (2.0, 1.5, 1.40))
    (shipped / "MODEL_CARD.md").write_text(CARD)
    close = trained(tmp_path / "rerun", script_text, (2.0, 1.51, 1.41))

    add_rerun(shipped, close)
    card = (shipped / "MODEL_CARD.md").read_text()
    flat = " ".join(card.split())
    assert card.index("## Training") < card.index(RERUN_HEADING) < card.index("## Known limitations")
    assert "**validation 1.4100**" in flat and "+0.0100 from this model's 1.4000: within the ±0.02" in flat
    assert "| 3 | 1.4000 | 1.4100 | +0.0100 |" in card
    assert "identical, bit for bit" in flat  # same seed, same initial weights

    far = trained(tmp_path / "far", script_text, (2.0, 1.6, 1.45), seed=3)
    assert main([str(shipped), "--add-rerun", str(far)]) == 0
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count(RERUN_HEADING) == 1 and "1.4100" not in card
    flat = " ".join(card.split())
    assert "**outside** the ±0.02" in flat and "not identical" in flat
    assert card.startswith(CARD.split("## Known")[0]) and card.endswith("## Known limitations\n\n- a few\n")


def test_a_different_recipe_is_not_a_rerun(tmp_path, script_text, capsys):
    shipped = trained(tmp_path / "shipped", script_text, (2.0, 1.5))
    (shipped / "MODEL_CARD.md").write_text(CARD)
    other = trained(tmp_path / "other", script_text, (2.0, 1.5), units=8)
    assert main([str(shipped), "--add-rerun", str(other)]) == 2
    assert "is not a re-run" in capsys.readouterr().err
    assert (shipped / "MODEL_CARD.md").read_text() == CARD  # untouched


def test_a_missing_card_is_an_error(tmp_path, script_text):
    shipped = trained(tmp_path / "shipped", script_text, (2.0,))
    with pytest.raises(ModelError, match="write the card first"):
        add_rerun(shipped, shipped)
