"""A model's card: the facts a user sees about a model (`!bard models`, `!bard info`), read from its manifest, with
fallbacks for manifests written before a fact was recorded. Pure: no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_store.store import LoadedModel


def model_card(model: LoadedModel) -> dict[str, Any]:
    """The facts a user sees about a model: name, corpus, size, losses, when trained, its base, what its validation
    loss was measured on, and its training minutes (None where the manifest does not say)."""
    m = model.manifest
    corpus = m.get("corpus", {}) if isinstance(m.get("corpus"), dict) else {}
    base = _base_of(m)
    seconds = m.get("train_seconds")
    return {
        "name": model.name,
        "corpus": corpus.get("description", "unknown"),
        "parameters": m.get("parameter_count"),
        "layers": model.arch["layers"],
        "units": model.arch["units"],
        "train_loss": m.get("train_loss"),
        "val_loss": m.get("val_loss"),
        "created": m.get("created"),
        "epochs": m.get("epochs_trained"),
        "from_scratch": None if base is None else not base,  # None: the manifest does not say
        "base": base or None,  # the name of the model it was fine-tuned from
        "validation": _validation_of(m, corpus),
        "train_minutes": m.get("train_minutes", round(seconds / 60, 1) if isinstance(seconds, int | float) else None),
    }


def _base_of(m: dict[str, Any]) -> str | None:
    """The name of the model this one was fine-tuned from, "" when trained from scratch, None when not said: from
    base_model, or in manifests before it from init_from (its path)."""
    if "base_model" in m:
        base = m["base_model"]
        return str(base.get("name") or Path(str(base.get("path"))).name) if isinstance(base, dict) else ""
    if "init_from" in m:
        return Path(str(m["init_from"])).name if m["init_from"] else ""
    return None


def _validation_of(m: dict[str, Any], corpus: dict[str, Any]) -> dict[str, Any] | None:
    """{texts, fraction, chars}: what the validation loss was measured on, from validation, or in manifests before
    it from the corpus's sources and val_chars and the val_fraction; None when they do not say."""
    if isinstance(m.get("validation"), dict):
        return m["validation"]
    fraction = m.get("hyperparameters", {}).get("val_fraction")
    if "sources" not in corpus or "val_chars" not in corpus or fraction is None:
        return None
    return {"texts": corpus["sources"], "fraction": fraction, "chars": corpus["val_chars"]}
