"""Whether the bard rhymes: sonnets and the closing couplet of verse monologues, against unrhymed verse.

    .venv/bin/python benchmarks/rhyme.py [--model DIR] [--sonnets 50] [--replies 100] [--json FILE]

Sonnets: each of SONNET_SEEDS is asked as a sonnet at temperature 0.8 under a run of random seeds, each with a
speaker of VOICES (named, so that its log-probability is scored in the context it was written in), and beside each
sonnet, in turn, an unrhymed verse monologue (couplet off) of about the same length from the same seed, speaker
and random seed. Couplets: each of monologue.py's seeds is asked as a verse monologue at the default settings
(400 characters), with the couplet on and off (the same random seeds).

Rhymes are read with the CMU pronouncing dictionary (training/rhyme_data.py; a word it lacks never rhymes here):
two line ends rhyme when they are different words sharing a rhyme part, the sounds from the last stressed vowel
on. A sonnet's required rhymes are lines 1/3, 2/4, 5/7, 6/8, 9/11, 10/12 and 13/14; a monologue's, its last two
lines. Scansion is verse.py's (10 +- 1 syllables, and of those the iambic ones). Log-probability per character
is under the model alone (monologue.py's), rhymed minus unrhymed. Time: a sonnet's seconds against 14 lines of
the unrhymed verse written beside it (its seconds per line, times 14), summed over the run. Fallbacks: words let
break the metre, and rewrites: lines that must rhyme written again from their start.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import cache
from pathlib import Path

from model_store import DEFAULT_MODEL_DIR, hold_blas_to_one_thread

hold_blas_to_one_thread()  # before numpy: one stream on one core, as the bot runs

import numpy as np  # noqa: E402
from monologue import SEEDS, logprob_per_char, request  # noqa: E402
from verse import line_scores  # noqa: E402

from model_store import store  # noqa: E402
from model_store.engine import Engine, Generation, GenerationRequest  # noqa: E402
from model_store.lexicon import words  # noqa: E402
from model_store.rules.rhyme import SONNET  # noqa: E402
from training.rhyme_data import parts  # noqa: E402

SONNET_SEEDS = (
    "",
    "Shall I compare thee to a summer's day",
    "When in disgrace with fortune and men's eyes",
    "My mistress' eyes are nothing like the sun",
    "Let me not to the marriage of true minds",
    "That time of year thou mayst in me behold",
    "Not marble, nor the gilded monuments",
    "Like as the waves make towards the pebbled shore",
    "When I do count the clock that tells the time",
    "Devouring Time, blunt thou the lion's paws",
)
VOICES = ("ROMEO", "JULIET", "HAMLET", "OTHELLO", "PROSPERO", "KING RICHARD II", "PORTIA", "HELENA", "BIRON")
UNRHYMED_CHARS = 620  # an unrhymed verse monologue beside a sonnet: about its length
TARGETS = {
    "fourteen_lines": 1.00,
    "true_rhymes": 0.97,
    "ten_syllables": 0.95,
    "iambic": 0.90,
    "couplet_rate": 0.95,
    "logprob_change": -0.10,
}
MOST = {"time_ratio": 2.0}


@cache
def _parts(word: str) -> frozenset[str]:
    """A word's rhyme parts by the dictionary, as the lexicon writes it ("'tis") or without its quotes ("day'")."""
    for form in (word.lower(), word.lower().strip("'")):
        found = parts(form)
        if not found[0].startswith("~"):  # a spelling's estimate is not read
            return frozenset(found)
    return frozenset()


def rhyme(first: str, second: str) -> bool:
    """Two line ends rhyme by the dictionary: different words sharing a rhyme part."""
    return first.lower() != second.lower() and bool(_parts(first) & _parts(second))


def last_word(line: str) -> str:
    found = words(line.replace("-", " "))
    return found[-1] if found else ""


def lines_of(g: Generation) -> list[str]:
    return [line for line in (g.seed + g.text).split("\n") if line.strip()]


