"""See before you train: what each play file became, counted with the play-script format's own patterns."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from model_store.playscript import is_heading, is_stage_direction, speeches
from model_store.vocab import Vocab
from training.importers import Converted

FIRST_LINES = 20
TOP_SPEAKERS = 10  # the speech prefixes whose full names the preview lists
UNMAPPED_SHOWN = 20


def report(converted: Converted, vocab: Vocab | None) -> str:
    """The preview of one converted file: format, counts, what was dropped, characters unknown, first lines."""
    text = converted.text
    found = list(speeches(text))
    speakers = Counter(s.speaker for s in found)
    lines = text.split("\n")
    directions = sum(1 for line in lines if is_stage_direction(line))
    headings = sum(1 for line in lines if is_heading(line))
    dropped = sum(converted.dropped.values())
    top = ", ".join(f"{name} {n}" for name, n in speakers.most_common(10))
    out = [
        f"{converted.path}",
        f"  format:            {converted.format}",
        f"  speeches:          {len(found):,}",
        f"  speakers:          {len(speakers):,} ({top})",
        f"  verse/prose lines: {sum(len(s.lines) for s in found):,}",
        f"  stage directions:  {directions:,}",
        f"  headings:          {headings:,}",
        f"  characters kept:   {len(text):,} of {converted.source_chars:,} read",
        f"  characters dropped:{dropped:>8,}"
        + (" (" + ", ".join(f"{what} {n:,}" for what, n in converted.dropped.items() if n) + ")" if dropped else ""),
    ]
    if vocab is not None:
        missing = Counter(c for c in text if c not in vocab)
        shown = "".join(sorted(missing))[:40]
        unknown = f"{sum(missing.values()):,} characters ({len(missing)} distinct: {shown!r})" if missing else "none"
        out.append(f"  not in vocabulary: {unknown}")
    out += speaker_names(converted)
    out += [f"  warning: {w}" for w in converted.warnings]
    out.append(f"  first {FIRST_LINES} lines:")
    out += [f"    | {line}" for line in lines[:FIRST_LINES]]
    return "\n".join(out)


def speaker_names(converted: Converted) -> list[str]:
    """What the speech prefixes were written as: the ten with the most speeches, each with its full name from the
    cast list or "as printed", and every prefix the cast list did not name."""
    names = converted.names
    if not names.speeches:
        return []
    if not names.source:
        return ["  full names:        none (no cast list found); the speakers stay as printed"]
    mapped = sum(1 for p in names.speeches if p in names.full)
    out = [f"  full names:        {mapped} of {len(names.speeches)} speech prefixes, from {names.source}"]
    for prefix, n in names.speeches.most_common(TOP_SPEAKERS):
        full = names.full.get(prefix)
        out.append(
            f"    {prefix:<18} -> {full} ({n:,} speeches)" if full else f"    {prefix:<18}    as printed ({n:,})"
        )
    unmapped = names.unmapped()
    if unmapped:
        shown = ", ".join(unmapped[:UNMAPPED_SHOWN]) + (", ..." if len(unmapped) > UNMAPPED_SHOWN else "")
        out.append(f"  as printed:        {len(unmapped)} (no name, or more than one, in the cast list): {shown}")
    return out


def converted_name(converted: Converted, taken: set[str]) -> str:
    """play.xml -> play.txt; a second play.txt from another folder becomes play-2.txt."""
    stem, n = converted.path.stem, 1
    name = f"{stem}.txt"
    while name in taken:
        n += 1
        name = f"{stem}-{n}.txt"
    taken.add(name)
    return name


def write_converted(converted: list[Converted], folder: Path) -> list[Path]:
    """Write every converted text into folder, each file whole or not at all (written aside, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written = []
    for c in converted:
        target = folder / converted_name(c, taken)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".converting-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(c.text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
