"""Verse that scans: the metre (model_store/metre.py) as a mask on the next character, on top of the words' masks.

A stream writing verse knows, besides its word state (model_store/rules/words.py), the syllable positions its current
word may have started at, or the next word may start at (a bit set over 0..11: a word with several readings can
leave several). A letter is allowed only if some word of the lexicon below it, in its case, fits from one of
those positions; a word may end only if it fits; a line may end ("\n") only at 10 or 11 syllables, and a space
only while a word can still begin (so a full line must end: only closing punctuation may come first). The masks for each
(word state, positions, line flags) are worked out on first use and kept (`VerseMasks.row`); a step costs a
dictionary look-up. A row the structure's bans would empty is the engine's to notice: that stream drops the
metre until its word ends, and the fallback is counted (`VerseLine.fall_back`).
"""

from __future__ import annotations

import numpy as np

from model_store.metre import LINE, LINE_ENDS, LONGEST, Metre, after, fits
from model_store.rules.words import FREE, QUOTE_BETWEEN, QUOTE_START, SPECIAL, START, WordMasks, case_bits, trie_symbol

_BITS = 12  # per case in `below`: start positions 0..11 (11 never fits; it keeps the arithmetic plain)
_CACHE_LIMIT = 200_000  # rows kept; past it the cache starts afresh (a row is rebuilt in well under a millisecond)
_BLANK, _AFTER_SPACE = 1, 2  # line flags in a row's key
_OPEN = (1 << LINE) - 1  # positions 0..9: a word may still begin (at 10 only a feminine ending could, mid-word)
_LINE_CLOSERS = frozenset(".,;:!?'\")]")  # what may stand after a full line's last word, before its end


class VerseMasks:
    """The metre of a model's words, compiled onto its word trie; rows of bans made on demand and cached."""

    def __init__(self, words: WordMasks, metre: Metre) -> None:
        self.words, self.metre = words, metre
        self.chars = ("", *words.symbol_of)  # by vocabulary id (0: unknown); symbol_of lists the vocabulary in order
        # below[node]: per case (12 bits each), the positions from which some word below node, of that case, fits.
        self.below = [0] * words.nodes
        self.readings: dict[int, tuple[str, ...]] = {}  # the node a word ends at -> its readings
        fit_bits: dict[str, int] = {}
        lexicon = words.lexicon
        for word, entry in lexicon.counts.items():
            if entry[0] < lexicon.min_count:
                continue
            readings = tuple(metre.of(word))
            fit = 0
            for reading in readings:
                if reading not in fit_bits:
                    fit_bits[reading] = sum(1 << p for p in range(LONGEST) if fits(reading, p))
                fit |= fit_bits[reading]
            cases = case_bits(entry, lexicon.min_count)
            spread = sum(fit << (_BITS * case) for case in range(4) if cases >> case & 1)
            node = 0
            self.below[0] |= spread
            for char in word:
                node = words.child_of(node, trie_symbol(char))
                self.below[node] |= spread
            self.readings[node] = readings
        self.quote = words.child_of(0, trie_symbol("'"))
        self.open = _OPEN  # where a word may end with another to follow (a line that must rhyme has fewer)
        self._rows: dict[int, np.ndarray] = {}
        self._distinct: dict[bytes, np.ndarray] = {}  # identical rows shared
        self._after: dict[tuple[int, int], int] = {}

    def word_ends(self, node: int, starts: int) -> int:
        """The positions the word ending at `node` can end at, from `starts` (0 if it fits from none)."""
        key = (node, starts)
        ends = self._after.get(key)
        if ends is None:
            ends = self._after[key] = after(self.readings.get(node, ("",)), starts)
        return ends

    def row(self, state: int, starts: int, flags: int) -> np.ndarray:
        """What a verse stream may not write next: the words' bans and the metre's."""
        key = state << 16 | starts << 2 | (flags if state < SPECIAL else 0)
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) >= _CACHE_LIMIT:
                self._rows, self._distinct = {}, {}
            row = self._build(state, starts, flags)
            row = self._distinct.setdefault(row.tobytes(), row)
            self._rows[key] = row
        return row

    def _fits_below(self, state: int, starts: int) -> bool:
        words = self.words
        return bool(self.below[words.state_node[state]] >> (_BITS * words.state_case[state]) & starts)

    def _build(self, state: int, starts: int, flags: int) -> np.ndarray:
        words = self.words
        row = words.banned[state].copy()
        if state == FREE:
            return row  # a word of the seed's that the lexicon lacks: the metre waits for its end
        in_word = state >= SPECIAL
        node = words.state_node[state]
        ends = (self.word_ends(node, starts) if node in self.readings else 0) if in_word else starts
        for char_id in np.flatnonzero(~row[1:]) + 1:
            char = self.chars[char_id]
            if words.symbol_of[char] >= 0:
                nxt = words.advance(state, char)
                if nxt >= SPECIAL:
                    ok = self._fits_below(nxt, starts)
                elif nxt in (QUOTE_START, QUOTE_BETWEEN):  # an opening apostrophe: some "'tis" must fit
                    ok = self.quote >= 0 and bool(self.below[self.quote] & sum(starts << (_BITS * c) for c in range(4)))
                else:
                    ok = nxt != FREE
            elif char == "\n":
                ok = (not in_word and bool(flags & _BLANK)) or (bool(ends & LINE_ENDS) and not flags & _AFTER_SPACE)
            elif char in " -":
                ok = bool(ends & self.open)  # another word can still begin in this line
            else:  # punctuation; once the line is full, only what may close it
                ok = bool(ends & self.open) or (bool(ends) and char in _LINE_CLOSERS)
            row[char_id] = not ok
        return row


