"""A speaker's names: the mask that holds a known speaker to the names of his own plays (the record:
model_store/names.py), and clean mode's words (rules/clean.py), masked the same way.

The mask (`NameMasks`) works on the word trie (words.py): for a set of plays it marks which trie nodes still
lead to an allowed word in each case (a byte per node: 28 KB for the shipped model), and a stream's row of extra
bans for a word state is worked out on first use and kept. A stream that is inside a word the mask would ban
(only a seed gets there) is not held to it, so the mask never leaves nothing to pick. In verse, which words fit
the metre from where (verse.py) is worked out again for the allowed words where the banned ones change it
(`SpeakerVerse`), so that the metre never leads a line into a name he may not say, with nothing else that fits
after it.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections import OrderedDict

import numpy as np

from model_store.metre import LONGEST, fits
from model_store.names import NameRecord
from model_store.rules.verse import VerseMasks
from model_store.rules.words import (
    BETWEEN,
    CAPITAL,
    HYPHEN,
    NAME,
    QUOTE_BETWEEN,
    QUOTE_START,
    SPECIAL,
    START,
    UPPER,
    WordMasks,
    trie_symbol,
)

MASKS_KEPT = 32  # sets of plays whose mask is kept (about 95 KB each for the shipped model, with its rows)
ROWS_KEPT = 4096  # of one mask, the word states whose row is kept; past it they start afresh
_UNSEEN = np.zeros(0, bool)  # a row not worked out yet
_VERSE_BITS = 12  # verse.py's start positions per case in its `below` (tests/test_names.py checks it)


class NameMasks:
    """A model's name record compiled onto its word masks: a `SpeakerNames` per speaker's set of plays, with or
    without clean mode's words (`clean`), the last MASKS_KEPT kept."""

    def __init__(
        self,
        record: NameRecord | None,
        words: WordMasks,
        verse: VerseMasks | None = None,
        clean: frozenset[str] = frozenset(),
    ) -> None:
        self.record, self.words, self.verse = record, words, verse
        children = np.frombuffer(words.child, np.int32).reshape(words.nodes, -1)
        parent = np.zeros(words.nodes, np.int32)
        nodes, _ = np.nonzero(children >= 0)
        parent[children[children >= 0]] = nodes
        depth = np.frombuffer(words.depth, np.uint16)
        self._parent = parent
        self._levels = [np.flatnonzero(depth == d) for d in range(int(depth.max()), 0, -1)]  # deepest first
        self._ends = np.frombuffer(words.ends, np.uint8)
        self._bits = np.frombuffer(words.below, np.uint8) | self._ends << 4  # as SpeakerNames has them, none banned
        names = record.names if record is not None else {}
        self._end_node = {name: node for name in names if (node := words.node_of(name)) > 0}
        self._clean_nodes = sorted(node for word in clean if (node := words.node_of(word)) > 0)
        self._masks: OrderedDict[tuple[tuple[int, ...] | None, bool], SpeakerNames | None] = OrderedDict()
        self._lock = threading.Lock()
        if verse is not None:  # by node, the positions from which the word ending there fits, spread over its cases
            self._fit = np.zeros(words.nodes, np.int64)
            fit_bits: dict[str, int] = {}
            for node, readings in verse.readings.items():
                fit = 0
                for reading in readings:
                    if reading not in fit_bits:
                        fit_bits[reading] = sum(1 << p for p in range(LONGEST) if fits(reading, p))
                    fit |= fit_bits[reading]
                self._fit[node] = sum(fit << (_VERSE_BITS * c) for c in range(4) if words.ends[node] >> c & 1)
            self._verse_below = np.array(verse.below, np.int64)

    def of(self, speaker: str, *, clean: bool = False) -> SpeakerNames | None:
        """The mask of a speaker's names, and with `clean` of clean mode's words too; None when nothing is banned
        (a speaker the record does not know, or one who may use all, and not clean)."""
        plays = self.record.speakers.get(speaker) if self.record is not None else None
        if plays is None and not (clean and self._clean_nodes):
            return None
        key = (plays, clean)
        with self._lock:  # the engine serves several threads
            if key in self._masks:
                mask = self._masks.pop(key)
            else:
                banned = (self.record.banned(speaker) if self.record is not None and plays is not None else ()) or ()
                nodes = [self._end_node[w] for w in banned if w in self._end_node]
                nodes += self._clean_nodes if clean else []
                mask = self._speaker(nodes) if nodes else None
            self._masks[key] = mask  # the most recent last
            while len(self._masks) > MASKS_KEPT:
                del self._masks[next(iter(self._masks))]
            return mask

    def _speaker(self, banned_ends: list[int]) -> SpeakerNames:
        """The mask with these names' ends banned: by node, the cases of the allowed words below it (bits 0-3) and
        of the allowed word ending at it (bits 4-7), as the word masks have them (`below`, `ends`); in verse, the
        positions they fit from; and a bit per node where a state's bans may change (its values or a child's did)."""
        ends = self._ends.copy()
        ends[banned_ends] = 0
        bits = self._up(ends) | ends << 4
        changed = bits != self._bits
        moved = np.zeros(0, np.int64)
        if self.verse is not None:
            fit = self._fit.copy()
            fit[banned_ends] = 0
            below = self._up(fit)
            moved = np.flatnonzero(below != self._verse_below)
            changed[moved] = True
        changed = np.flatnonzero(changed)
        touched = np.zeros(len(bits), bool)
        touched[changed] = touched[self._parent[changed]] = True
        touched_bits = np.packbits(touched, bitorder="little").tobytes()
        verse = self.verse
        if verse is not None and len(moved):
            # A state's verse row can change where a child's positions did, in the cases they did.
            diff = below[moved] ^ self._verse_below[moved]
            groups = sum((diff >> (_VERSE_BITS * c) & 0xFFF != 0).astype(np.uint8) << c for c in range(4))
            cases = np.zeros(len(bits), np.uint8)
            np.bitwise_or.at(cases, self._parent[moved], groups)
            at = np.flatnonzero(cases)
            verse = SpeakerVerse(verse, _Overlay(verse.below, moved, below[moved]), _Overlay(None, at, cases[at]))
        return SpeakerNames(self.words, bits.tobytes(), touched_bits, verse)

    def _up(self, values: np.ndarray) -> np.ndarray:
        """Each node's value ORed with all those below it (the trie's nodes are numbered parents first)."""
        below = values.copy()
        for level in self._levels:  # deepest first
            np.bitwise_or.at(below, self._parent[level], below[level])
        return below


