"""A speech names its subject: where a noun is due, one of its subject's words instead of the model's.

The subject adapter (model_store/subject.py) tells the network what a speech is about, but the network, free to
choose, names it rarely. So where a noun is due (after "the", "my", "thy", "a", ...; a name after "of", "in",
"from"), with a chance set by the topic strength (every time from 0.5), the speech writes one of its subject's
words it has not said yet: one the plays write there (a noun; a name), that fits the metre from here, and whose
first letter the rules allow and the model gives at least MIN_FIRST_LETTER of its odds; drawn by the model's odds
of its first letter times how common the word is (a common word reads more easily). Its letters are then the only
ones allowed, one by one, while the rules allow them; if they stop doing so (a line that must rhyme), the model
finishes the word as it will. The network reads every letter, so what follows goes on from the word.
"""

from __future__ import annotations

import math

import numpy as np

from model_store.lexicon import Lexicon, WordRules, words
from model_store.metre import LINE_ENDS
from model_store.rules.monologue import MonologueRule
from model_store.rules.words import BETWEEN, START, WordMasks
from model_store.topics import DETERMINERS, TopicRecord

ARTICLES = frozenset({"a", "an"})
NAME_SLOTS = frozenset(["of", "in", "from", "with", "against"])
NOUN_SHARE = 0.3  # a word the plays write after a determiner at least this often is a noun (or its adjective)
_SLOT_CHARS = 12  # enough to hold the word before a space
MIN_FIRST_LETTER = 0.01  # the least of the model's odds a placed word's first letter may have (measured: 0 to 0.05)
RATE = 2.0  # per unit of topic strength: the chance that a noun's place gets a subject word (1 at most)
_SILENT_H = ("hour", "honest", "honour", "honor", "heir")
_CONSONANT_VOWELS = ("one", "once", "uni", "use", "usu", "eu", "ewe")
NAMED_RELATED = 32  # the words that go with the seed's that a speech may name


class Spelling:
    """How a model writes its subject words: by word, (text, vocabulary ids, trie node); fixed for a model."""

    def __init__(self, words: WordMasks, lexicon: Lexicon, chars: tuple[str, ...], record: TopicRecord) -> None:
        self.words, self.lexicon, self.record = words, lexicon, record
        self.id_of = {c: i for i, c in enumerate(chars, start=1)}
        # The letters that would go on from a whole word into another (all but a plural's or possessive's).
        self.extending = np.zeros(len(chars) + 1, bool)
        self.extending[[i for c, i in self.id_of.items() if c.isalpha() and c not in "sS"]] = True
        self._cache: dict[str, tuple[str, np.ndarray, int, bool, float] | None] = {}

    def of(self, word: str) -> tuple[str, np.ndarray, int, bool, float] | None:
        """(as written, its ids, its trie node, whether it is a name, the log of its count in the plays), or None when
        it cannot be placed."""
        if word in self._cache:
            return self._cache[word]
        entry = self.lexicon.counts.get(word)
        node = self.words.node_of(word)
        placed = None
        if entry is not None and entry[0] >= self.lexicon.min_count and node >= 0:
            rules = WordRules.of(entry, self.lexicon.min_count)
            name = rules.title_anywhere and not rules.lower
            text = word.capitalize() if name else word
            ids = [self.id_of.get(c, -1) for c in text]
            noun = self._noun_share(word) >= NOUN_SHARE
            if -1 not in ids and (name or noun):
                placed = (text, np.array(ids), node, not noun, math.log(entry[0]))  # a name, or a noun
        self._cache[word] = placed
        return placed

    def _noun_share(self, word: str) -> float:
        """How often the plays write a word right after a determiner (0 for a record made before that was counted:
        it places names only)."""
        record, i = self.record, self.record.word_index.get(word)
        if i is None or record.noun_uses is None:
            return 0.0
        return float(record.noun_uses[i] / max(record.counts[i], 1))


