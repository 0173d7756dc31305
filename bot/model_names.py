"""Model names as users give them: in any case. The served spelling of a name, the default model, and the models
of a folder whose names differ only in case (one of them could never be asked for)."""

from __future__ import annotations

from collections.abc import Sequence

from model_store import DEFAULT_MODEL_DIR
from model_store.store import LoadedModel, ModelError


def served_spelling(names: list[str], name: str) -> str | None:
    """The served name that `name` names, in any case (its own spelling first), or None."""
    if name in names:
        return name
    return next((served for served in names if served.casefold() == name.casefold()), None)


def refuse_case_twins(
    loaded: dict[str, LoadedModel], failed: dict[str, str], first: Sequence[str] = ()
) -> dict[str, LoadedModel]:
    """The models of a folder less those whose names differ from another's only in case (names match in any case,
    so one of them could never be asked for): the one served already (`first`), else the first by name, stays; the
    others go to `failed` with the reason."""
    kept: dict[str, str] = {}  # casefolded -> the name that stays
    for name in sorted(loaded, key=lambda n: (n not in first, n)):
        twin = kept.setdefault(name.casefold(), name)
        if twin != name:
            failed[name] = f"its name and {twin}'s differ only in case, and model names match in any case"
    return {name: model for name, model in loaded.items() if kept[name.casefold()] == name}


def choose_default(names: list[str], wanted: str | None) -> str:
    """The default model: the one wanted (in any case), else the bundled model's name if served, else the first by
    name."""
    if wanted is not None:
        found = served_spelling(names, wanted)
        if found is None:
            raise ModelError(
                f"the default model {wanted!r} is not among the models served ({', '.join(sorted(names))})"
            )
        return found
    return DEFAULT_MODEL_DIR.name if DEFAULT_MODEL_DIR.name in names else sorted(names)[0]
