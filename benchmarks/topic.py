"""A speech about something (issue 28): what keeping to a subject costs and what it keeps, strength 0 against another.

    .venv/bin/python benchmarks/topic.py [--model DIR] [--strength S] [--rng-seeds 4] [--out runs/eval]

Each seed of benchmarks/topic_replies.py is asked at the default settings (a verse monologue, 400 characters,
temperature 0.8) under the same random seeds at strength 0 (the text of before) and at --strength (default: the
bot's). Both sets are written as JSONL for the judge (benchmarks/topic_eval.py: topic, fluency, grammar, repetition,
copying, on other dramatists' plays) and scored here for what must not change: one speech, words of the plays, the
metre and the reader's rules (benchmarks/reader.py's measures), who speaks, and the cost: characters sampled per
second, one stream and 32 streams batched, best of 5 interleaved rounds, and the size of the model's topic record and
subject adapter.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from reader import plays_names, score
from topic_replies import SEEDS

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, GenerationRequest
from model_store.limits import DEFAULT_TOPIC
from model_store.rules.reader import NON_ENDERS

FORM = ("one_speech", "words_of_the_plays", "ten_syllables", "iambic", "lower_lines", "doubled", "seed_changed")
FORM += ("foreign_names", "punctuation", "bad_endings", "metre_fallbacks", "logprob_per_char")


def requests(engine: Engine, strength: float, rng_seeds: int) -> list[tuple[str, int, GenerationRequest]]:
    """(seed as typed, random seed, request) for every seed of SEEDS and random seed, its speaker read from it."""
    out = []
    for seed in SEEDS:
        speaker, speech = engine.speakers.split_seed(seed)
        for r in range(rng_seeds):
            request = GenerationRequest(
                speech, rng=np.random.default_rng(r), speaker=speaker, seed_speaker=True, topic=strength
            )
            out.append((seed, r, request))
    return out


def replies(engine: Engine, strength: float, rng_seeds: int, batch: int = 32) -> list[dict]:
    asked = requests(engine, strength, rng_seeds)
    out = []
    for start in range(0, len(asked), batch):
        chunk = asked[start : start + batch]
        for (seed, r, _), g in zip(chunk, engine.generate_batch([q for _, _, q in chunk]), strict=True):
            reply = {"asked": seed, "seed": g.seed, "text": g.text, "speaker": g.speaker, "rng": r}
            out.append(reply | {"fallbacks": g.metre_fallbacks})
    return out


def speed(engine: Engine, strengths: tuple[float, float], rounds: int = 5) -> dict[str, float]:
    """chars/s, best of `rounds` interleaved rounds: 8 requests one at a time, and 32 in one batch."""
    best: dict[str, float] = {}
    for r in range(rounds):
        for strength in strengths:
            asked = [
                replace(q, rng=np.random.default_rng(i)) for i, (_, _, q) in enumerate(requests(engine, strength, 1))
            ]
            asked = asked[r : r + 32] + asked[: max(0, r + 32 - len(asked))]
            start = time.perf_counter()
            one = [engine.generate_batch([q])[0] for q in asked[:8]]
            rate = sum(g.sampled for g in one) / (time.perf_counter() - start)
            best[f"1@{strength:g}"] = max(best.get(f"1@{strength:g}", 0.0), rate)
            start = time.perf_counter()
            many = engine.generate_batch(asked)
            rate = sum(g.sampled for g in many) / (time.perf_counter() - start)
            best[f"32@{strength:g}"] = max(best.get(f"32@{strength:g}", 0.0), rate)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--strength", type=float, default=DEFAULT_TOPIC)
    parser.add_argument("--rng-seeds", type=int, default=4, help="random seeds per seed (default 4)")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="where the two JSONL files go")
    parser.add_argument("--rounds", type=int, default=5, help="speed rounds (default 5; 0: no speed)")
    args = parser.parse_args(argv)
    try:
        model = store.load(args.model)
    except store.ModelError as exc:
        print(f"topic: error: {exc}", file=sys.stderr)
        return 2
    if model.topics is None:
        print(f"topic: error: {args.model} has no topic record (python -m training.speech_data)", file=sys.stderr)
        return 2
    engine = Engine(model)
    strengths = (0.0, args.strength)
    sets = {s: replies(engine, s, args.rng_seeds) for s in strengths}
    args.out.mkdir(parents=True, exist_ok=True)
    for s, rows in sets.items():
        path = args.out / f"topic-{s:g}.jsonl"
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        print(f"wrote {path} ({len(rows)} replies)")
    plays = plays_names()
    figures = {s: score(engine, rows, plays, NON_ENDERS) for s, rows in sets.items()}
    print(f"\nmodel {args.model}, {len(sets[0.0])} replies per strength (verse, 400 characters, T 0.8)")
    print(f"{'measure':<24}" + "".join(f"{'strength ' + format(s, 'g'):>14}" for s in strengths))
    for key in FORM:
        fmt = "{:>14,.0f}" if key == "metre_fallbacks" else "{:>14.3f}" if key == "logprob_per_char" else "{:>14.1%}"
        print(f"{key:<24}" + "".join(fmt.format(figures[s][key]) for s in strengths))
    record = (args.model / store.TOPICS_FILE).stat().st_size
    adapter = (args.model / store.SUBJECT_FILE).stat().st_size if model.subject is not None else 0
    size = sum(p.stat().st_size for p in args.model.iterdir() if p.is_file())
    print(
        f"topic record {record / 1e6:.1f} MB, subject adapter {adapter / 1e6:.1f} MB; model directory"
        f" {size / 1e6:.1f} MB (target <= 25)"
    )
    if args.rounds:
        rates = speed(engine, strengths, args.rounds)
        for streams in (1, 32):
            before, after = rates[f"{streams}@0"], rates[f"{streams}@{args.strength:g}"]
            print(
                f"speed, {streams:>2} stream(s): {before:,.0f} -> {after:,.0f} chars/s, ratio {after / before:.3f} "
                "(target >= 0.85)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