def sonnet_pairs(lines: list[str]) -> list[tuple[str, str]]:
    """A sonnet's required rhymes (of the lines it has)."""
    ends = [last_word(line) for line in lines]
    first = {letter: SONNET.index(letter) for letter in SONNET}
    return [(ends[first[SONNET[i]]], ends[i]) for i in range(min(len(ends), len(SONNET))) if first[SONNET[i]] != i]


def ends_on_couplet(g: Generation) -> bool:
    lines = lines_of(g)
    return len(lines) >= 2 and rhyme(last_word(lines[-2]), last_word(lines[-1]))


def timed(engine: Engine, one: GenerationRequest) -> tuple[Generation, float]:
    start = time.perf_counter()
    g = engine.generate_batch([one])[0]
    return g, time.perf_counter() - start


def with_speaker(g: Generation, speaker: str) -> Generation:
    """A sonnet as its log-probability is read: in the context of the speaker it was primed with."""
    return Generation(g.seed, g.text, g.seed_changes, g.stop_reason, speaker, g.sampled)


def sonnets(engine: Engine, count: int) -> tuple[dict[str, float], list[Generation]]:
    """The sonnets' figures, against unrhymed verse written beside them, and the sonnets."""
    written, seconds, plain_seconds, plain_lines, logp, plain_logp = [], 0.0, 0.0, 0, [], []
    for i in range(count):
        seed, voice = SONNET_SEEDS[i % len(SONNET_SEEDS)], VOICES[i % len(VOICES)]
        rng = i // len(SONNET_SEEDS)
        g, took = timed(engine, GenerationRequest(seed, rng=np.random.default_rng(rng), speaker=voice, sonnet=True))
        plain_request = GenerationRequest(
            seed, UNRHYMED_CHARS, rng=np.random.default_rng(rng), speaker=voice, couplet=False
        )
        plain, plain_took = timed(engine, plain_request)
        written.append(g)
        seconds, plain_seconds = seconds + took, plain_seconds + plain_took
        plain_lines += len(lines_of(plain))
        logp.append(logprob_per_char(engine, with_speaker(g, voice)))
        plain_logp.append(logprob_per_char(engine, plain))
    pairs = [pair for g in written for pair in sonnet_pairs(lines_of(g))]
    scored = line_scores([line for g in written for line in lines_of(g)])
    per_char = sum(s for s, _ in logp) / sum(n for _, n in logp)
    plain_per_char = sum(s for s, _ in plain_logp) / sum(n for _, n in plain_logp)
    return {
        "sonnets": len(written),
        "fourteen_lines": sum(len(lines_of(g)) == 14 for g in written) / len(written),
        "required_rhymes": len(pairs),
        "true_rhymes": sum(rhyme(a, b) for a, b in pairs) / max(1, len(pairs)),
        "ten_syllables": scored["ten_syllables"],
        "iambic": scored["iambic"],
        "logprob_per_char": per_char,
        "logprob_change": per_char - plain_per_char,
        "time_ratio": seconds / (plain_seconds / max(1, plain_lines) * 14 * len(written)),
        "fallbacks": sum(g.metre_fallbacks for g in written),
        "rewrites": sum(g.rewrites for g in written),
    }, written


