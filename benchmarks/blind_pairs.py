"""A blind side-by-side: two sets of replies to the same seeds, read unlabelled, revealed after choosing.

    python benchmarks/blind_pairs.py make A.jsonl B.jsonl --out DIR [--pairs 30] [--seed 0]
    python benchmarks/blind_pairs.py score DIR choices.txt

`make` pairs the replies of A and B that answer the same seed with the same random seed (JSONL from
benchmarks/topic_replies.py: "asked" or "seed", and "rng"), keeps --pairs of them chosen at random, and shows
each pair's two speeches in a random order. It writes DIR/pairs.txt (numbered pairs, speeches 1 and 2, no
labels: read this) and DIR/key.json (which of 1 and 2 came from A: do not open it before choosing). Write
choices.txt as one line per pair, "<pair number> <1 or 2>", naming the speech that is more about something;
`score` then tells how many times A and B were chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _replies(path: Path) -> dict[tuple[str, int], dict]:
    """The replies of a JSONL file by (seed asked, random seed)."""
    found = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise SystemExit(f"blind_pairs: error: {path}: cannot be read ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            reply = json.loads(line)
            found[(reply.get("asked", reply["seed"]), int(reply["rng"]))] = reply
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise SystemExit(f"blind_pairs: error: {path}:{number}: not a reply with a seed, text and rng") from None
    return found


def _shown(reply: dict) -> str:
    speaker = reply.get("speaker")
    return (f"{speaker}:\n" if speaker else "") + reply["seed"] + reply["text"]


def make(a: Path, b: Path, out: Path, pairs: int, seed: int) -> None:
    first, second = _replies(a), _replies(b)
    common = sorted(set(first) & set(second))
    if len(common) < pairs:
        raise SystemExit(f"blind_pairs: error: {a} and {b} share {len(common)} (seed, rng) pairs, fewer than {pairs}")
    rng = np.random.default_rng(seed)
    chosen = [common[i] for i in sorted(rng.choice(len(common), pairs, replace=False))]
    out.mkdir(parents=True, exist_ok=True)
    key, blocks = {}, []
    for number, pair in enumerate(chosen, 1):
        a_first = bool(rng.integers(2))
        shown = (first[pair], second[pair]) if a_first else (second[pair], first[pair])
        key[str(number)] = {"a": 1 if a_first else 2, "seed": pair[0], "rng": pair[1]}
        blocks.append(f"=== pair {number}: {pair[0]!r}\n--- 1\n{_shown(shown[0])}\n--- 2\n{_shown(shown[1])}\n")
    (out / "pairs.txt").write_text("\n".join(blocks))
    (out / "key.json").write_text(json.dumps({"a": str(a), "b": str(b), "pairs": key}, indent=1) + "\n")
    print(f"{pairs} pairs -> {out / 'pairs.txt'} (the key is in {out / 'key.json'}: choose before opening it)")


def read_choices(path: Path, pairs: int) -> dict[str, int]:
    choices = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("1", "2") or not parts[0].isdigit() or not 1 <= int(parts[0]) <= pairs:
            raise SystemExit(f"blind_pairs: error: {path}:{number}: want '<pair 1..{pairs}> <1 or 2>', got {line!r}")
        choices[str(int(parts[0]))] = int(parts[1])
    return choices


def score(folder: Path, choices_path: Path) -> None:
    key_path = folder / "key.json"
    if not key_path.is_file():
        raise SystemExit(f"blind_pairs: error: {key_path} not found (run make first)")
    key = json.loads(key_path.read_text())
    choices = read_choices(choices_path, len(key["pairs"]))
    missing = sorted(set(key["pairs"]) - set(choices), key=int)
    if missing:
        raise SystemExit(f"blind_pairs: error: {choices_path}: no choice for pair(s) {', '.join(missing)}")
    a_wins = sum(choices[n] == entry["a"] for n, entry in key["pairs"].items())
    total = len(key["pairs"])
    print(f"A ({key['a']}) chosen {a_wins} of {total}; B ({key['b']}) chosen {total - a_wins} of {total}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    making = commands.add_parser("make", help="write the unlabelled pairs and their key")
    making.add_argument("a", type=Path)
    making.add_argument("b", type=Path)
    making.add_argument("--out", type=Path, required=True)
    making.add_argument("--pairs", type=int, default=30)
    making.add_argument("--seed", type=int, default=0, help="random seed of the choice and order of pairs")
    scoring = commands.add_parser("score", help="reveal which set the choices favoured")
    scoring.add_argument("folder", type=Path)
    scoring.add_argument("choices", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        if args.pairs < 1:
            parser.error("--pairs must be at least 1")
        make(args.a, args.b, args.out, args.pairs, args.seed)
    else:
        score(args.folder, args.choices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
