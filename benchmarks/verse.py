"""Whether the bard's verse scans: verse monologues against prose monologues and free text, and real Shakespeare.

    .venv/bin/python benchmarks/verse.py --real ../shared/data/tinyshakespeare.txt [--model DIR] [--replies 200]

Each of monologue.py's seeds is asked at the default settings (400 characters, temperature 0.8) under a run
of random seeds, as free text, as a prose monologue and as a verse monologue (the same random seeds). The
real plays are the last 10% of the --real file (tiny-shakespeare's held-out stretch; read, never copied).

Lines scored: the bard's are those it began and ended in a reply: from a line's start (the reply's start
when the seed ends a line or is empty, else after the reply's first newline) to a newline in the reply
(the last line, which a cut may end, is left out); blank lines, speaker lines, headings and stage directions
are skipped. The real plays' lines are every line of speech.

Scansion (model_store/metre.py's rules, the ones verse decoding applies): a word's readings come from the CMU
pronouncing dictionary with the verse's licences (elisions such as "heaven" in one syllable, "-ious" in two,
a sounded "-ed", a promoted last syllable) or, for a word it lacks, a rule-based estimate
(training/metre_data.py); hyphenated compounds are split. A line has 10 +- 1 syllables if some choice of
readings gives 9, 10 or 11. It fits the iambic template if some choice fills positions 0..9 (or 0..10, the
eleventh being the unstressed last syllable of a polysyllable: a feminine ending) with every polysyllable's
stressed syllables on the odd positions (the beats) and its unstressed ones on the even positions, secondary
stress and monosyllables anywhere, and the first foot (positions 0, 1) free to be inverted. A 9-syllable line
never fits.

Also: metre fallbacks (words let break the metre because nothing that fit was allowed), log-probability per
character of the generated text under the model without any rule (verse minus free text), and speed: one
stream, characters sampled per second, verse monologue / prose monologue, best of 5 interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np
from monologue import SEEDS, logprob_per_char, request

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, Generation
from model_store.lexicon import words
from model_store.metre import scan
from model_store.playscript import is_heading, is_speaker_line, is_stage_direction
from training.metre_data import readings

MODES = {"free": dict(monologue=False), "prose": dict(verse=False), "verse": dict(verse=True)}
TARGETS = {"ten_syllables": 0.90, "iambic": 0.85, "logprob_change": -0.10, "speed_ratio": 0.90}


@cache
def _readings(word: str) -> tuple[str, ...]:
    return tuple(readings(word.lower()))


def scansion(line: str) -> tuple[set[int], str | None]:
    """(syllable counts the line can have, its stress pattern if it scans, else None)."""
    return scan([list(_readings(w)) for w in words(line.replace("-", " "))])


def is_speech(line: str) -> bool:
    return bool(line.strip()) and not (is_speaker_line(line) or is_heading(line) or is_stage_direction(line))


def bard_lines(g: Generation) -> list[str]:
    """The lines the bard began and ended in a reply."""
    lines = g.text.split("\n")[:-1]  # the last has no newline of its own
    if g.seed and not g.seed.endswith("\n"):
        lines = lines[1:]  # the seed began it
    return [line for line in lines if is_speech(line)]


def real_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [line for line in text[int(len(text) * 0.9) :].split("\n")[1:] if is_speech(line)]


def line_scores(lines: list[str]) -> dict[str, float]:
    scanned = [scansion(line) for line in lines]
    near_ten = [pattern for counts, pattern in scanned if counts & {9, 10, 11}]
    return {
        "lines": len(lines),
        "ten_syllables": len(near_ten) / max(1, len(lines)),
        "iambic": sum(p is not None for p in near_ten) / max(1, len(near_ten)),
    }


def speed(engine: Engine, rounds: int = 5) -> dict[str, float]:
    """chars/s of one stream, best of `rounds` interleaved rounds, prose and verse monologues."""
    best: dict[str, float] = {}
    for r in range(rounds):
        for mode in ("prose", "verse"):
            requests = [
                request(engine, SEEDS[(r + i) % len(SEEDS)], np.random.default_rng(i), **MODES[mode]) for i in range(8)
            ]
            start = time.perf_counter()
            out = [engine.generate_batch([one])[0] for one in requests]
            best[mode] = max(best.get(mode, 0.0), sum(g.sampled for g in out) / (time.perf_counter() - start))
    return best


def show(g: Generation) -> None:
    print(f"\n{g.speaker}:  (seed {g.seed!r}, {g.metre_fallbacks} fallbacks)")
    for line in (g.seed + g.text).split("\n"):
        counts, pattern = scansion(line)
        print(f"  {line:<58} {'/'.join(map(str, sorted(counts))):>8}  {pattern or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--real", type=Path, required=True, help="a play-script text; its last 10%% is scored")
    parser.add_argument("--replies", type=int, default=200, help="replies per mode (default 200)")
    parser.add_argument("--show", type=int, default=3, help="verse replies to print with their scansion")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        model = store.load(args.model)
        real = line_scores(real_lines(args.real))
    except (store.ModelError, OSError) as exc:
        print(f"verse: error: {exc}", file=sys.stderr)
        return 2
    if model.metre is None or model.speakers is None:
        print(f"verse: error: {args.model} has no metre or speakers (python -m training.speech_data)", file=sys.stderr)
        return 2
    engine = Engine(model)
    per_seed = -(-args.replies // len(SEEDS))
    results: dict[str, dict[str, float]] = {"real": real}
    verse_replies: list[Generation] = []
    for mode, options in MODES.items():
        replies = [
            engine.generate_batch([request(engine, seed, np.random.default_rng(r), **options)])[0]
            for seed in SEEDS
            for r in range(per_seed)
        ]
        logp = [logprob_per_char(engine, g) for g in replies]
        results[mode] = line_scores([line for g in replies for line in bard_lines(g)]) | {
            "replies": len(replies),
            "fallbacks": sum(g.metre_fallbacks for g in replies),
            "logprob_per_char": sum(s for s, _ in logp) / sum(n for _, n in logp),
        }
        verse_replies = replies
    rates = speed(engine)
    v = results["verse"]
    v["logprob_change"] = v["logprob_per_char"] - results["free"]["logprob_per_char"]
    v["logprob_change_vs_prose"] = v["logprob_per_char"] - results["prose"]["logprob_per_char"]
    v["speed_ratio"] = rates["verse"] / rates["prose"]

    print(f"model {args.model}, {v['replies']} replies per mode (400 chars, temperature 0.8); real: {args.real}")
    print(f"{'measure':<34}{'real plays':>11}{'free text':>11}{'prose mono':>11}{'verse':>11}{'target':>9}")
    for key in ("lines", "ten_syllables", "iambic", "fallbacks", "logprob_per_char"):
        fmt = {"lines": "{:>11,.0f}", "fallbacks": "{:>11,.0f}", "logprob_per_char": "{:>11.3f}"}.get(key, "{:>11.1%}")
        cells = [fmt.format(results[m][key]) if key in results[m] else f"{'':>11}" for m in ("real", *MODES)]
        target = f">= {TARGETS[key]:.0%}" if key in TARGETS else ""
        print(f"{key:<34}" + "".join(cells) + f"{target:>9}")
    print(f"{'logprob change vs free text':<34}{'':>33}{v['logprob_change']:>11.3f}{'>= -0.10':>9}")
    print(f"{'logprob change vs prose monologue':<34}{'':>33}{v['logprob_change_vs_prose']:>11.3f}")
    print(
        f"{'speed, 1 stream, chars/s':<34}{'':>22}{rates['prose']:>11,.0f}{rates['verse']:>11,.0f}"
        f"   ratio {v['speed_ratio']:.3f} (>= 0.90)"
    )
    missed = [k for k, bound in TARGETS.items() if not v[k] >= bound]
    print("targets: all met" if not missed else f"targets missed: {', '.join(missed)}")
    for g in verse_replies[: args.show * per_seed : per_seed]:
        show(g)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "speed": rates}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