class SpeakerNames:
    """One speaker's names as extra bans, by word state: the letters that lead only to names he may not use, and the
    end of a word that is one."""

    def __init__(self, words: WordMasks, bits: bytes, touched: bytes, verse: VerseMasks | None = None) -> None:
        self.words, self.bits = words, bits  # by node: allowed cases below it (bits 0-3), ending at it (bits 4-7)
        self.touched = touched  # bit per node: a state there may have bans (the others have none)
        self.verse = verse  # the verse masks his lines use: his own where his names change what fits (None: no metre)
        self.chars = ("", *words.symbol_of)  # by vocabulary id (0: unknown)
        self._rows: dict[int, np.ndarray | None] = {}

    @property
    def nbytes(self) -> int:
        """Roughly what this mask holds in memory (its node arrays and the rows kept)."""
        rows = sum(r.nbytes + 100 for r in self._rows.values() if r is not None)
        verse = self.verse.nbytes if isinstance(self.verse, SpeakerVerse) else 0
        return len(self.bits) + len(self.touched) + rows + verse

    def bans(self, state: int) -> np.ndarray | None:
        """What a stream in word state `state` may not write next for this speaker, besides the words' bans (None:
        nothing more)."""
        rows = self._rows
        row = rows.get(state, _UNSEEN)
        if row is _UNSEEN:
            if len(rows) >= ROWS_KEPT:
                rows.clear()
            row = rows[state] = self._build(state)
        return row

    def _build(self, state: int) -> np.ndarray | None:
        words = self.words
        if state >= SPECIAL:
            node, case = words.state_node[state], words.state_case[state]
            if not self.touched[node >> 3] >> (node & 7) & 1:
                return None  # nothing he may not say starts or ends here: most states
            if not self.bits[node] >> case & 1:
                return None  # inside a word of the seed's that he may not use: it is the user's
        elif state not in (START, BETWEEN, HYPHEN, QUOTE_START, QUOTE_BETWEEN):
            return None  # a dash, or a word the lexicon lacks: no word of the lexicon starts here
        row = np.zeros(len(self.chars), bool)
        for char_id in np.flatnonzero(~words.banned[state]):
            char = self.chars[char_id]
            if trie_symbol(char) >= 0:
                nxt = words.advance(state, char)
                row[char_id] = nxt >= SPECIAL and not self.bits[words.state_node[nxt]] >> words.state_case[nxt] & 1
            elif state >= SPECIAL:  # ending the word here
                row[char_id] = bool(words.ends[node] >> case & 1) and not self.bits[node] >> (4 + case) & 1
        return row if row.any() else None


