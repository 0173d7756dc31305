"""Project Gutenberg plain text -> play-script text.

1. Cut the licence: the header ends at "*** START OF THE PROJECT GUTENBERG ..." (modern) or at
   "*END*THE SMALL PRINT!..." (the older "Small Print!" files); the footer starts at "*** END OF ..." or
   "End of (the) Project Gutenberg ...".
2. Cut footnotes: "[Footnote 12: ...]" blocks, a "FOOTNOTES:" or "NOTES" section, markers such as [17], <17>, {17}.
3. Find the play: it starts at the first run of speeches (four within forty lines, two speakers or more, each
   speaking twice in the play), taken back over the headings, directions and speeches just before it (ACT I,
   a prologue), and ends after its last speech. What lies outside (introduction, cast list, notes, glossary)
   is front and back matter.
4. Read the speeches. A speaker is a name in capitals at a block's start followed by "." or ":" and the speech
   ("FACE. Get you" or "SIR EPI: Sir"), possibly with a direction ("FACE [ALOUD]. God be wi' you"), or a name
   alone on the first line of a block that goes on (capitals, or a short mixed-case name ending in "." such as
   "Ber." that starts at least three blocks). "Swear." alone, the line after a speaker, is speech.
   Stage directions are lines in brackets or _italics_, lines that start with Enter/Exit/Exeunt..., and blocks
   without a speaker indented deeper than the speeches.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from model_store.playscript import is_heading
from model_store.typography import plain_typography
from training.importers.cast import SpeakerNames, name_speakers

START = re.compile(r"^\*{3} ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
END = re.compile(r"^\*{3} ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
SMALL_PRINT_END = re.compile(r"^\*END\*? ?THE SMALL PRINT.*$", re.M | re.I)
END_LINE = re.compile(r"^\s*End of (the |this )?Project Gutenberg.*$", re.M | re.I)

FOOTNOTE_BLOCK = re.compile(r"^\s*\[(Footnote|Note)\b.*?\]\s*$", re.M | re.S | re.I)
NOTES_SECTION = re.compile(r"^\s*(FOOTNOTES|NOTES|ENDNOTES|GLOSSARY)[:.]?\s*$", re.M)
FOOTNOTE_PARAGRAPH = re.compile(r"^[ \t]*(<\d+>|\[\d+\]|\{\d+\})[ \t]+\S.*?(?=\n[ \t]*\n|\Z)", re.M | re.S)
FOOTNOTE_MARK = re.compile(r"\s?(\[\d+[a-z]?\]|<\d+>|\{\d+\})")

_NAME = r"(?:[1-4] )?[A-Z][A-Z'&-]*\.?(?: (?:OF |THE |DE |LA |LE )?[A-Z][A-Z'&-]*\.?){0,3}"
INLINE_SPEAKER = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?P<dir>\[[^\]]*\]|\([^)]*\))?\s*[.:]\s+(?P<speech>\S.*)$")
ALONE_CAPS = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?P<dir>\[[^\]]*\]|\([^)]*\))?\s*[.:]?\s*$")
ALONE_MIXED = re.compile(r"^\s*(?P<name>[A-Z][a-z]{1,12}(?: [A-Z][a-z]{1,12}){0,2})\.\s*$")
ITALIC_DIRECTION = re.compile(r"^\s*_(?P<text>[^_]+)_\s*$")
STAGE_WORDS = re.compile(
    r"^\s*(Enter|Re-enter|Reenter|Exit|Exeunt|Manet|Manent|Flourish|Alarum|Alarums|Sennet|Trumpets|Music|"
    r"Thunder|Dies|Dumb show)\b",
    re.I,
)
# Capitals at a block's start that are not speakers.
# fmt: off
NOT_SPEAKERS = frozenset({
    "THE END", "FINIS", "END", "DRAMATIS PERSONAE", "PERSONS REPRESENTED", "PERSONS OF THE PLAY", "THE PERSONS",
    "CONTENTS", "PREFACE", "INTRODUCTION", "NOTES", "FOOTNOTES", "GLOSSARY", "APPENDIX", "INDEX", "CHAPTER", "BOOK",
    "PART", "VOLUME", "ARGUMENT", "THE ARGUMENT", "SCENE", "ACT", "I", "A", "O", "AND", "BUT", "THE", "TO", "NO", "SO",
})
# fmt: on
CAST_HEADING = re.compile(
    r"^\s*(DRAMATIS\s+PERSON(AE|\u00c6)|PERSONS\s+REPRESENTED|(THE\s+)?PERSONS(\s+OF\s+THE\s+(PLAY|DRAMA))?|"
    r"(THE\s+)?CHARACTERS(\s+OF\s+THE\s+PLAY)?|THE\s+ACTORS'?\s+NAMES)\W*$",
    re.I,
)
CAST_END = re.compile(r"^\s*((THE\s+)?SCENE\b|ACT\b|PROLOGUE\b|INDUCTION\b)", re.I)
# A cast list's entry: the name, up to four words, then its description after a comma, a full stop, a dash or a brace.
CAST_NAME = re.compile(
    r"^\s*(?P<name>[A-Z][A-Za-z'&-]*\.?(?:\s+[A-Za-z][A-Za-z'&-]*\.?){0,3}?)\s*(,|\.?$|\.\s|\s[-\u2014}(]|:)"
)
CAST_LINES = 80  # a cast list is read this far past its heading
CAST_SOURCE = "the Dramatis Personae"
MIXED_SPEAKER_MIN_BLOCKS = 3  # a mixed-case name alone ("Ber.") counts when it starts this many blocks
RUN_SPEECHES, RUN_LINES = 4, 40  # the play starts at the first run of this many speeches, by two speakers or more


@dataclass
class Dropped:
    """Characters left out, by what they were."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str, text: str) -> None:
        if text.strip():
            self.counts[what] += len(text)


