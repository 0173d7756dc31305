"""Rhyme: lines of verse that end on words chosen to rhyme, as masks on the verse's masks (model_store/rules/verse.py).

A line has a role: free (the verse's masks alone), opening a rhyme (its last word must be one that other words
rhyme with, MIN_PARTNERS of them at least, that can end a line), or answering one (its last word must rhyme with
an earlier line's: a different word sharing a rhyme part, model_store/rhymes.py). The verse knows where a word
ends the line (at syllable 10 or 11), so a line's role is a mask on the word trie: a letter is allowed only if it
leads to a word that ends before the line's last position from which a target word still fits (`limit`), or to
a target word that fits from where it starts to the line's end. That counts on a monosyllable to fill any
position before the limit, as the plays' lexicon has; where no word fits, the line is at a dead end (below). A
line's masks are made once per set of targets (`RhymeMasks.line`), their rows on first use, as the verse's are.

The forms: a closing couplet (`Couplet`: near the end of a verse monologue a line opens a rhyme and the next one
answers it and ends the speech) and the Shakespearean sonnet (`Sonnet`: 14 lines rhymed ABAB CDCD EFEF GG).
Only words the CMU dictionary knows are chosen to rhyme (never a spelling estimate), and no word that cannot end
a sentence ("the", "my": model_store/rules/reader.py). When the other rules leave nothing in a line that must
rhyme (a dead end), the line is written again from its start (`RhymePlan.rewritable`, up to MAX_REWRITES times)
before the metre is let go for a word (a fallback, counted).
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from typing import Any

import numpy as np

from model_store.metre import LINE_ENDS, LONGEST, fits
from model_store.rhymes import Rhymes
from model_store.rules.reader import NON_ENDERS
from model_store.rules.verse import VerseLine, VerseMasks
from model_store.rules.words import FREE, SPECIAL

MIN_PARTNERS = 3  # a line that opens a rhyme ends on a word with at least this many rhymes that can end a line
MAX_REWRITES = 24  # a line that must rhyme is written again from its start at most this many times
SONNET = "ABABCDCDEFEFGG"  # the Shakespearean sonnet's rhyme scheme, a letter per line
SONNET_CHARS = 1400  # a sonnet's length limit (14 lines of about 45 characters; a cut shows as fewer lines)
COUPLET_LINE = 55  # characters: a long line of verse; the couplet opens when three such would pass max_chars
AVERAGE_LINE = 42  # characters: a line of verse on average, until a speech's own lines say otherwise
LONG_LINE = 1.3  # a long line, against the speech's average (a model whose lines are longer opens its couplet sooner)
LINES_KEPT = 256  # line masks (one per set of targets, with their rows) kept; the oldest go first
_BITS = 12  # per case in a `below` (as verse.py)
OPEN = -1  # a line's role: its last word opens a rhyme (any other role >= 0: the line it answers; None: free)


class RhymeMasks:
    """A model's rhymes compiled onto its verse masks: which words can end a line and rhyme, and per set of target
    words the masks of a line that must end on one."""

    def __init__(self, verse: VerseMasks, rhymes: Rhymes) -> None:
        self.verse, self.rhymes, self.words = verse, rhymes, verse.words
        words = verse.words
        children = np.frombuffer(words.child, np.int32).reshape(words.nodes, -1)
        self.parent = np.zeros(words.nodes, np.int32)
        nodes, _ = np.nonzero(children >= 0)
        self.parent[children[children >= 0]] = nodes
        depth = np.frombuffer(words.depth, np.uint16)
        self._levels = [np.flatnonzero(depth == d) for d in range(int(depth.max()), 0, -1)]  # deepest first
        self.node_of: dict[str, int] = {}
        self.end_fit: dict[int, int] = {}  # by end node: positions from which the word fits to the line's end
        self.by_part: dict[str, set[int]] = {}  # rhyme part -> end nodes of words that may end a line on it
        self.parts_of: dict[int, list[str]] = {}
        for word in rhymes.parts:
            node = words.node_of(word)
            if node <= 0 or node not in verse.readings:
                continue
            self.node_of[word] = node
            fit = _line_end_fit(verse.readings[node])
            if fit and word not in NON_ENDERS and not rhymes.estimated(word):
                self.end_fit[node] = fit
                self.parts_of[node] = rhymes.of(word)
                for part in self.parts_of[node]:
                    self.by_part.setdefault(part, set()).add(node)
        self.opening = frozenset(n for n in self.end_fit if self._partners(n) >= MIN_PARTNERS)
        self._limits: dict[int, array[int]] = {}
        self._lines: OrderedDict[frozenset[int], LineEndMasks] = OrderedDict()
        self._lock = threading.Lock()  # the engine serves several threads

    def _partners(self, node: int) -> int:
        """How many other words rhyme with the word ending at `node` and can end a line."""
        parts = self.parts_of[node]
        if len(parts) == 1:
            return len(self.by_part[parts[0]]) - 1
        return len(set().union(*(self.by_part[part] for part in parts)) - {node})

    def answers(self, word: str) -> frozenset[int]:
        """The end nodes of the words that rhyme with `word` and can end a line (the dictionary's parts: none for
        a word it lacks)."""
        word = word.lower()
        if self.rhymes.estimated(word):
            return frozenset()
        found: set[int] = set()
        for part in self.rhymes.of(word):
            found |= self.by_part.get(part, set())
        return frozenset(found - {self.node_of.get(word, -1)})

    def line(self, targets: frozenset[int]) -> LineEndMasks:
        """The masks of a line that must end on one of `targets` (end nodes), made on first use and kept."""
        with self._lock:
            masks = self._lines.pop(targets, None)
            if masks is None:
                masks = self._line(targets)
            self._lines[targets] = masks  # the most recent last
            while len(self._lines) > LINES_KEPT:
                del self._lines[next(iter(self._lines))]
            return masks

    def _line(self, targets: frozenset[int]) -> LineEndMasks:
        words = self.words
        limit = max(max(p for p in range(LONGEST) if self.end_fit[t] >> p & 1) for t in targets)
        extra: dict[int, int] = {}
        for target in targets:
            spread = _spread(self.end_fit[target], words.ends[target])
            node = target
            while node > 0:
                extra[node] = extra.get(node, 0) | spread
                node = int(self.parent[node])
            extra[0] = extra.get(0, 0) | spread
        return LineEndMasks(self.verse, self._ending_by(limit), extra, targets, limit)

    def _ending_by(self, limit: int) -> array[int]:
        """By node: per case, the positions from which some word below it fits and ends by position `limit`."""
        below = self._limits.get(limit)
        if below is None:
            words, cache = self.words, {}
            values = np.zeros(words.nodes, np.int64)
            for node, readings in self.verse.readings.items():
                if readings not in cache:
                    cache[readings] = sum(
                        1 << p for p in range(LONGEST) if any(fits(r, p) and p + len(r) <= limit for r in readings)
                    )
                values[node] = _spread(cache[readings], words.ends[node])
            for level in self._levels:
                np.bitwise_or.at(values, self.parent[level], values[level])
            below = self._limits[limit] = array("q", values.tobytes())  # 8 bytes a node, not a Python int
        return below


class LineEndMasks(VerseMasks):
    """The verse masks of a line that must end on one of some target words: the shared masks' data, with `below`
    counting only words that end by `limit` or targets that end the line, and a word's ends so filtered."""

    def __init__(
        self, shared: VerseMasks, base: array[int], extra: dict[int, int], targets: frozenset[int], limit: int
    ) -> None:
        self.__dict__.update(vars(shared))  # not VerseMasks.__init__: all but `below`, `open` and the rows are shared
        self.shared, self.targets = shared, targets
        self.below = _Below(base, extra)
        self.open = (1 << (limit + 1)) - 1  # a word may end (another begin) at these positions
        self._rows, self._distinct = {}, {}

    def word_ends(self, node: int, starts: int) -> int:
        ends = self.shared.word_ends(node, starts)
        return (ends & self.open) | (ends & LINE_ENDS if node in self.targets else 0)

    def _build(self, state: int, starts: int, flags: int) -> np.ndarray:
        row = super()._build(state, starts, flags)
        if state < SPECIAL and state != FREE and not starts & LINE_ENDS and not self._begins(starts):
            # Between words where no word fits: the limit counts on a monosyllable to fill any position before it,
            # and a lexicon without one can come here. Nothing completes the line: it is written again.
            row = np.ones_like(row)
        return row

    def _begins(self, starts: int) -> bool:
        """Whether some word of the line's fits from one of the positions `starts`, in any case."""
        below = self.below[0]
        return any(below >> (_BITS * case) & starts for case in range(4))