class SpeakerVerse(VerseMasks):
    """The verse masks of one speaker: the shared masks' rows, and where the names he may not use change which words
    fit from where, the letters that lead only to words that do not fit, now that those are gone, banned too."""

    def __init__(self, shared: VerseMasks, below: _Overlay, cases: _Overlay) -> None:
        self.__dict__.update(vars(shared))  # not VerseMasks.__init__: all but `below` and the rows are the shared ones
        self.shared, self.below = shared, below  # his positions by node (where they differ, below.nodes)
        self.cases = cases  # by node: the cases (bits) in which a child's positions differ
        self._rows: dict[int, np.ndarray] = {}

    @property
    def nbytes(self) -> int:
        """Roughly what this speaker's verse holds: his positions where they differ, and his rows."""
        return self.below.nbytes + self.cases.nbytes + 100 * len(self._rows)

    def row(self, state: int, starts: int, flags: int) -> np.ndarray:
        shared = self.shared.row(state, starts, flags)
        words = self.words
        if state >= SPECIAL:
            node, case = words.state_node[state], words.state_case[state]
            cases = 1 << case | (1 << UPPER if case in (CAPITAL, NAME) and words.depth[node] == 1 else 0)
        elif state in (START, BETWEEN, HYPHEN):
            node, cases = 0, 0b1111
        else:
            return shared  # a dash, a free word, an opening apostrophe ("'tis": no name of his starts so)
        if not self.cases[node] & cases:
            return shared
        key = state << 16 | starts << 2 | (flags if state < SPECIAL else 0)
        row = self._rows.get(key)
        if row is None:
            if len(self._rows) >= ROWS_KEPT:
                self._rows.clear()
            row = self._rows[key] = self._his(shared, state, starts)
        return row

    def _his(self, shared: np.ndarray, state: int, starts: int) -> np.ndarray:
        """The shared row, with the letters banned below which none of his words fits from `starts`."""
        words, below = self.words, self.below
        banned = []
        for char_id in np.flatnonzero(~shared[1:]) + 1:
            char = self.chars[char_id]
            if words.symbol_of[char] < 0 or (nxt := words.advance(state, char)) < SPECIAL:
                continue  # not a letter, or an opening apostrophe
            if not below[words.state_node[nxt]] >> (_VERSE_BITS * words.state_case[nxt]) & starts:
                banned.append(char_id)
        if not banned:
            return shared
        row = shared.copy()
        row[banned] = True
        return row


class _Overlay:
    """A list of values by node, with those of some nodes (sorted) replaced."""

    def __init__(self, base: list[int] | None, nodes: np.ndarray, values: np.ndarray) -> None:
        self.base = base  # None: 0 for the others
        self.nodes = array("i", nodes.astype(np.int32).tobytes())
        self.values = array("q", values.astype(np.int64).tobytes())

    @property
    def nbytes(self) -> int:
        return len(self.nodes) * 12

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node: int) -> int:
        i = bisect_left(self.nodes, node)
        if i < len(self.nodes) and self.nodes[i] == node:
            return self.values[i]
        return 0 if self.base is None else self.base[node]