def strip_licence(text: str, dropped: Dropped) -> str:
    """The text between the Project Gutenberg header and footer, either style."""
    start = START.search(text) or SMALL_PRINT_END.search(text)
    if start:
        dropped.add("header", text[: start.end()])
        text = text[start.end() :]
    end = END.search(text)
    end_line = END_LINE.search(text)
    cut = min((m.start() for m in (end, end_line) if m), default=None)
    if cut is not None:
        dropped.add("footer", text[cut:])
        text = text[:cut]
    return text


def strip_notes(text: str, dropped: Dropped) -> str:
    """Footnote blocks, a notes section at the end, and footnote markers in the verse."""
    section = NOTES_SECTION.search(text, len(text) // 2)
    if section:
        dropped.add("notes", text[section.start() :])
        text = text[: section.start()]
    # Footnotes gathered after the play, without a heading: their "lemma] comment" brackets do not balance,
    # so the section is cut as a whole, from the first footnote of the dense run that ends the text.
    starts = [m.start() for m in FOOTNOTE_START.finditer(text, len(text) // 2)]
    dense = next(
        (at for i, at in enumerate(starts) if sum(1 for x in starts[i + 1 :] if x - at < 3000) >= FOOTNOTES_DENSE),
        None,
    )
    if dense is not None:
        dropped.add("notes", text[dense:])
        text = text[:dense]
    for pattern in (FOOTNOTE_BLOCK, FOOTNOTE_PARAGRAPH):
        for match in pattern.finditer(text):
            dropped.add("notes", match.group())
        text = pattern.sub("", text)
    for match in FOOTNOTE_MARK.finditer(text):
        dropped.add("notes", match.group())
    return FOOTNOTE_MARK.sub("", text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


ORDINALS = {"1": "FIRST", "2": "SECOND", "3": "THIRD", "4": "FOURTH"}
MAIL_ESCAPED_FROM = re.compile(r"^>From\b", re.M)  # old etexts passed through mail, which escaped "From"
FOOTNOTE_START = re.compile(r"^\[Footnote\b", re.M)
FOOTNOTES_DENSE = 3  # footnotes gathered at the end: this many more within the next 3,000 characters


def _clean_name(name: str) -> str:
    """ "FACE." -> "FACE", "1 NEI." -> "FIRST NEI" (the play-script format's names start with a letter)."""
    name = re.sub(r"\s+", " ", name).strip(" .:")
    return re.sub(r"^([1-4]) ", lambda m: ORDINALS[m.group(1)] + " ", name)


def _is_caps_name(name: str) -> bool:
    clean = _clean_name(name)
    return bool(clean) and clean.upper() == clean and clean not in NOT_SPEAKERS and not is_heading(clean)


@dataclass(frozen=True)
class Block:
    first: int  # index of its first line in the play's lines
    lines: tuple[str, ...]


def _blocks(lines: list[str]) -> list[Block]:
    blocks, current, first = [], [], 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if not current:
                first = i
            current.append(line.rstrip())
        elif current:
            blocks.append(Block(first, tuple(current)))
            current = []
    return blocks


def _speaker_of(block: Block, mixed_names: frozenset[str]) -> tuple[str, str, str] | None:
    """(name, direction, rest of the first line) when the block opens with a speaker, else None."""
    first = block.lines[0]
    if is_heading(first):
        return None
    inline = INLINE_SPEAKER.match(first)
    if inline and _is_caps_name(inline.group("name")):
        return _clean_name(inline.group("name")), inline.group("dir") or "", inline.group("speech")
    if len(block.lines) < 2:
        return None
    alone = ALONE_CAPS.match(first)
    if alone and _is_caps_name(alone.group("name")) and len(_clean_name(alone.group("name"))) > 1:
        return _clean_name(alone.group("name")), alone.group("dir") or "", ""
    mixed = ALONE_MIXED.match(first)
    if mixed and mixed.group("name") in mixed_names:
        return mixed.group("name"), "", ""
    return None


def _mixed_names(blocks: list[Block]) -> frozenset[str]:
    """Mixed-case names alone on a block's first line ("Ber.") often enough to be speakers, not words."""
    counts = Counter(
        m.group("name")
        for b in blocks
        if len(b.lines) > 1 and (m := ALONE_MIXED.match(b.lines[0])) and not STAGE_WORDS.match(b.lines[0])
    )
    return frozenset(name for name, n in counts.items() if n >= MIXED_SPEAKER_MIN_BLOCKS)


def _direction(text: str) -> str:
    inner = text.strip().strip("_").strip()
    if inner.startswith(("[", "(")) and inner.endswith(("]", ")")):
        inner = inner[1:-1].strip()
    return f"[{inner}]"


def _is_direction_line(line: str) -> bool:
    stripped = line.strip()
    bracketed = stripped.startswith("[") and stripped.endswith("]")
    return bracketed or bool(ITALIC_DIRECTION.match(line)) or bool(STAGE_WORDS.match(stripped))


def _is_direction_block(block: Block, base_indent: int) -> bool:
    """A block of its own that is a stage direction: in brackets or italics, "Enter ...", or indented deeper than
    the speeches and naming someone in capitals."""
    first = block.lines[0]
    return _is_direction_line(first) or (_indent(first) > base_indent + 2 and _names_someone(list(block.lines)))


def _play_span(
    blocks: list[Block], speakers: list[tuple[str, str, str] | None], base_indent: int
) -> tuple[int, int] | None:
    """Indexes of the first and last block of the play: from the first run of speeches to the last speech."""
    starts = [(b.first, s[0]) for b, s in zip(blocks, speakers, strict=True) if s]
    # Names that speak once ("DRAMAS:" over a list in the introduction) do not open the play.
    times = Counter(name for _, name in starts)
    starts = [(line, name) for line, name in starts if times[name] >= 2]
    if not starts:
        return None

    def opens_a_run(i: int) -> bool:
        run = [name for line, name in starts[i : i + RUN_SPEECHES] if line - starts[i][0] <= RUN_LINES]
        return len(run) == RUN_SPEECHES and len(set(run)) >= 2

    begin = next((i for i in range(len(starts)) if opens_a_run(i)), None)
    if begin is None:
        return None
    first = next(i for i, b in enumerate(blocks) if b.first == starts[begin][0])
    # Take the play back to the heading and directions that open it (ACT I, SCENE I, [Enter ...]), a few blocks.
    for i in range(first - 1, max(first - 6, -1), -1):
        if is_heading(blocks[i].lines[0]):
            first = i
            while first > 0 and is_heading(blocks[first - 1].lines[0]):  # ACT I over SCENE I
                first -= 1
            break
    # A prologue before the first run: speeches, directions and headings right before it belong to the play.
    while first > 0 and (
        speakers[first - 1]
        or is_heading(blocks[first - 1].lines[0])
        or _is_direction_block(blocks[first - 1], base_indent)
    ):
        first -= 1
    last = max(i for i, s in enumerate(speakers) if s)
    # The exit after the last speech belongs to the play.
    while last + 1 < len(blocks) and all(_is_direction_line(line) for line in blocks[last + 1].lines):
        last += 1
    return first, last


def cast_list(lines: list[str]) -> list[str]:
    """The names of the Dramatis Personae (or "Persons Represented") among these lines: each entry's name, before
    its description ("MOSCA, his Parasite." -> "MOSCA"); none when there is no such heading."""
    start = next((i for i, line in enumerate(lines) if CAST_HEADING.match(line)), None)
    if start is None:
        return []
    names = []
    for line in lines[start + 1 : start + 1 + CAST_LINES]:
        if CAST_END.match(line) or (names and is_heading(line.strip())):
            break
        entry = CAST_NAME.match(line)
        if entry and entry.group("name").strip(" .").upper() not in NOT_SPEAKERS:
            names.append(entry.group("name").strip(" ."))
    return names


def gutenberg_to_script(text: str) -> tuple[str, Counter[str], SpeakerNames]:
    """The play in play-script form, the characters dropped by kind (header, footer, notes, front, back), and the
    full names its speech prefixes were written under (from the Dramatis Personae)."""
    dropped = Dropped()
    text = MAIL_ESCAPED_FROM.sub("From", text)
    body = strip_notes(strip_licence(text, dropped), dropped)
    blocks = _blocks(body.split("\n"))
    mixed = _mixed_names(blocks)
    speakers = [_speaker_of(b, mixed) for b in blocks]
    speech_indents = [_indent(b.lines[0]) for b, s in zip(blocks, speakers, strict=True) if s]
    base_indent = statistics.median_low(speech_indents) if speech_indents else 0
    span = _play_span(blocks, speakers, base_indent)
    if span is None:
        dropped.add("no play found", body)
        return "", dropped.counts, SpeakerNames()
    first, last = span
    front = [line for b in blocks[:first] for line in b.lines]
    names = name_speakers(Counter(s[0] for s in speakers[first : last + 1] if s), cast_list(front), CAST_SOURCE)
    for b in blocks[:first]:
        dropped.add("front matter", "\n".join(b.lines))
    for b in blocks[last + 1 :]:
        dropped.add("back matter", "\n".join(b.lines))
    play_blocks, play_speakers = blocks[first : last + 1], speakers[first : last + 1]

    out: list[str] = []
    current = ""  # the speaker whose speech a block without a name continues
    last_is_speech = False
    for block, speaker in zip(play_blocks, play_speakers, strict=True):
        lines = list(block.lines)
        if speaker:
            name, direction, rest = speaker
            name = names.full.get(name, name)
            speech = [f"{name}:"]
            first_line = " ".join(x for x in (_direction(direction) if direction else "", rest.strip()) if x)
            body_lines = ([first_line] if first_line else []) + lines[1:]
            for line in body_lines:
                if speech[1:] and _is_direction_line(line):
                    speech.append(_direction(line))
                else:
                    speech.append(_inline_italics(line.strip()))
            out.append("\n".join(speech))
            current, last_is_speech = name, True
        elif is_heading(lines[0]):
            out.append("\n".join(line.strip() for line in lines))
            current, last_is_speech = "", False
        elif _is_direction_block(block, base_indent):
            out.append(_direction(" ".join(line.strip() for line in lines)))
            last_is_speech = False
        elif current:
            # A speech that goes on after a blank line or a direction: the same speaker's.
            verse = "\n".join(_inline_italics(line.strip()) for line in lines)
            if last_is_speech:
                out[-1] += "\n" + verse
            else:
                out.append(f"{current}:\n{verse}")
            last_is_speech = True
        else:
            dropped.add("text outside speeches", "\n".join(lines))
    script = "\n\n".join(out) + "\n"
    return plain_typography(script), dropped.counts, names


def _names_someone(lines: list[str]) -> bool:
    """Directions name the characters in capitals ("BARABAS discovered..."); a half-line of verse does not."""
    return any(re.search(r"\b[A-Z]{2,}\b", line) for line in lines)


def _inline_italics(line: str) -> str:
    """_Aside._ inside a line of speech is a direction: [Aside.]."""
    return re.sub(r"_([^_]+)_", r"[\1]", line)
