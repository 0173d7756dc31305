"""How much of what the bard writes is a monologue: the monologue rules against free text, in one run.

    .venv/bin/python benchmarks/monologue.py [--model DIR] [--replies 200] [--json runs/benchmarks/monologue.json]

Every seed below is asked at the default settings (400 characters, temperature 0.8) under a run of
random seeds (the same in every mode), in three modes: free text (`--free`), a monologue in prose
(`--prose`: the monologue's rules alone, which the targets below are for) and a monologue in verse (the
default; benchmarks/verse.py measures its metre). Each reply is scored as a reader meets it:

- one speech: no blank line, no stage direction or heading on a line of its own, and no speaker line
  (free text may open with its speaker, as the reply shows it);
- words of the plays: the generated words (hyphenated compounds split; the word the seed ends in is
  not counted) that the model's training plays contain, and those they contain at most twice;
- ends at a sentence end; the reply's length;
- log-probability per character of the generated text under the model without any rule;
- speed: characters sampled per second (those a cut at the limit drops included), one stream and 32
  streams batched, prose monologue / free text, best of 5 interleaved rounds.

The plays' words come from the model's lexicon (every word of its training text, with counts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, Generation, GenerationRequest
from model_store.lexicon import words
from model_store.lstm import log_softmax
from model_store.playscript import is_heading, is_speaker_line, is_stage_direction, names_a_speaker

SEEDS = (
    "",
    "To be, or not to be",
    "Now is the winter of our discontent",
    "O Romeo, Romeo",
    "Friends, Romans, countrymen",
    "All the world's a stage",
    "Tomorrow, and tomorrow",
    "If music be the food of love",
    "The quality of mercy",
    "Once more unto the breach",
    "Hamlet: O that this too too solid flesh",
    "Juliet: What's in a name",
    "Macbeth: Is this a dagger",
    "Lear: Blow, winds",
    "Portia: The quality of mercy is not strain'd",
    "Falstaff: What is honour",
    "Prospero: Our revels now are ended",
    "Iago: I am not what I am",
    "Lady Macbeth: Out, damned spot",
    "Puck: If we shadows have offended",
)
TARGETS = {
    "one_speech": (">=", 0.99),
    "words_of_the_plays": (">=", 0.995),
    "rare_words": ("<=", 0.01),
    "sentence_end": (">=", 0.80),
    "median_length": (">=", 300),
    "logprob_change": (">=", -0.06),
    "speed_ratio_1": (">=", 0.95),
    "speed_ratio_32": (">=", 0.95),
}


def one_speech(g: Generation, names: frozenset[str]) -> bool:
    """No blank line, no stage-direction or heading line, no line that names a speaker (a blank line aside,
    "NAME:" in capitals or a name of the plays; a verse line that ends with a colon is speech)."""
    lines = (g.seed + g.text).strip("\n").split("\n")
    if g.speaker is None and lines and is_speaker_line(lines[0]):
        lines = lines[1:]  # free text that opened with its speaker: the reply shows it as the speaker
    return all(
        line.strip() and not names_a_speaker(line, names) and not is_stage_direction(line) and not is_heading(line)
        for line in lines
    )


def generated_words(g: Generation) -> list[str]:
    """The words the model wrote: the seed's last word, if the text goes on with it, is the seed's."""
    text = g.text
    if g.seed and g.seed[-1].isalpha() and text[:1].isalpha():
        text = text.split(None, 1)[1] if " " in text or "\n" in text else ""
    return [w.lower() for w in words(text)]


def ends_sentence(g: Generation) -> bool:
    return g.text.rstrip().rstrip("'\")]").endswith((".", "!", "?"))


def context_of(engine: Engine, g: Generation) -> str:
    if g.speaker is not None:
        return f"\n\n{g.speaker}:\n{g.seed}"
    return engine._context(g.seed)  # free text: the context the engine fed it


def logprob_per_char(engine: Engine, g: Generation) -> tuple[float, int]:
    """Sum of log P(char) over the generated text under the model alone, and how many characters."""
    context = context_of(engine, g)
    ids = engine.vocab.encode(context + g.text)
    logits, _ = engine.network.prime(ids[:-1])
    logp = log_softmax(logits[len(context) - 1 :])
    targets = ids[len(context) :]
    return float(logp[np.arange(len(targets)), targets].sum()), len(targets)


def score(engine: Engine, replies: list[Generation], lexicon_counts: dict[str, list[int]]) -> dict[str, float]:
    names = engine.speaker_names
    all_words = [w for g in replies for w in generated_words(g)]
    counts = [lexicon_counts.get(w, [0])[0] for w in all_words]
    logp = [logprob_per_char(engine, g) for g in replies]
    return {
        "replies": len(replies),
        "one_speech": sum(one_speech(g, names) for g in replies) / len(replies),
        "words_of_the_plays": sum(c > 0 for c in counts) / len(counts),
        "rare_words": sum(0 < c <= 2 for c in counts) / len(counts),
        "sentence_end": sum(map(ends_sentence, replies)) / len(replies),
        "median_length": statistics.median(len(g.text) for g in replies),
        "logprob_per_char": sum(s for s, _ in logp) / sum(n for _, n in logp),
    }


MODES = {"free": dict(monologue=False), "prose": dict(verse=False), "verse": dict(verse=True)}


def request(engine: Engine, seed: str, rng: np.random.Generator, **options: bool) -> GenerationRequest:
    """A request for one of SEEDS: a monologue's speaker read from it as bard-generate reads one ("Hamlet: O")."""
    if options.get("monologue", True) and engine.speakers is not None:
        speaker, speech = engine.speakers.split_seed(seed)
        return GenerationRequest(speech, rng=rng, speaker=speaker, **options)
    return GenerationRequest(seed, rng=rng, **options)