class VerseLine:
    """One stream's place in its line of verse: fed every character with the word states around it."""

    def __init__(self, masks: VerseMasks, state: int = START) -> None:
        self.masks = masks  # this line's (a line that must rhyme has its own: model_store/rules/rhyme.py)
        self.default = masks
        self.starts = 1  # positions (bits) the current word started at, or the next may start at
        self.flags = _BLANK
        self.word: list[str] = []  # the current word's characters
        self.broken = False  # the current word was let break the metre (a fallback): no bans until it ends
        self.fallbacks = 0
        self.last_word = ""  # the last word ended (at a line's end: the line's last word)
        self.rewritable = False  # a line that must rhyme, with rewrites left: left with nothing, it is written again
        self.stuck = False  # left with nothing where rewritable: the engine goes back to the line's start
        self.at_start = False  # nothing written since the start kept to go back to (going back would change nothing)
        self.bans: np.ndarray | None = masks.row(state, self.starts, self.flags)

    def use(self, masks: VerseMasks, state: int) -> None:
        """Write the line now begun with these masks (word state `state`)."""
        self.masks = masks
        self.bans = None if self.broken else masks.row(state, self.starts, self.flags)

    def may_end_line(self, state: int) -> bool:
        """Whether the line may end after what was written so far (its last word, in word state `state`, done)."""
        masks = self.masks
        if state >= SPECIAL:
            node = masks.words.state_node[state]
            return node in masks.readings and bool(masks.word_ends(node, self.starts) & LINE_ENDS)
        return bool(self.starts & LINE_ENDS) and not self.word

    def feed(self, char: str, before: int, state: int) -> None:
        """One more character; `before` and `state` are the word states before and after it."""
        masks = self.masks
        self.stuck = self.at_start = False
        if masks.words.symbol_of.get(char, -1) >= 0:
            self.word.append(char)
            self.flags = 0
        else:
            if before >= SPECIAL or (before == FREE and self.word):
                self.starts = self._word_end(before)
                self.last_word = "".join(self.word)
            self.word = []
            self.broken = False
            if char == "\n":
                self.starts, self.flags = 1, _BLANK
            else:
                self.flags = _AFTER_SPACE if char == " " else 0
        self.bans = None if self.broken else masks.row(state, self.starts, self.flags)

    def _word_end(self, before: int) -> int:
        masks = self.masks
        if before >= SPECIAL:
            node = masks.words.state_node[before]
            readings = masks.readings.get(node) or masks.metre.of("".join(self.word))
            ends = masks.word_ends(node, self.starts)
        else:
            readings = masks.metre.of("".join(self.word))
            ends = after(readings, self.starts)
        if ends:
            return ends
        # A word that does not fit (the seed's, or a fallback): the line goes on from its shortest reading.
        shortest = min(len(r) for r in readings)
        return sum(1 << min(p + shortest, LONGEST) for p in range(LONGEST + 1) if self.starts >> p & 1)

    def fall_back(self) -> None:
        """Nothing fits here: let the model write this word as it will (and count it); in a line that must rhyme,
        with rewrites left, the line is written again instead."""
        if self.rewritable and not self.at_start:
            self.stuck = True
            return
        self.fallbacks += 1
        self.broken = True
        self.bans = None
