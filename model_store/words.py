"""Only real words: the lexicon compiled into a mask on the next character, and a tracker per stream.

The lexicon's words (those seen at least min_count times) form a trie over a-z and the apostrophe.
A stream is always in one state: between words (where a capital may start a sentence, or not), just
after the hyphen of a compound, inside a word (a trie node and the case the word is being written in),
or inside a word the lexicon does not know (a seed's own word: free until it ends). Each state allows
a fixed set of next characters, so the masks are one precomputed boolean table, looked up per step
for a whole batch at once; moving between states is a few list look-ups per character.

Case follows the plays: a word the plays write in lower case may be written so anywhere, any word may
be capitalised where a sentence or line starts, names (and "I", "O") are capitalised anywhere, and a
word is written in capitals only if the plays do so (its second letter decides). Every state allows
at least one character (a test walks random states to check it).
"""

from __future__ import annotations

import numpy as np

from model_store.lexicon import Lexicon, WordRules

# Word cases: lower case, capitalised where a sentence starts (any word), capitalised elsewhere (names), capitals.
LOWER, CAPITAL, NAME, UPPER = range(4)
# States that are not inside a known word.
START, BETWEEN, HYPHEN, QUOTE_START, QUOTE_BETWEEN, FREE = range(6)
SPECIAL = 6
_APOSTROPHE = 26  # trie symbol after a-z
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