class _Below:
    """A list of values by node, some ORed with more."""

    def __init__(self, base: array[int], extra: dict[int, int]) -> None:
        self.base, self.extra = base, extra

    def __getitem__(self, node: int) -> int:
        return self.base[node] | self.extra.get(node, 0)


class Couplet:
    """A verse monologue closes on a couplet: near max_chars a line opens a rhyme and the next answers it; the speech
    ends with the answer once it reaches min_chars (else another couplet follows)."""

    def __init__(self, max_chars: int, min_chars: int) -> None:
        self.max_chars, self.min_chars = max_chars, min_chars

    def role(self, roles: tuple[int | None, ...], written: int, average: float) -> int | None:
        if roles and roles[-1] == OPEN:
            return len(roles) - 1
        # The couplet opens three long lines before max_chars, but late enough to close past min_chars (two lines
        # on average), never later than two long lines before max_chars.
        line = max(COUPLET_LINE, LONG_LINE * average)
        late = min(self.min_chars - 2 * average, self.max_chars - 2 * line)
        return OPEN if written >= max(self.max_chars - 3 * line, late) else None

    def done(self, roles: tuple[int | None, ...], written: int, sentence: bool) -> bool:
        return bool(roles) and roles[-1] is not None and roles[-1] >= 0 and sentence and written >= self.min_chars

    def closing(self, roles: tuple[int | None, ...], written: int) -> bool:
        return bool(roles) and roles[-1] is not None and roles[-1] >= 0 and written >= self.min_chars