def speed(engine: Engine, rounds: int = 5) -> dict[str, float]:
    """chars/s, best of `rounds` interleaved rounds, for one stream and 32 batched, with and without the rules."""
    best: dict[str, float] = {}
    for r in range(rounds):
        for mode in ("prose", "free"):
            for streams in (1, 32):
                requests = [
                    request(engine, SEEDS[(r + i) % len(SEEDS)], np.random.default_rng(i), **MODES[mode])
                    for i in range(8 if streams == 1 else 32)
                ]
                start = time.perf_counter()
                if streams == 1:
                    out = [engine.generate_batch([one])[0] for one in requests]
                else:
                    out = engine.generate_batch(requests)
                rate = sum(g.sampled for g in out) / (time.perf_counter() - start)
                key = f"{mode}_{streams}"
                best[key] = max(best.get(key, 0.0), rate)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--replies", type=int, default=200, help="replies per mode (default 200)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        model = store.load(args.model)
    except store.ModelError as exc:
        print(f"monologue: error: {exc}", file=sys.stderr)
        return 2
    if model.lexicon is None or model.speakers is None:
        print(f"monologue: error: {args.model} has no lexicon or speakers (python -m training.speech_data)")
        return 2
    if args.replies < len(SEEDS):
        print(f"monologue: error: --replies must be at least {len(SEEDS)}", file=sys.stderr)
        return 2
    engine = Engine(model)
    per_seed = -(-args.replies // len(SEEDS))
    results: dict[str, dict[str, float]] = {}
    samples: dict[str, list[Generation]] = {}
    for mode, options in MODES.items():
        replies = [
            engine.generate_batch([request(engine, seed, np.random.default_rng(r), **options)])[0]
            for seed in SEEDS
            for r in range(per_seed)
        ]
        results[mode] = score(engine, replies, model.lexicon.counts)
        samples[mode] = replies
    rates = speed(engine)
    f, m, v = results["free"], results["prose"], results["verse"]
    for scored in (m, v):
        scored["logprob_change"] = scored["logprob_per_char"] - f["logprob_per_char"]
    m["speed_ratio_1"] = rates["prose_1"] / rates["free_1"]
    m["speed_ratio_32"] = rates["prose_32"] / rates["free_32"]

    print(f"model {args.model}, {m['replies']} replies per mode (default settings: 400 chars, temperature 0.8)")
    print(f"{'measure':<28}{'free text':>12}{'prose mono':>12}{'target':>10}{'verse mono':>12}")
    keys = ("one_speech", "words_of_the_plays", "rare_words", "sentence_end", "median_length", "logprob_per_char")
    for key in (*keys, "logprob_change"):
        fmt = "{:>12.1%}" if key not in ("median_length", "logprob_per_char", "logprob_change") else "{:>12.3f}"
        target = TARGETS.get(key)
        shown = f"{target[0]} {target[1]:g}" if target else ""
        free = fmt.format(f[key]) if key in f else f"{'':>12}"
        print(f"{key:<28}{free}" + fmt.format(m[key]) + f"{shown:>10}" + fmt.format(v[key]))
    for streams in (1, 32):
        print(
            f"speed {streams:>2} stream(s), chars/s     {rates[f'free_{streams}']:>12,.0f}"
            f"{rates[f'prose_{streams}']:>12,.0f}   ratio {m[f'speed_ratio_{streams}']:.3f} (>= 0.95)"
        )
    missed = [k for k, (op, bound) in TARGETS.items() if not (m[k] >= bound if op == ">=" else m[k] <= bound)]
    print("targets: all met" if not missed else f"targets missed: {', '.join(missed)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "speed": rates}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
