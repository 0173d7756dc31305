"""The play-script format the models learn, read back: speaker lines, stage directions, headings, speeches.

    ACT I
    SCENE I. Elsinore. A platform before the castle.

    [Enter HORATIO and MARCELLUS]

    HORATIO:
    Friends to this ground.

A speaker line is a name and a colon alone on a line, right after a blank line (or at the start); a
stage direction stands on its own line in brackets; a heading names an act, a scene, a prologue or an
epilogue. Everything else is speech. The corpus writes this format, the lexicon and the speakers are
read from it, and the monologue rules and the evaluation recognise it with the same patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from model_store.lexicon import Lexicon
from model_store.speakers import Speakers

# "OTHELLO:", "First Citizen:", "LADY MACBETH:", "DROMIO OF SYRACUSE:".
SPEAKER_LINE = re.compile(r"[A-Z][A-Za-z' .&-]{0,40}:")
STAGE_DIRECTION = re.compile(r"\s*\[.*\]?\s*")
HEADING = re.compile(r"\s*(ACT|SCENE|Act|Scene|PROLOGUE|EPILOGUE|Prologue|Epilogue|INDUCTION|Induction)\b.*")


def is_speaker_line(line: str) -> bool:
    """A line in the form of a speaker line: one, where a block starts (after a blank line)."""
    return SPEAKER_LINE.fullmatch(line.strip()) is not None


def names_a_speaker(line: str, names: frozenset[str]) -> bool:
    """A speaker line wherever it stands: a name in capitals, or one of `names` (lower case), and a colon.

    A verse line that ends with a colon ("I am beloved of beauteous Hermia:") is not one.
    """
    name = line.strip()[:-1].strip()
    return is_speaker_line(line) and (name.isupper() or name.lower() in names)


def is_stage_direction(line: str) -> bool:
    """A line that is a stage direction of its own ("[Exit]"); "[Aside]" inside a line of speech is not."""
    return line.lstrip().startswith("[")


def is_heading(line: str) -> bool:
    """ACT I, SCENE II. A room., PROLOGUE: a line that opens a part of a play rather than speaking in it."""
    stripped = line.strip()
    if not HEADING.fullmatch(stripped):
        return False
    first, _, rest = stripped.partition(" ")
    # "Act as thou wilt" is speech; "ACT I", "Scene 2", "SCENE III. A street." and "PROLOGUE" are headings.
    return first.isupper() or rest == "" or re.match(r"[IVXLC]+\b|\d", rest) is not None


@dataclass(frozen=True)
class Speech:
    speaker: str
    lines: tuple[str, ...]  # the speech's lines, stage directions inside lines kept

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _speaker_blocks(script: str) -> Iterator[tuple[str, list[str]]]:
    """Every block of a play-script text (blank-line separated) that opens with a speaker line: its speaker and the
    lines after that one."""
    for block in re.split(r"\n[ \t]*\n", script):
        lines = [line.rstrip() for line in block.strip("\n").split("\n")]
        if is_speaker_line(lines[0]):
            yield lines[0].strip()[:-1].strip(), lines[1:]


def speeches(script: str) -> Iterator[Speech]:
    """Every speech of a play-script text, in order: its speaker and its lines (stage-direction lines left out)."""
    for speaker, rest in _speaker_blocks(script):
        body = tuple(line for line in rest if line.strip() and not is_stage_direction(line))
        if body:
            yield Speech(speaker, body)


def last_speaker(script: str) -> str | None:
    """The speaker of a play-script text's last speech, even one `speeches` leaves out ("HAMLET:\n[Exit]")."""
    blocks = list(_speaker_blocks(script))
    return blocks[-1][0] if blocks else None


def lexicon_and_speakers(script: str) -> tuple[Lexicon, Speakers]:
    """What a model trained on this play-script text needs to write monologues: its words and its speakers."""
    found = list(speeches(script))
    lexicon = Lexicon.from_lines(line for speech in found for line in speech.lines)
    return lexicon, Speakers.from_names(speech.speaker for speech in found)
