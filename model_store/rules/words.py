"""Only real words: the lexicon compiled into a mask on the next character, and a tracker per stream.

The lexicon's words (those seen at least min_count times) form a trie over a-z and the apostrophe.
A stream is always in one state: between words (where a capital may start a sentence, or not), just
after the hyphen of a compound, inside a dash ("--"), inside a word (a trie node and the case the word
is being written in), or inside a word the lexicon does not know (a seed's own word: free until it ends).
Each state allows a fixed set of next characters, so the masks are one precomputed boolean table, looked
up per step for a whole batch at once; moving between states is a few list look-ups per character.

Case follows the plays: a word the plays write in lower case may be written so anywhere, any word may
be capitalised where a sentence or line starts, names (and "I", "O") are capitalised anywhere, and a
word is written in capitals only if the plays do so (its second letter decides). Every state allows
at least one character (a test walks random states to check it).
"""

from __future__ import annotations

from array import array

import numpy as np

from model_store.lexicon import Lexicon, WordRules

# Word cases: lower case, capitalised where a sentence starts (any word), capitalised elsewhere (names), capitals.
LOWER, CAPITAL, NAME, UPPER = range(4)
# States that are not inside a known word.
START, BETWEEN, HYPHEN, QUOTE_START, QUOTE_BETWEEN, FREE, DASH = range(7)
SPECIAL = 7
_APOSTROPHE = 26  # trie symbol after a-z
_SYMBOLS = 27
_SENTENCE_END = frozenset(".!?\n")
_AFTER_SENTENCE = frozenset(" \"')]")  # what may follow a sentence's end before the next one starts


def case_bits(entry: list[int], min_count: int) -> int:
    """Bit c set: the word may be written in case c."""
    rules = WordRules.of(entry, min_count)
    return 1 << CAPITAL | rules.lower << LOWER | rules.title_anywhere << NAME | rules.upper << UPPER


def trie_symbol(char: str) -> int:
    """Trie symbol of a letter or apostrophe (any case), or -1."""
    if char == "'":
        return _APOSTROPHE
    if "a" <= char.lower() <= "z" and len(char) == 1 and char.isascii():
        return ord(char.lower()) - ord("a")
    return -1


class _VocabularyIds:
    """Vocabulary ids by role. Id 0 (unknown) is banned by the sampler already; -1: not in the vocabulary."""

    def __init__(self, chars: tuple[str, ...]) -> None:
        self.lower, self.upper = np.full(_SYMBOLS + 1, -1), np.full(_SYMBOLS + 1, -1)  # by trie symbol; last: none
        for i, c in enumerate(chars, start=1):
            if (s := trie_symbol(c)) >= 0:
                (self.upper if c.isupper() else self.lower)[s] = i
                if c == "'":
                    self.upper[s] = i
        self.separators = [i for i, c in enumerate(chars, start=1) if trie_symbol(c) < 0 and c != "-"]
        self.hyphen = [chars.index("-") + 1] if "-" in chars else []


class _RowFiller:
    """Fills rows of the allowed table from the trie's children."""

    def __init__(self, masks: WordMasks, allowed: np.ndarray) -> None:
        self.allowed = allowed
        self.children = np.frombuffer(masks.child, np.int32).reshape(masks.nodes, _SYMBOLS)
        self.below = np.frombuffer(masks.below, np.uint8)

    def allow(
        self,
        rows: np.ndarray,
        nodes: np.ndarray,
        case: int,
        ids: np.ndarray,
        extra: np.ndarray | None = None,
        word_start: bool = False,
    ) -> None:
        """Allow, in each row, the letters of the children of its node below which lie words of `case` (for a
        word's start, letters only: an opening apostrophe has states of its own)."""
        kids = self.children[nodes]
        ok = (kids >= 0) & ((self.below[kids] >> case) & 1).astype(bool)
        if extra is not None:
            ok &= extra[:, None]
        if word_start:
            ok[:, _APOSTROPHE] = False
        r, sym = np.nonzero(ok)
        cols = ids[sym]
        self.allowed[rows[r[cols > 0]], cols[cols > 0]] = True


