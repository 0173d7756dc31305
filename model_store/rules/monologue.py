"""One speech by one speaker: what a monologue may not do next, and where it ends. O(1) per character.

A monologue is fed after "<blank line>SPEAKER:<newline>" and the seed. It may not open a line with a
stage direction ("[Exit]"), turn a line into a speaker line ("OTHELLO:") or a heading ("ACT II"), or end
(a blank line) before min_chars or after a line that does not end a sentence; otherwise a blank line
ends it. From 80% of max_chars it ends at
the first sentence end; a text that reaches max_chars is cut back to its last sentence end when that
keeps half of max_chars, else to its last whole word. In verse (a `VerseMasks` given, model_store/rules/verse.py)
only a sentence that ends a line counts, and a cut falls at a line's end; from 90% a line that may end must end a
sentence (prose: the sentence it is in ends first). With the words' masks come what a reader notices
(model_store/rules/reader.py). With a rhyme plan (model_store/rules/rhyme.py) a verse speech ends on its form instead: a
closing couplet (the speech ends with the line that answers the rhyme, a sentence's end, from min_chars) or a sonnet's
fourteen lines; no blank line ends it before, and each line that must rhyme can be written again from its start
(`rewind`). The bans are flags into a small table of masks (`structure_masks`), so the engine applies
them to a whole batch at once, with the words' masks.
"""

from __future__ import annotations

import numpy as np

from model_store.rules.names import SpeakerNames
from model_store.rules.reader import BANNED_CHARS, ReaderWords, Reading
from model_store.rules.rhyme import RhymePlan, restore, saved
from model_store.rules.stop_rule import TextSoFar
from model_store.rules.verse import VerseLine, VerseMasks
from model_store.rules.words import FREE, START, WordMasks

# Bans, as bit flags: a stream's flags pick one row of the table structure_masks() builds.
NO_BRACKET = 1  # "[" opening a line: a stage direction of its own
NO_BLANK = 2  # "\n" on an empty line: the speech would end before min_chars
NO_COLON = 4  # ":" after a line that is only a speaker's name
NO_NUMERAL = 8  # a numeral after "Act " or "Scene " at a line's start
NO_HEADING_END = 16  # ending a line, or a sentence, that is only "Prologue", "Epilogue" or "Induction"
NO_OPEN_END = 32  # near the limit: a full verse line, or prose, ends a sentence (no "\n", "," ";" ":" before it does)
_BANNED_CHARS = {
    NO_BRACKET: "[",
    NO_BLANK: "\n",
    NO_COLON: ":",
    NO_NUMERAL: "IVXLC0123456789",
    NO_HEADING_END: "\n.:!",
    NO_OPEN_END: "\n,;:",
    **BANNED_CHARS,  # what a reader notices (model_store/rules/reader.py)
}
STRUCTURE_FLAGS = 2 * NO_OPEN_END - 1  # the speech's own bans, without the reader's
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' .&-")
_HEADING_WORDS = frozenset({"prologue", "epilogue", "induction"})
_NUMBERED_HEADINGS = frozenset({"act ", "scene "})
SOFT_LIMIT = 0.8  # of max_chars: from here the text ends at the first sentence end
CLOSING_SHARE = 0.9  # of max_chars: from here a verse line that may end must end a sentence; prose ends the next
KEEP_SHARE = 0.35  # of max_chars: a text cut at the limit goes back to its last sentence end if that keeps this


def structure_masks(chars: tuple[str, ...]) -> np.ndarray:
    """(2 ** flags, vocabulary size) booleans: row f bans what the flags f ban."""
    table = np.zeros((2 * max(_BANNED_CHARS), len(chars) + 1), bool)
    rows = np.arange(len(table))
    for flag, banned in _BANNED_CHARS.items():
        table[np.ix_(rows & flag != 0, [i for i, c in enumerate(chars, start=1) if c in banned])] = True
    return table