class Sonnet:
    """Fourteen lines rhymed ABAB CDCD EFEF GG; the last ends a sentence."""

    def role(self, roles: tuple[int | None, ...], written: int, average: float) -> int | None:
        line = len(roles)
        if line >= len(SONNET):
            return None
        first = SONNET.index(SONNET[line])
        return OPEN if first == line else first

    def done(self, roles: tuple[int | None, ...], written: int, sentence: bool) -> bool:
        return len(roles) >= len(SONNET)

    def closing(self, roles: tuple[int | None, ...], written: int) -> bool:
        return len(roles) >= len(SONNET)


class RhymePlan:
    """One stream's rhymes: each line's role and last word, and the rewrites made."""

    def __init__(self, masks: RhymeMasks, form: Couplet | Sonnet) -> None:
        self.masks, self.form = masks, form
        self.roles: tuple[int | None, ...] = ()  # each line begun: None free, OPEN, or the line it answers
        self.ends: tuple[str, ...] = ()  # each line ended: its last word
        self.rewrites = 0  # lines written again, in all
        self.line_rewrites = 0  # this line's rewrites

    def begin(self, verse: VerseLine, written: int, state: int) -> None:
        """A new line begins (`written` characters so far, word state `state`): its role and masks."""
        average = written / len(self.ends) if self.ends and written else AVERAGE_LINE  # characters per line so far
        role = self.form.role(self.roles, written, average)
        self.roles += (role,)
        self.line_rewrites = 0
        verse.rewritable = role is not None
        targets = None
        if role is not None:
            targets = self.masks.opening if role == OPEN else self.masks.answers(self.ends[role])
        verse.use(self.masks.line(targets) if targets else verse.default, state)

    def end(self, word: str) -> None:
        """The line ends on `word`."""
        self.ends += (word.lower(),)

    @property
    def must_rhyme(self) -> bool:
        """The line now written has a rhyme to make."""
        return bool(self.roles) and self.roles[-1] is not None

    @property
    def rewritable(self) -> bool:
        """This line may be written again from its start."""
        return self.must_rhyme and self.line_rewrites < MAX_REWRITES

    def done(self, written: int, sentence: bool) -> bool:
        return self.form.done(self.roles, written, sentence)

    def closing(self, written: int) -> bool:
        """The line now written is the form's last: it ends a sentence."""
        return self.form.closing(self.roles, written)


def saved(obj: Any, leave: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object's fields, its lists copied (a line start to go back to), but those named in `leave`."""
    return {k: (v.copy() if isinstance(v, list) else v) for k, v in vars(obj).items() if k not in leave}


def restore(obj: Any, fields: dict[str, Any]) -> None:
    """Set an object's fields back to those `saved` returned (copied again: they may be restored again)."""
    obj.__dict__.update({k: (v.copy() if isinstance(v, list) else v) for k, v in fields.items()})


def _line_end_fit(readings: tuple[str, ...]) -> int:
    """The positions from which a word read so fits and ends the line (at 10 or 11)."""
    return sum(1 << p for p in range(LONGEST) if any(fits(r, p) and (1 << (p + len(r))) & LINE_ENDS for r in readings))


def _spread(positions: int, cases: int) -> int:
    """Positions (bits) repeated for each case set in `cases` (as verse.py's `below` has them)."""
    return sum(positions << (_BITS * case) for case in range(4) if cases >> case & 1)