class WordMasks:
    """The lexicon of a model, compiled for its vocabulary: state masks and transitions.

    Everything is kept in flat arrays (a few MB for the shipped model's 11,000 words), not Python objects.
    """

    def __init__(self, lexicon: Lexicon, chars: tuple[str, ...]) -> None:
        self.lexicon = lexicon
        self._build_trie(lexicon)
        self.symbol_of = {c: trie_symbol(c) for c in chars}
        self._number_states()
        self.banned = np.logical_not(self._allowed(chars))
        self.banned[:, 0] = True

    def _build_trie(self, lexicon: Lexicon) -> None:
        """The trie: child[node * 27 + symbol] is a node or -1; below / ends say which cases of words lie below a
        node / end at it (bit flags by case)."""
        child, depth, below, ends = array("i", [-1] * _SYMBOLS), array("H", [0]), bytearray(1), bytearray(1)
        for word, entry in lexicon.counts.items():
            if entry[0] < lexicon.min_count:
                continue
            bits = case_bits(entry, lexicon.min_count)
            node = 0
            below[0] |= bits
            for char in word:
                slot = node * _SYMBOLS + trie_symbol(char)
                if child[slot] < 0:
                    child[slot] = len(depth)
                    child.extend([-1] * _SYMBOLS)
                    depth.append(depth[node] + 1)
                    below.append(0)
                    ends.append(0)
                node = child[slot]
                below[node] |= bits
            ends[node] |= bits
        self.child, self.depth, self.below, self.ends = child, depth, bytes(below), bytes(ends)

    def _number_states(self) -> None:
        """Every (node, case) with a word of that case below it is a state, numbered after the special ones."""
        below_np = np.frombuffer(self.below, np.uint8)
        has = (below_np[:, None] >> np.arange(4)) & 1  # (nodes, case)
        has[0] = 0  # the root is START / BETWEEN, not a state of its own
        state_index = np.where(has.ravel(), np.cumsum(has.ravel()) - 1 + SPECIAL, FREE).astype(np.int32)
        self.state_index = array("i", state_index.tobytes())  # state of (node, case) at node * 4 + case
        flat = np.flatnonzero(has.ravel())
        self.state_node = array("i", (flat // 4).astype(np.int32).tobytes())
        self.state_case = array("i", (flat % 4).astype(np.int32).tobytes())
        self.state_node[0:0] = array("i", [0] * SPECIAL)
        self.state_case[0:0] = array("i", [LOWER] * SPECIAL)

    def _allowed(self, chars: tuple[str, ...]) -> np.ndarray:
        """(states, vocabulary size) booleans: what each state allows next (id 0 not yet banned)."""
        ids = _VocabularyIds(chars)
        allowed = np.zeros((len(self.state_node), len(chars) + 1), bool)
        rows = _RowFiller(self, allowed)
        quote = self.child[_APOSTROPHE]  # the node after an opening apostrophe ("'tis"), or -1
        # Between words: any word may start a sentence (capitalised), only names elsewhere.
        for row, capital in ((START, CAPITAL), (BETWEEN, NAME), (HYPHEN, NAME)):
            for case, letters in ((LOWER, ids.lower), (capital, ids.upper)):
                rows.allow(np.array([row]), np.array([0]), case, letters, word_start=True)
        for row, capital in ((QUOTE_START, CAPITAL), (QUOTE_BETWEEN, NAME)):
            if quote >= 0:
                for case, letters in ((LOWER, ids.lower), (capital, ids.upper)):
                    rows.allow(np.array([row]), np.array([quote]), case, letters, word_start=True)
        for row, capital in ((START, CAPITAL), (BETWEEN, NAME)):
            allowed[row, ids.separators] = True
            if quote >= 0 and self.below[quote] & (1 << LOWER | 1 << capital) and ids.lower[_APOSTROPHE] > 0:
                allowed[row, ids.lower[_APOSTROPHE]] = True
        # A hyphen after a word joins a compound's next part or opens a dash ("--"); between words it opens a dash.
        allowed[np.ix_([START, BETWEEN, HYPHEN, DASH], ids.hyphen)] = True
        allowed[FREE] = True
        self._allow_in_words(rows, ids)
        # A word whose letters the vocabulary lacks (a lexicon extended by other plays) could leave a state with
        # nothing to pick: such a state allows anything instead.
        allowed[~allowed[:, 1:].any(axis=1)] = True
        return allowed

    def _allow_in_words(self, rows: _RowFiller, ids: _VocabularyIds) -> None:
        """In a word: letters that keep it a word of its case, and, where it is complete, whatever ends it."""
        node_of, case_of = np.frombuffer(self.state_node, np.int32), np.frombuffer(self.state_case, np.int32)
        depth, ends = np.frombuffer(self.depth, np.uint16), np.frombuffer(self.ends, np.uint8)
        for case in (LOWER, CAPITAL, NAME, UPPER):
            states = np.flatnonzero(case_of == case)
            states = states[states >= SPECIAL]
            rows.allow(states, node_of[states], case, ids.upper if case == UPPER else ids.lower)
            if case in (CAPITAL, NAME):  # the second letter of a capitalised word may go on in capitals
                rows.allow(states, node_of[states], UPPER, ids.upper, extra=depth[node_of[states]] == 1)
            complete = states[((ends[node_of[states]] >> case) & 1).astype(bool)]
            rows.allowed[np.ix_(complete, ids.separators + ids.hyphen)] = True

    @property
    def nodes(self) -> int:
        """How many nodes the trie has (the root is 0)."""
        return len(self.depth)

    def child_of(self, node: int, symbol: int) -> int:
        """The trie node after `symbol` (trie_symbol) from `node`, or -1."""
        return self.child[node * _SYMBOLS + symbol]

    def node_of(self, word: str) -> int:
        """The trie node a word of the lexicon ends at, or -1."""
        node = 0
        for char in word:
            symbol = trie_symbol(char)
            node = self.child_of(node, symbol) if symbol >= 0 else -1
            if node < 0:
                return -1
        return node

    # ------------------------------------------------------------------ moving between states

    def start_state(self, text: str) -> int:
        """The state after `text` (a seed's speech so far), starting where a speech starts."""
        state = START
        for char in text:
            state = self.advance(state, char)
        return state

    def advance(self, state: int, char: str) -> int:
        """The state after one more character."""
        symbol = self.symbol_of.get(char, -1)
        if state >= SPECIAL:
            node, case = self.state_node[state], self.state_case[state]
            if symbol >= 0:
                nxt = self.child[node * _SYMBOLS + symbol]
                if nxt < 0:
                    return FREE  # only a seed, or unconstrained text, gets here
                if case in (CAPITAL, NAME) and self.depth[node] == 1 and char.isupper():
                    case = UPPER
                return self.state_index[nxt * 4 + case]
            if char == "-":
                return HYPHEN if self.ends[node] >> case & 1 else FREE
            return START if char in _SENTENCE_END else BETWEEN
        if symbol >= 0:
            if state == FREE:
                return FREE
            quote = self.child[_APOSTROPHE]
            if symbol == _APOSTROPHE:
                if state in (START, BETWEEN) and quote >= 0:
                    return QUOTE_START if state == START else QUOTE_BETWEEN
                return BETWEEN
            parent = quote if state in (QUOTE_START, QUOTE_BETWEEN) else 0
            nxt = self.child[parent * _SYMBOLS + symbol] if parent >= 0 else -1
            if nxt < 0:
                return FREE
            case = LOWER if char.islower() else CAPITAL if state in (START, QUOTE_START) else NAME
            return self.state_index[nxt * 4 + case]
        if char == "-":
            if state == FREE:
                return HYPHEN
            return BETWEEN if state in (HYPHEN, DASH) else DASH
        if char in _SENTENCE_END:
            return START
        return START if state == START and char in _AFTER_SENTENCE else BETWEEN
