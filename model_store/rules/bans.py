"""What a batch's rows may not write next: each row's words' mask (model_store/rules/words.py), its metre's
(rules/verse.py), its speaker's names (rules/names.py), its speech's bans and a reader's (rules/monologue.py,
rules/reader.py), combined, with the fallbacks that keep every row something to pick.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_store.rules.monologue import STRUCTURE_FLAGS, MonologueRule
from model_store.rules.stop_rule import StopRule
from model_store.rules.words import WordMasks


def row_bans(
    rows: Sequence[MonologueRule | StopRule], words: WordMasks | None, structure: np.ndarray, vocab_size: int
) -> np.ndarray:
    """(rows, vocabulary size) booleans: what each row may not write next (free text: only the unknown id).
    `structure` is the speech's table of masks (model_store/rules/monologue.py's structure_masks). A row whose
    metre and rules leave nothing drops the metre for its word (counted); whose names leave nothing, any name;
    whose reader's rules leave nothing, the words' and the speech's own bans alone."""
    states = [rule.word_state for rule in rows]
    if words is not None:
        banned = words.banned[states]
    else:
        banned = np.zeros((len(rows), vocab_size), bool)
        banned[:, 0] = True
    verse = [row for row, rule in enumerate(rows) if rule.verse is not None and rule.verse.bans is not None]
    if verse:
        banned[verse] = [rows[row].verse.bans for row in verse]  # the words' bans and the metre's
    named = [(row, rule.names.bans(states[row])) for row, rule in enumerate(rows) if rule.names is not None]
    names = {row: bans for row, bans in named if bans is not None}
    for row, bans in names.items():
        banned[row] |= bans  # a known speaker's names: those of his plays and the common ones
    flags = [rule.bans for rule in rows]
    if any(flags):
        banned |= structure[flags]
    for row, rule in enumerate(rows):
        if rule.ban_ids:  # the letter into a doubled word (model_store/rules/reader.py)
            banned[row, list(rule.ban_ids)] = True
    if verse:
        for row in np.asarray(verse)[banned[verse, 1:].all(axis=1)]:
            # The metre and the speech's rules leave nothing: this word goes without the metre (counted).
            rows[row].verse.fall_back()
            banned[row] = words.banned[states[row]] | structure[flags[row]] | names.get(row, False)
            banned[row, list(rows[row].ban_ids)] = True
    for row in [row for row in names if banned[row, 1:].all()]:
        banned[row] = words.banned[states[row]] | structure[flags[row]]  # any name, not nothing
        banned[row, list(rows[row].ban_ids)] = True
    for row in np.flatnonzero(banned[:, 1:].all(axis=1)):
        # The reader's rules leave nothing (a safety net): the words' and the speech's own bans alone.
        banned[row] = words.banned[states[row]] | structure[flags[row] & STRUCTURE_FLAGS]
    return banned
