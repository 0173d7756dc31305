"""A speech about something: the lexicon's words weighted by their relation to the speech's subject.

The subject is the content words of the seed (and, weighing less, of what the speech has said so far) and the
speaker's play; a word's relation to it is the mean PMI between it and them in the training plays
(model_store/topics.py). Each content word w gets a factor exp(strength * relation), capped, and 1 for a word already
said (repetition is not a subject); the factors are scaled so that content words keep their share of the text (a
function word's factor is 1): the subject chooses among nouns and verbs, and the grammar stays the model's.

The factor acts on the model's own distribution as it spells a word, through the lexicon's trie (where the masks
act): at a trie node, a letter is weighted by r(child) / r(node), the word's end by b(word) / r(node), where r(node)
is the count-weighted mean factor of the words below the node. Along any word the ratios telescope to
b(word) / r(root), so a whole word is weighted by its factor, whatever the model thought of its prefixes. With the
words in trie order, the words below a node are one slice, so r(node) is two look-ups in a running sum.
Strength 0 leaves no factor at all: the engine's text is the same, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_store.lexicon import Lexicon
from model_store.rules.words import DASH, FREE, HYPHEN, QUOTE_BETWEEN, QUOTE_START, SPECIAL, WordMasks, trie_symbol
from model_store.topics import TopicRecord, is_content

APOSTROPHE = trie_symbol("'")  # the trie's last symbol, after a-z
SYMBOLS = APOSTROPHE + 1
MAX_RELATION = 2.5  # mean PMI beyond this counts as this: a factor of at most exp(strength * MAX_RELATION)
SEED_WEIGHT = 1.0  # how much a content word of the seed counts in the subject
SPEECH_WEIGHT = 0.25  # and one the speech has said: the seed's subject holds; a seed without one gets the speech's
# The speaker's play counts as this many of the seed's words, its relation capped: what a play has that the others
# lack is mostly its names and places, which would crowd out the subject if they counted more.
PLAY_WEIGHT = 0.2
MAX_PLAY_RELATION = 1.5


class TopicWeights:
    """The lexicon in trie order, its counts' running sum, and the record's words placed in that order: fixed for
    a model, shared by every request."""

    def __init__(self, record: TopicRecord, words: WordMasks, lexicon: Lexicon, chars: tuple[str, ...]) -> None:
        self.record = record
        kept = [w for w, entry in lexicon.counts.items() if entry[0] >= lexicon.min_count]
        order = sorted(kept, key=lambda w: [trie_symbol(c) for c in w])
        self.order = tuple(order)  # the lexicon's words in trie order
        self.counts = np.array([lexicon.counts[w][0] for w in order], np.float64)
        self.content = np.array([is_content(w) for w in order])
        self.content_counts = self.counts[self.content].sum()
        self.running = np.concatenate([[0.0], np.cumsum(self.counts)])
        nodes = words.nodes
        self.lo, self.hi = np.full(nodes, len(order), np.int64), np.zeros(nodes, np.int64)
        self.ends = np.full(nodes, -1, np.int64)  # the word (trie order) that ends at a node
        for i, word in enumerate(order):
            node = 0
            self.lo[0], self.hi[0] = min(self.lo[0], i), i + 1
            for char in word:
                node = words.child_of(node, trie_symbol(char))
                self.lo[node], self.hi[node] = min(self.lo[node], i), max(self.hi[node], i + 1)
            self.ends[node] = i
        self.children = np.frombuffer(words.child, np.int32).reshape(nodes, SYMBOLS).astype(np.int64)
        place = {w: i for i, w in enumerate(order)}
        self.place = np.array([place.get(w, -1) for w in record.words], np.int64)  # record word -> trie order
        self.word_id = {w: i for i, w in enumerate(record.words)}
        # The node each word state spells from: its own inside a word, the root (or the node after an opening
        # apostrophe) between words; -1 where no word is being spelled.
        node_of = np.frombuffer(words.state_node, np.int32).astype(np.int64).copy()
        node_of[:SPECIAL] = 0
        node_of[[FREE, DASH]] = -1
        node_of[[QUOTE_START, QUOTE_BETWEEN]] = words.child_of(0, APOSTROPHE)
        self.node_of = node_of
        self.between = np.zeros(len(node_of), bool)
        self.between[:SPECIAL] = True
        self.between[[FREE, DASH, HYPHEN]] = False
        # The vocabulary ids of each trie symbol, lower and upper case (-1: not in the vocabulary; an apostrophe is
        # both), and of what may end a word.
        self.letter_ids = np.full((2, SYMBOLS), -1, np.int64)
        for i, c in enumerate(chars, start=1):
            if (symbol := trie_symbol(c)) >= 0:
                self.letter_ids[[int(c.isupper())] if c != "'" else [0, 1], symbol] = i
        self.end_ids = np.array([i for i, c in enumerate(chars, start=1) if trie_symbol(c) < 0], np.int64)
        self.vocab_size = len(chars) + 1
        self.plays = {name: int(play) for name, play in zip(record.speakers, record.speaker_play, strict=True)}

    def play_of(self, speaker: str) -> int:
        """The play a speaker speaks most in, or -1 if the record has no words of his."""
        return self.plays.get(speaker, -1)

    def play_relation(self, play: int) -> np.ndarray:
        """Positive PMI of each record word with one play (how much more the play uses it than the plays do)."""
        record = self.record
        lo, hi = record.play_ptr[play], record.play_ptr[play + 1]
        used = np.zeros(len(record.words))
        used[record.play_word[lo:hi]] = record.play_count[lo:hi]
        share = (used + 0.5) / (used.sum() + 0.5 * len(used))
        overall = record.counts / record.counts.sum()
        return np.clip(np.log(share / overall), 0.0, MAX_PLAY_RELATION)


class TopicBatch:
    """The subject of each request of one batch that asks for it, and the factors it gives each step."""

    def __init__(self, weights: TopicWeights, strengths: Sequence[float], seeds: Sequence[str], plays: Sequence[int]):
        self.weights = weights
        n, size = len(strengths), len(weights.counts)
        self.strength = np.asarray(strengths, np.float64)
        self.relation = np.zeros((n, size))  # sum of weighted PMI, in trie order
        self.weight = np.zeros(n)  # the sum of the weights
        self.said = np.zeros((n, size), bool)
        self.running = np.tile(weights.running, (n, 1))
        self.pending = [""] * n  # the word being written, per request
        self.dirty = np.zeros(n, bool)
        for row, play in enumerate(plays):
            if play >= 0 and self.strength[row] > 0:
                self._add(row, weights.play_relation(play), PLAY_WEIGHT)
        for row, seed in enumerate(seeds):
            for char in seed + " ":
                self.feed(row, char, SEED_WEIGHT)

    def _add(self, row: int, relation: np.ndarray, weight: float) -> None:
        places = self.weights.place
        known = places >= 0
        self.relation[row, places[known]] += weight * relation[known]
        self.weight[row] += weight
        self.dirty[row] = True

    def feed(self, row: int, char: str, weight: float = SPEECH_WEIGHT) -> None:
        """One more character of a request's speech; a finished content word joins its subject."""
        if char.isalpha() or (char == "'" and self.pending[row]):
            self.pending[row] += char
            return
        word, self.pending[row] = self.pending[row].strip("'").lower(), ""
        if not word or self.strength[row] == 0:
            return
        word_id = self.weights.word_id.get(word)
        if word_id is None:
            return
        ids, pmi = self.weights.record.related(word_id)
        places = self.weights.place[ids]
        known = places >= 0
        np.add.at(self.relation[row], places[known], weight * pmi[known])
        self.weight[row] += weight
        if (place := self.weights.place[word_id]) >= 0:
            self.said[row, place] = True
        self.dirty[row] = True

    def _refresh(self) -> None:
        rows = np.flatnonzero(self.dirty)
        if not len(rows):
            return
        mean = self.relation[rows] / np.maximum(self.weight[rows], 1e-9)[:, None]
        factor = np.exp(self.strength[rows, None] * np.minimum(mean, MAX_RELATION))
        factor[self.said[rows]] = 1.0
        # Among content words only: their share of the words stays the model's, so the subject moves which nouns
        # and verbs come, not how many (the sentence's grammar stays the model's).
        content = self.weights.content
        share = (factor[:, content] @ self.weights.counts[content]) / self.weights.content_counts
        factor[:, content] /= share[:, None]
        self.running[rows, 1:] = np.cumsum(self.weights.counts * factor, axis=1)
        self.dirty[rows] = False

    def bias(self, requests: np.ndarray, states: Sequence[int]) -> np.ndarray:
        """(len(requests), vocabulary) log-factors for the next character of each request (row of this batch) in
        its word state."""
        self._refresh()
        w = self.weights
        out = np.zeros((len(requests), w.vocab_size))
        states = np.asarray(states)
        nodes = w.node_of[states]
        rows = np.flatnonzero(nodes >= 0)
        if not len(rows):
            return out
        req, node = requests[rows], nodes[rows]
        running = self.running[req]
        here = _log_mean(running, w.running, w.lo[node][:, None], w.hi[node][:, None])[:, 0]
        kids = w.children[node]
        has = kids >= 0
        safe = np.where(has, kids, 0)
        log_r = _log_mean(running, w.running, w.lo[safe], w.hi[safe]) - here[:, None]
        for case in (0, 1):
            ids = w.letter_ids[case]
            ok = has & (ids >= 0)[None, :]
            r, s = np.nonzero(ok)
            out[rows[r], ids[s]] = log_r[r, s]
        ending = w.ends[node] >= 0
        if ending.any():
            end = w.ends[node[ending]]
            step = running[ending, end + 1] - running[ending, end]
            log_end = np.log(step / w.counts[end]) - here[ending]
            inside = ~w.between[states[rows[ending]]]
            out[np.ix_(rows[ending][inside], w.end_ids)] = log_end[inside, None]
        return out


def _log_mean(running: np.ndarray, counts_running: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """log of the count-weighted mean factor of the words in [lo, hi), per row of `running`."""
    rows = np.arange(len(running))[:, None]
    weighted = running[rows, hi] - running[rows, lo]
    return np.log(np.maximum(weighted, 1e-300) / np.maximum(counts_running[hi] - counts_running[lo], 1e-300))