def couplets(engine: Engine, count: int) -> tuple[dict[str, float], list[Generation]]:
    """The verse monologues' figures, couplet on against off (the same seeds), and those with it on."""
    per_seed = -(-count // len(SEEDS))
    results, kept = {}, []
    for mode in (True, False):
        replies = [
            engine.generate_batch([request(engine, seed, np.random.default_rng(r), couplet=mode)])[0]
            for seed in SEEDS
            for r in range(per_seed)
        ]
        logp = [logprob_per_char(engine, g) for g in replies]
        results[mode] = {
            "replies": len(replies),
            "couplet_rate": sum(map(ends_on_couplet, replies)) / len(replies),
            "logprob_per_char": sum(s for s, _ in logp) / sum(n for _, n in logp),
            "fallbacks": sum(g.metre_fallbacks for g in replies),
            "rewrites": sum(g.rewrites for g in replies),
            "median_length": float(np.median([len(g.text) for g in replies])),
        }
        kept = kept or replies
    on, off = results[True], results[False]
    on["logprob_change"] = on["logprob_per_char"] - off["logprob_per_char"]
    return {"on": on, "off": off}, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--sonnets", type=int, default=50, help="sonnets to write (default 50)")
    parser.add_argument("--replies", type=int, default=100, help="verse monologues per mode (default 100)")
    parser.add_argument("--show", type=int, default=3, help="sonnets and couplet endings to print")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        engine = Engine(store.load(args.model))
    except store.ModelError as exc:
        print(f"rhyme: error: {exc}", file=sys.stderr)
        return 2
    if not engine.sonnets:
        print(f"rhyme: error: {args.model} has no rhymes (python -m training.speech_data)", file=sys.stderr)
        return 2
    s, written = sonnets(engine, args.sonnets)
    c, closed = couplets(engine, args.replies)
    on, off = c["on"], c["off"]
    print(f"model {args.model}: {s['sonnets']} sonnets (temperature 0.8), {on['replies']} verse monologues per mode")
    pct = "{:.1%}".format
    rows = [
        ("sonnets with 14 lines", "-", pct(s["fourteen_lines"]), "100%"),
        ("required rhymes that are true rhymes (sonnets)", "-", pct(s["true_rhymes"]), ">= 97%"),
        ("sonnet lines of 10 +- 1 syllables", "-", pct(s["ten_syllables"]), ">= 95%"),
        ("  of those, iambic", "-", pct(s["iambic"]), ">= 90%"),
        ("verse monologues ending on a rhyming couplet", pct(off["couplet_rate"]), pct(on["couplet_rate"]), ">= 95%"),
        ("logprob/char change vs unrhymed: couplet", "-", f"{on['logprob_change']:+.3f}", ">= -0.10"),
        ("logprob/char change vs unrhymed: sonnet", "-", f"{s['logprob_change']:+.3f}", ">= -0.10"),
        ("time: a sonnet / 14 unrhymed verse lines", "-", f"{s['time_ratio']:.2f}", "<= 2.0"),
        ("fallbacks: sonnets / couplet monologues", f"- / {off['fallbacks']}", f"{s['fallbacks']} / {on['fallbacks']}"),
        ("rewrites: sonnets / couplet monologues", "-", f"{s['rewrites']} / {on['rewrites']}"),
        ("median monologue length, chars", f"{off['median_length']:.0f}", f"{on['median_length']:.0f}"),
    ]
    print(f"{'measure':<50}{'today':>10}{'rhymed':>12}{'target':>10}")
    for name, today, now, *more in rows:
        target = more[0] if more else ""
        print(f"{name:<50}{today:>10}{now:>12}{target:>10}")
    checks = {**{k: s[k] for k in ("fourteen_lines", "true_rhymes", "ten_syllables", "iambic", "time_ratio")}}
    checks |= {"couplet_rate": on["couplet_rate"], "logprob_change": min(on["logprob_change"], s["logprob_change"])}
    missed = [k for k, bound in TARGETS.items() if not checks[k] >= bound]
    missed += [k for k, bound in MOST.items() if not checks[k] <= bound]
    print("targets: all met" if not missed else f"targets missed: {', '.join(missed)}")
    for g in written[: args.show]:
        print(f"\nsonnet (seed {g.seed!r}, {g.metre_fallbacks} fallbacks, {g.rewrites} rewrites):")
        print("\n".join(f"  {line}" for line in lines_of(g)))
    for g in closed[:: max(1, len(closed) // max(1, args.show))][: args.show]:
        print(f"\n{g.speaker}, closing (seed {g.seed!r}):")
        print("\n".join(f"  {line}" for line in lines_of(g)[-4:]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sonnets": s, "couplets": c}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