class MonologueRule(TextSoFar):
    """Tracks one stream's speech, and says what it may not write next (`bans`, `word_state`) and when it ends."""

    def __init__(
        self,
        speech: str,
        *,
        max_chars: int,
        min_chars: int,
        speaker_names: frozenset[str],
        words: WordMasks | None,
        verse: VerseMasks | None = None,
        names: SpeakerNames | None = None,
        rhyme: RhymePlan | None = None,
    ) -> None:
        self.max_chars, self.min_chars = max_chars, min_chars
        self.rhyme = rhyme if verse is not None and words is not None else None  # None: the speech need not rhyme
        self.marked = False  # a line that must rhyme was just begun: the engine keeps its start to go back to
        self.names = names  # the speaker's names, as bans by word state; None: any name
        self.soft_limit = max(min_chars, int(max_chars * SOFT_LIMIT))
        self.speaker_names = speaker_names  # lower case
        self.words = words
        self.word_state = FREE
        self.verse: VerseLine | None = None  # in verse, the place in the line; None: prose
        self.reading: Reading | None = None  # what a reader notices (with the words' masks only)
        if words is not None:
            self.reading = Reading(ReaderWords.of(words), verse=verse is not None)
            self.verse = VerseLine(verse) if verse is not None else None
            state = START
            if self.rhyme is not None:
                self.rhyme.begin(self.verse, 0, state)
            for char in speech:
                before, state = state, words.advance(state, char)
                if self.verse is not None:
                    self.verse.feed(char, before, state)
                    if char == "\n" and self.rhyme is not None:
                        self.rhyme.end(self.verse.last_word)
                        self.rhyme.begin(self.verse, 0, state)
                self.reading.feed(char, before, state)
            self.word_state = self.reading.seed_done(speech, state)
        super().__init__()
        line = speech.rsplit("\n", 1)[-1]
        self._blank_line = not line.strip()  # the current line holds nothing yet (spaces at most)
        self._line: str | None = line if self._may_be_a_name(line) else None  # while it could be a name
        self._seed_ends_sentence = speech.rstrip().rstrip("'\")]").endswith((".", "!", "?"))
        self._word_end = 0  # the end of the last whole word: a cut here is never mid-word
        self._line_end = 0  # the end of the last whole line written (verse is cut there)
        self._sentence_end = 0  # the end of the last sentence, closers included
        self.bans = self._bans() | (self.reading.flags if self.reading is not None else 0)
        if self.rhyme is not None:
            self._mark()

    def _mark(self) -> None:
        """Keep where the line now begun starts (after the seed: where the text does), to go back to."""
        self.marked = True
        self.verse.at_start = True  # a dead end right here is not written again: it would meet it again
        self._saved = (saved(self, ("_saved",)), saved(self.verse), saved(self.reading), saved(self.rhyme))

    def rewind(self) -> None:
        """Go back to the start of the line being written (the engine puts its network back there too); the
        counts of fallbacks and rewrites go on."""
        verse, rhyme = self.verse, self.rhyme
        assert verse is not None and rhyme is not None and self.reading is not None
        fallbacks, rewrites, line_rewrites = verse.fallbacks, rhyme.rewrites, rhyme.line_rewrites
        for obj, fields in zip((self, verse, self.reading, rhyme), self._saved, strict=True):
            restore(obj, fields)
        verse.fallbacks, rhyme.rewrites, rhyme.line_rewrites = fallbacks, rewrites + 1, line_rewrites + 1
        verse.rewritable = rhyme.rewritable
        self.marked = False

    @property
    def stuck(self) -> bool:
        """A line that must rhyme met a dead end: the engine goes back to its start (`rewind`)."""
        return self.verse is not None and self.verse.stuck

    @property
    def ban_ids(self) -> tuple[int, ...]:
        """Vocabulary ids banned next besides the flags' (a doubled word's last letter); usually none."""
        return self.reading.ban_ids if self.reading is not None else ()

    def safe_length(self) -> int:
        """How many leading characters are certain to be kept (for streaming)."""
        if self._final is not None:
            return self._final
        return max(self._sentence_end, min(self._cut_point(), int(self.max_chars * KEEP_SHARE)))

    def _cut_point(self) -> int:
        """Where a text cut at max_chars ends when it cannot end a sentence: a word's end, or in verse a line's."""
        return self._line_end if self.verse is not None and self._line_end else self._word_end

    def feed(self, char: str) -> bool:
        """Add one generated character; True when the speech is complete."""
        chars = self.chars
        chars.append(char)
        n = len(chars)
        self.marked = False
        if self.words is not None:
            before = self.word_state
            self.word_state = self.words.advance(before, char)
            if self.verse is not None:
                self.verse.feed(char, before, self.word_state)
            self.reading.feed(char, before, self.word_state)
        if char.isspace():
            if n >= 2 and not chars[n - 2].isspace():
                self._word_end = n - 1
                # In verse a speech ends with a line, so only a sentence that ends a line ends it.
                if self._ends_sentence(n - 1) and (self.verse is None or char == "\n") and not self._quote_open():
                    self._sentence_end = n - 1
                    if n > self.soft_limit and self.rhyme is None:
                        return self._stop(n - 1, "sentence end")
            if char == "\n":
                if self._blank_line:  # a blank line: the speech is over
                    return self._stop(n - 1, "speech end")
                self._line_end = n - 1
                self._blank_line, self._line = True, ""
                if self.rhyme is not None and self._next_line(n):
                    return self._stop(n - 1, "sentence end")
        else:
            self._blank_line = False
        if self._line is not None and char != "\n":
            self._line += char
            if char not in _NAME_CHARS or len(self._line) > 40 or not self._line[0].isupper():
                self._line = None
        if n >= self.max_chars:
            if self._ends_sentence(n) and self.verse is None:
                return self._stop(n, "length")
            enough = self.max_chars * KEEP_SHARE
            return self._stop(self._sentence_end if self._sentence_end >= enough else self._cut_point(), "length")
        closing = self._closing(n)
        self.bans = self._bans(closing) if self._blank_line or self._line or closing else 0
        if self.reading is not None:
            self.reading.bans(self.word_state)
            self.bans |= self.reading.flags
        if self.marked:
            self._mark()
        return False

    def _next_line(self, n: int) -> bool:
        """A line of a speech that rhymes has ended: True when its form is complete, else the next line's role."""
        assert self.rhyme is not None and self.verse is not None
        self.rhyme.end(self.verse.last_word)
        if self.rhyme.done(n - 1, self._sentence_end == n - 1):
            return True
        self.rhyme.begin(self.verse, n, self.word_state)
        self.marked = True
        return False

    def _closing(self, n: int) -> bool:
        """Near the limit the reply ends with a sentence: in verse a line that may end now must end one; prose ends
        the sentence it is in (no line end or clause before it does). A speech that rhymes ends its form's last line
        with one."""
        if self.rhyme is not None:
            closing = self.rhyme.closing(n) and not self._ends_sentence(n)
            return closing and self.verse is not None and self.verse.may_end_line(self.word_state)
        if n <= self.max_chars * CLOSING_SHARE or self._ends_sentence(n):
            return False
        return self.verse is None or self.verse.may_end_line(self.word_state)

    def _bans(self, closing: bool = False) -> int:
        n = len(self.chars)
        if self._blank_line:
            # A speech ends at a sentence's end, after min_chars: before, its blank line is banned.
            ended = self._sentence_end == n - 1 or (n == 0 and self._seed_ends_sentence and not self._quote_open())
            return NO_BRACKET | (NO_BLANK if n < self.min_chars or not ended or self.rhyme is not None else 0)
        line = self._line
        if not line:
            return NO_OPEN_END if closing else 0
        lowered = line.lower()
        flags = 0
        if lowered in self.speaker_names or (len(line) > 1 and line.isupper()):
            flags |= NO_COLON
        if lowered in _NUMBERED_HEADINGS:
            flags |= NO_NUMERAL
        if lowered in _HEADING_WORDS:
            flags |= NO_HEADING_END
        return flags | (NO_OPEN_END if closing else 0)

    def _quote_open(self) -> bool:
        """A double quote the seed opened is still open: no sentence ends the speech until it closes."""
        return self.reading is not None and self.reading.quote_open

    @staticmethod
    def _may_be_a_name(line: str) -> bool:
        return line == "" or (line[0].isupper() and len(line) <= 40 and all(c in _NAME_CHARS for c in line))
