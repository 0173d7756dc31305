"""Where free text ends: at the end of a speech, or near the length limit at a sentence or word
boundary, never mid-word. Fed one character at a time, in O(1) per character. (Monologues have
rules of their own: model_store/rules/monologue.py.)"""

from __future__ import annotations

from typing import Literal

from model_store.playscript import SPEAKER_LINE
from model_store.rules.words import FREE

_SPEAKER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz' .&-:")
_SENTENCE_END = frozenset(".!?")
_CLOSERS = frozenset("'\")]")


StopReason = Literal["speech end", "sentence end", "length"]


class TextSoFar:
    """One stream's generated characters and, once it has stopped, where its text ends and why."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.reason: StopReason | None = None
        self._final: int | None = None

    @property
    def text(self) -> str:
        """The final text once stopped; before that, everything generated so far."""
        return "".join(self.chars[: self._final] if self._final is not None else self.chars)

    def _stop(self, at: int, reason: StopReason) -> bool:
        """End the text at `at` (trailing spaces dropped); True, for feed() to return."""
        while at > 0 and self.chars[at - 1].isspace():
            at -= 1
        self._final, self.reason = at, reason
        return True

    def _ends_sentence(self, end: int) -> bool:
        """Whether the text up to `end` ends a sentence (closing quotes and brackets aside)."""
        i = end - 1
        while i >= 0 and self.chars[i] in _CLOSERS:
            i -= 1
        return i >= 0 and self.chars[i] in _SENTENCE_END


class StopRule(TextSoFar):
    """Tracks one stream's generated text and decides when, and where, it ends."""

    # Free text bans nothing: in a batch with monologues, its rows take the masks' "anything goes" row.
    word_state = FREE
    bans = 0
    ban_ids = ()
    verse = None
    names = None
    rhyme = None
    marked = stuck = False  # free text has no lines to write again

    def __init__(self, context: str, *, max_chars: int, min_chars: int) -> None:
        self.max_chars = max_chars
        self.min_chars = min_chars
        self.soft_limit = max(min_chars, int(max_chars * 0.8))  # from here, end at a sentence
        super().__init__()
        # Whether some speech (not a speaker line) has been seen, counting the seed's last speech.
        last_speech = context.rsplit("\n\n", 1)[-1]
        self._has_speech = any(
            line.strip() and not SPEAKER_LINE.fullmatch(line.strip()) for line in last_speech.split("\n")[:-1]
        )
        tail_line = context.rsplit("\n", 1)[-1]
        self._line_prefix = tail_line  # the part of the current line that came from the context
        self._line_start = -len(tail_line)  # index in self.chars where the current line starts
        self._line_maybe_speaker = all(c in _SPEAKER_CHARS for c in tail_line) and (
            tail_line == "" or tail_line[0].isupper()
        )
        # A speaker line starts a block (after a blank line) or names its speaker in capitals: a verse line that
        # ends in a colon ("I am beloved of beauteous Hermia:") is speech.
        before = context[: len(context) - len(tail_line)]
        self._line_starts_block = before == "" or before.endswith("\n\n")
        self._word_end = 0  # end of the last complete word: a cut here is never mid-word
        self._newlines = 1 if context.endswith("\n") else 0

    def safe_length(self) -> int:
        """How many leading characters are certain to be kept (for streaming)."""
        if self._final is not None:
            return self._final
        safe = self._word_end
        if self._line_maybe_speaker:
            safe = min(safe, self._line_start)
        return max(0, safe)

    def feed(self, char: str) -> bool:
        """Add one generated character; True when the text is complete."""
        chars = self.chars
        chars.append(char)
        n = len(chars)
        if char == "\n":
            line = (self._line_prefix + "".join(chars[max(self._line_start, 0) : n - 1])).strip()
            if (
                self._line_maybe_speaker
                and SPEAKER_LINE.fullmatch(line)
                and (self._line_starts_block or line[:-1].isupper())
            ):
                if self._has_speech and self._line_start >= self.min_chars:
                    return self._stop(self._line_start, "speech end")
            elif line:
                self._has_speech = True
            self._newlines += 1
            if self._newlines >= 2 and self._has_speech and n >= self.min_chars:
                return self._stop(n, "speech end")
            self._line_start, self._line_maybe_speaker, self._line_prefix = n, True, ""
            self._line_starts_block = self._newlines >= 2
        else:
            if not char.isspace():
                self._newlines = 0
            if self._line_maybe_speaker and (
                char not in _SPEAKER_CHARS or (n - 1 == self._line_start and not char.isupper())
            ):
                self._line_maybe_speaker = False
        if char.isspace():
            prev = chars[n - 2] if n >= 2 else ""
            if not prev.isspace():
                self._word_end = n - 1
                if n > self.soft_limit and self._ends_sentence(n - 1):
                    return self._stop(n - 1, "sentence end")
        if n >= self.max_chars:
            return self._stop(self._word_end, "length")
        return False
