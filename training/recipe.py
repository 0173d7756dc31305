"""The recipe scales with the corpus: the options a corpus's size decides, where their flags are not given.

Two recipes were measured (docs/training.md, "The recipe, measured on tiny-shakespeare"): on tiny-shakespeare's 1.0M
training characters, 2x448 in batches of 64 with dropout 0.25, weight drop 0.2 and weight decay 0.2 reached 1.4365 in an
hour with no epoch cap, where the defaults overfit (1.4914) and 2x512 with dropout 0.3 fitted 9 epochs fewer (1.4428
on the same machine); on the bundled plays' 4.5M, the defaults (2x448, batches of 128, dropout 0.25, no weight drop or
decay) do not overfit in two hours. So the size and the dropout are the same at both sizes (still the rule's, so that a
measurement may part them); between the two sizes the weight drop and decay are interpolated on a log scale and the
rest is the nearer size's; outside them it stays at the nearer size's (more dropout than measured, 0.48 by a rule of
characters per parameter, did worse: 1.5026).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from training.config import TrainConfig

SMALL_CHARS = 1_003_854  # tiny-shakespeare's training characters (its first 90%)
LARGE_CHARS = 4_498_372  # every bundled play's training characters (the first 90% of each)
SMALL = {
    "units": 448,
    "batch_size": 64,
    "dropout": 0.25,
    "weight_drop": 0.2,
    "weight_decay": 0.2,
    "epochs": 40,
    "patience": 6,
}
LARGE = {name: getattr(TrainConfig(), name) for name in SMALL}  # the defaults: the bundled plays' recipe
INTERPOLATED = ("dropout", "weight_drop", "weight_decay")  # the rest take the nearer size's value
SIZE = ("layers", "units", "embedding_dim")  # a fine-tune's are its base model's


def position(train_chars: int) -> float:
    """Where a corpus lies between the two measured sizes, on a log scale: 0 at SMALL_CHARS or fewer, 1 at
    LARGE_CHARS or more."""
    t = math.log(max(train_chars, 1) / SMALL_CHARS) / math.log(LARGE_CHARS / SMALL_CHARS)
    return min(1.0, max(0.0, t))


def scaled_defaults(train_chars: int) -> dict[str, Any]:
    """The values the rule gives the options it decides, for a corpus of train_chars training characters."""
    t = position(train_chars)
    nearer = SMALL if t < 0.5 else LARGE
    return {
        name: round(SMALL[name] + (LARGE[name] - SMALL[name]) * t, 2) if name in INTERPOLATED else nearer[name]
        for name in SMALL
    }


@dataclass(frozen=True)
class Recipe:
    config: TrainConfig
    line: str  # what the rule chose and why, the run's opening line


def help_text(name: str) -> str:
    """What `--help` says a default adapts to, after "(default N)", the bundled plays' value."""
    if name not in SMALL:
        return "; a fine-tune keeps its base model's" if name in SIZE else ""
    how = "interpolated on a log scale" if name in INTERPOLATED else "the nearer size's (from 2.1M on, the plays')"
    tune = " (a fine-tune keeps its base model's)" if name in SIZE else ""
    tune += " (0 with --lstm-impl keras)" if name == "weight_drop" else ""
    if SMALL[name] == LARGE[name]:
        return f" at every corpus size (measured on 1.0M and 4.5M training characters){tune}"
    return (
        f" for a corpus of 4.5M training characters or more (the bundled plays), {SMALL[name]} for 1.0M or fewer "
        f"(tiny-shakespeare), {how} between{tune}"
    )


def _size_name(train_chars: int) -> str:
    t = position(train_chars)
    if t == 0:
        return "tiny-shakespeare's size or smaller"
    if t == 1:
        return "the bundled plays' size or larger"
    return f"between tiny-shakespeare's 1.0M and the bundled plays' 4.5M, {t:.0%} of the way on a log scale"


def choose(given: dict[str, Any], train_chars: int, base_arch: dict[str, int] | None = None) -> Recipe:
    """The run's config: the flags given, the rule's values for the options it decides, the defaults for the rest.

    A fine-tune keeps its base model's size: an explicit flag that would change it is refused (ValueError)."""
    rule = scaled_defaults(train_chars)
    if given.get("lstm_impl", TrainConfig().lstm_impl) != "f32-gates":
        rule["weight_drop"] = 0.0  # Keras's own LSTM layer has no DropConnect
    if base_arch is not None:
        for name in SIZE:
            if name in given and given[name] != base_arch[name]:
                raise ValueError(
                    f"--{name.replace('_', '-')} {given[name]}: a fine-tune keeps its base model's size "
                    f"({base_arch['layers']}x{base_arch['units']}, embedding {base_arch['embedding_dim']})"
                )
        rule |= {name: base_arch[name] for name in SIZE}
    if given.get("max_minutes", 0) > 0:
        del rule["epochs"]  # a time budget is a budget: the epochs measured in an hour cap nothing on a faster machine
    config = TrainConfig(**(rule | given))
    plural = "" if config.epochs == 1 else "s"
    if config.epochs:
        epochs = f"{config.epochs} epoch{plural}"
    else:
        epochs = (
            "no epoch cap (--max-minutes)" if config.max_minutes > 0 else "epochs 0 (30, or no cap under --max-minutes)"
        )
    chosen = [
        f"{config.layers}x{config.units}" + (" (the base model's)" if base_arch else ""),
        f"batch {config.batch_size}",
        *(f"{name.replace('_', ' ')} {getattr(config, name):g}" for name in INTERPOLATED),
        epochs,
        f"patience {config.patience}",
    ]
    flags = [f"--{name.replace('_', '-')}" for name in SMALL if name in given]
    won = f"; given: {' '.join(flags)}" if flags else ""
    line = f"recipe for {train_chars:,} training characters ({_size_name(train_chars)}): {', '.join(chosen)}{won}"
    return Recipe(config, line)