class WordMasks:
    """The lexicon of a model, compiled for its vocabulary: state masks and transitions."""

    def __init__(self, lexicon: Lexicon, chars: tuple[str, ...]) -> None:
        self.lexicon = lexicon
        # The trie: children[node] maps a symbol to a node; bits say which cases of words lie below / end here.
        self.children: list[dict[int, int]] = [{}]
        self.depth = [0]
        below, ends = [0], [0]
        for word, entry in lexicon.counts.items():
            if entry[0] < lexicon.min_count:
                continue
            bits = case_bits(entry, lexicon.min_count)
            node = 0
            below[0] |= bits
            for char in word:
                symbol = trie_symbol(char)
                nxt = self.children[node].get(symbol)
                if nxt is None:
                    nxt = self.children[node][symbol] = len(self.children)
                    self.children.append({})
                    self.depth.append(self.depth[node] + 1)
                    below.append(0)
                    ends.append(0)
                node = nxt
                below[node] |= bits
            ends[node] |= bits
        self.below, self.ends = below, ends

        # Vocabulary ids by role. Id 0 (unknown) is banned by the sampler already.
        self.vocab_size = len(chars) + 1
        self.symbol_of = {c: trie_symbol(c) for c in chars}
        self.lower_ids = np.full(27, -1)
        self.upper_ids = np.full(27, -1)
        for i, c in enumerate(chars, start=1):
            s = trie_symbol(c)
            if s >= 0:
                (self.upper_ids if c.isupper() else self.lower_ids)[s] = i
                if c == "'":
                    self.upper_ids[s] = i
        self.separator_ids = [i for i, c in enumerate(chars, start=1) if trie_symbol(c) < 0 and c != "-"]
        self.hyphen_id = chars.index("-") + 1 if "-" in chars else -1

        # Every (node, case) with a word of that case below it is a state; then the masks, one row per state.
        self.state_of: dict[tuple[int, int], int] = {}
        self.state_node: list[int] = [0] * SPECIAL
        self.state_case: list[int] = [LOWER] * SPECIAL
        for node in range(len(self.children)):
            for case in (LOWER, CAPITAL, NAME, UPPER):
                if node and below[node] >> case & 1:
                    self.state_of[(node, case)] = len(self.state_node)
                    self.state_node.append(node)
                    self.state_case.append(case)
        allowed = np.zeros((len(self.state_node), self.vocab_size), bool)
        self._allow_word_starts(allowed[START], 0, upper_case=CAPITAL)
        self._allow_word_starts(allowed[BETWEEN], 0, upper_case=NAME)
        self._allow_word_starts(allowed[HYPHEN], 0, upper_case=NAME)
        quote = self.children[0].get(_APOSTROPHE)
        if quote is not None:
            self._allow_word_starts(allowed[QUOTE_START], quote, upper_case=CAPITAL)
            self._allow_word_starts(allowed[QUOTE_BETWEEN], quote, upper_case=NAME)
        for row, capital in ((START, CAPITAL), (BETWEEN, NAME)):
            allowed[row, self.separator_ids] = True
            if quote is not None and below[quote] & (1 << LOWER | 1 << capital):
                _allow(allowed[row], self.lower_ids[_APOSTROPHE])
        if self.hyphen_id > 0:
            allowed[[START, BETWEEN, HYPHEN], self.hyphen_id] = True  # a dash ("--"), or a compound's next part
        allowed[FREE] = True
        for (node, case), state in self.state_of.items():
            self._allow_in_word(allowed[state], node, case)
        # A word whose letters the vocabulary lacks (a lexicon extended by other plays) could leave a state with
        # nothing to pick: such a state allows anything instead.
        allowed[~allowed[:, 1:].any(axis=1)] = True
        self.banned = ~allowed
        self.banned[:, 0] = True

    def _allow_word_starts(self, row: np.ndarray, node: int, *, upper_case: int) -> None:
        """Letters that may begin a word (after `node`: the root, or an opening apostrophe)."""
        for symbol, child in self.children[node].items():
            if symbol == _APOSTROPHE:
                continue
            if self.below[child] >> LOWER & 1:
                _allow(row, self.lower_ids[symbol])
            if self.below[child] >> upper_case & 1:
                _allow(row, self.upper_ids[symbol])

    def _allow_in_word(self, row: np.ndarray, node: int, case: int) -> None:
        for symbol, child in self.children[node].items():
            if self.below[child] >> case & 1:
                _allow(row, (self.upper_ids if case == UPPER else self.lower_ids)[symbol])
            # The second letter of a capitalised word may go on in capitals, if some such word is there.
            if case in (CAPITAL, NAME) and self.depth[node] == 1 and self.below[child] >> UPPER & 1:
                _allow(row, self.upper_ids[symbol])
        if self.ends[node] >> case & 1:
            row[self.separator_ids] = True
            if self.hyphen_id > 0:
                row[self.hyphen_id] = True

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
            if symbol >= 0:
                node = self.state_node[state]
                child = self.children[node].get(symbol)
                if child is None:
                    return FREE  # only a seed, or unconstrained text, gets here
                case = self.state_case[state]
                if case in (CAPITAL, NAME) and self.depth[node] == 1 and char.isupper():
                    case = UPPER
                return self.state_of.get((child, case), FREE)
            if char == "-":
                return HYPHEN if self.ends[self.state_node[state]] >> self.state_case[state] & 1 else FREE
            return START if char in _SENTENCE_END else BETWEEN
        if symbol >= 0:
            if state == FREE:
                return FREE
            if symbol == _APOSTROPHE:
                if state in (START, BETWEEN) and _APOSTROPHE in self.children[0]:
                    return QUOTE_START if state == START else QUOTE_BETWEEN
                return BETWEEN
            root = self.children[0].get(_APOSTROPHE, -1) if state in (QUOTE_START, QUOTE_BETWEEN) else 0
            child = self.children[root].get(symbol) if root >= 0 else None
            if child is None:
                return FREE
            case = LOWER if char.islower() else CAPITAL if state in (START, QUOTE_START) else NAME
            return self.state_of.get((child, case), FREE)
        if char == "-":
            return BETWEEN if state == HYPHEN else HYPHEN if state == FREE else BETWEEN
        if char in _SENTENCE_END:
            return START
        return START if state == START and char in _AFTER_SENTENCE else BETWEEN


def _allow(row: np.ndarray, char_id: int) -> None:
    if char_id > 0:  # -1: the vocabulary lacks that letter in that case
        row[char_id] = True