class Naming:
    """One speech's placing of its subject's words (the engine asks it at every step, `steer`)."""

    def __init__(self, spelling: Spelling, subject: tuple[str, ...], strength: float, seed: str = "") -> None:
        self.spelling, self.rate = spelling, min(RATE * strength, 1.0)
        self.subject = [w for w in subject if spelling.of(w) is not None]
        self.seed = _Said(seed)  # said already: never placed again
        self.said = self.seed.copy()  # ...and what the speech has said, read up to `read`
        self.read = 0
        self.seed_tail = seed[-_SLOT_CHARS:]  # where the speech starts: after "Give me the", a noun is due
        self.word: tuple[str, np.ndarray] | None = None  # being written: (text, ids)
        self.start = 0  # where in the speech it began
        self.placed: list[str] = []

    def steer(self, rule: MonologueRule, banned: np.ndarray, logits: np.ndarray, rng: np.random.Generator) -> None:
        """Narrow one row's bans (`banned`, in place) to a subject word's next letter, where one is due."""
        n = len(rule.chars)
        if self.word is not None:
            self._go_on(rule, banned, n)
            return
        if not self.subject or rule.word_state not in (BETWEEN, START):
            return
        if not (rule.chars[-1] if rule.chars else self.seed_tail[-1:]).isspace():
            return
        before = (self.seed_tail + "".join(rule.chars[-_SLOT_CHARS:]))[-_SLOT_CHARS:].rsplit(maxsplit=1)
        slot = before[-1].lower() if before else ""
        names = slot in NAME_SLOTS
        article = slot in ARTICLES
        if not (names or article or slot in DETERMINERS) or rng.random() >= self.rate:
            return
        said = self._said(rule.chars)
        allowed = logits[~banned]
        top = allowed.max()
        # A first letter the model gives less than MIN_FIRST_LETTER of its odds here would read as forced: none such.
        least = top + math.log(MIN_FIRST_LETTER * np.exp(allowed - top).sum())
        choices, odds = [], []
        verse = rule.verse if rule.verse is not None and rule.verse.bans is not None else None
        for word in self.subject:
            text, ids, node, name, log_count = self.spelling.of(word)
            if name != names or banned[ids[0]] or logits[ids[0]] < least or said.has(word):
                continue
            if article and (name or word.endswith("s") or _vowel_sound(word) != (slot == "an")):
                continue  # "a" before a consonant, "an" before a vowel, neither before a plural
            if verse is not None and not verse.masks.word_ends(node, verse.starts) & (verse.masks.open | LINE_ENDS):
                continue
            choices.append((text, ids))
            odds.append(logits[ids[0]] + log_count)
        if not choices:
            return
        weights = np.exp(np.array(odds, np.float64) - max(odds))
        text, ids = choices[int(np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(), side="right"))]
        self.word, self.start = (text, ids), n
        banned[:] = True
        banned[ids[0]] = False

    def _said(self, chars: list[str]) -> _Said:
        """What the seed and the speech have said so far (read on from where it was last read: a speech only grows,
        but for a line that must rhyme written again from its start, when it is read afresh)."""
        if len(chars) < self.read:
            self.said, self.read = self.seed.copy(), 0
        self.said.add("".join(chars[self.read :]))
        self.read = len(chars)
        return self.said

    def _go_on(self, rule: MonologueRule, banned: np.ndarray, n: int) -> None:
        """The word being placed: its next letter, while the rules allow it; once whole, no letter that would make
        it another word ("ear" is not to become "earl"; "ears" and "ear's" may be)."""
        text, ids = self.word
        at = n - self.start
        if not (0 < at <= len(text) and "".join(rule.chars[self.start : n]) == text[:at]):
            self.word = None  # the line was written again from its start (rhyme), or the word was left
            return
        if at < len(text):
            if not banned[ids[at]]:
                banned[:] = True
                banned[ids[at]] = False
            else:
                self.word = None  # the rules forbid its next letter: the model finishes the word as it will
            return
        self.placed.append(text)
        self.word = None
        ended = banned | self.spelling.extending
        if not ended[1:].all():
            banned[:] = ended


class _Said:
    """The words a text has said, and every start of them, for `has`."""

    def __init__(self, text: str = "") -> None:
        self.words: set[str] = set()
        self.starts: set[str] = set()
        self.add(text)

    def add(self, text: str) -> None:
        for word in (w.lower() for w in words(text)):
            self.words.add(word)
            self.starts.update(word[:k] for k in range(1, len(word) + 1))

    def copy(self) -> _Said:
        said = _Said()
        said.words, said.starts = set(self.words), set(self.starts)
        return said

    def has(self, word: str) -> bool:
        """Whether this word was said, or one it is the start of, or its own start of 4 letters or more ("ear" after
        "ears", "ears" after "ear")."""
        return word in self.starts or any(word[:k] in self.words for k in range(4, len(word)))


def _vowel_sound(word: str) -> bool:
    """Whether a word begins with a vowel's sound, as "an" wants ("an hour", "a one")."""
    return word.startswith(_SILENT_H) or (word[0] in "aeiou" and not word.startswith(_CONSONANT_VOWELS))
