"""bard-generate: continue a seed with an exported model, streaming the text as it is written (or write a sonnet)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from model_store import DEFAULT_MODEL_DIR, hold_blas_to_one_thread
from model_store.limits import DEFAULT_TOPIC, MAX_CHARS, MAX_TEMPERATURE, MAX_TOP_K, MAX_TOPIC

EXAMPLES = f"""examples:
  bard-generate --seed "To be, or not to be" --temperature 0.8 --length 400 --rng-seed 1
  bard-generate --seed "Hamlet: O that this too too solid flesh"    (a monologue by the speaker named)
  bard-generate --model model_store/othello --seed "OTHELLO:" --prose
  bard-generate --seed "What news from France?" --explain    (who was chosen to speak it, and why)

The default model is the bundled one ({DEFAULT_MODEL_DIR})."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bard-generate", description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", default="", help="text to continue (default: empty, the model opens a speech)")
    p.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_DIR,
        metavar="DIR",
        help="an exported model's folder (default: the bundled model)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        metavar="T",
        help=f"sampling temperature, 0 to {MAX_TEMPERATURE:g}: 0 always picks the likeliest character (default 0.8)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=0,
        metavar="K",
        help=f"sample among the K likeliest characters, 0 to {MAX_TOP_K} (default 0: off)",
    )
    p.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        metavar="P",
        help="sample among the likeliest characters that make up P of the odds, above 0 up to 1 (default 1: off)",
    )
    p.add_argument(
        "--length",
        type=int,
        default=400,
        metavar="N",
        help=f"characters to write at most, 1 to {MAX_CHARS} (default 400)",
    )
    p.add_argument(
        "--rng-seed", type=int, default=None, metavar="N", help="random seed: same model, seed and options, same text"
    )
    p.add_argument(
        "--free",
        action="store_true",
        help="free text: no one speech by one speaker, and invented words allowed (default: a monologue; "
        "name its speaker in the seed, 'Hamlet: To be')",
    )
    p.add_argument(
        "--prose", action="store_true", help="a monologue in prose (default: blank verse, on a model with its metre)"
    )
    p.add_argument(
        "--topic",
        type=float,
        default=DEFAULT_TOPIC,
        metavar="S",
        help=f"how strongly the speech keeps to its seed's subject, 0 (off) to {MAX_TOPIC:g}, on a model with a "
        f"topic record: its words in nouns' places, the network told of it (default {DEFAULT_TOPIC:g}; docs/topic.md)",
    )
    p.add_argument(
        "--odds-speaker",
        action="store_true",
        help="with nobody named, the speaker drawn by the model's odds alone, as before (default: the seed chooses: "
        "a line of the plays goes to whoever says it, other seeds lean to who uses their words)",
    )
    p.add_argument(
        "--explain", action="store_true", help="print who speaks it and why, its subject, the words placed (to stderr)"
    )
    p.add_argument(
        "--no-couplet",
        action="store_true",
        help="a verse monologue that does not close on a rhyming couplet (default: it does, on a model with rhymes)",
    )
    p.add_argument(
        "--sonnet",
        action="store_true",
        help="a Shakespearean sonnet (14 rhymed lines, no speaker; the seed opens its first line) instead of a speech",
    )
    return p


def bad_option(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, named as they are typed, or None: the limits of model_store/limits.py."""
    if not 0 <= args.temperature <= MAX_TEMPERATURE:  # also NaN
        return f"--temperature must be from 0 to {MAX_TEMPERATURE:g} (got {args.temperature:g})"
    if not 0 <= args.top_k <= MAX_TOP_K:
        return f"--top-k must be from 0 (off) to {MAX_TOP_K} (got {args.top_k})"
    if not 0 < args.top_p <= 1:
        return f"--top-p must be above 0 and at most 1 (1 is off; got {args.top_p:g})"
    if not 1 <= args.length <= MAX_CHARS:
        return f"--length must be from 1 to {MAX_CHARS} characters (got {args.length})"
    if not 0 <= args.topic <= MAX_TOPIC:
        return f"--topic must be from 0 (off) to {MAX_TOPIC:g} (got {args.topic:g})"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hold_blas_to_one_thread()  # before numpy is imported, which the engine does
    if problem := bad_option(args):
        print(f"bard-generate: error: {problem}", file=sys.stderr)
        return 2
    import numpy as np

    from model_store.engine import Engine, GenerationRequest
    from model_store.store import ModelError, load

    try:
        rng = np.random.default_rng(args.rng_seed)
        request = GenerationRequest(
            args.seed,
            args.length,
            args.temperature,
            args.top_k,
            args.top_p,
            rng,
            monologue=not args.free,
            verse=not args.prose,
            seed_speaker=not args.odds_speaker,
            topic=args.topic,
            couplet=not args.no_couplet,
            sonnet=args.sonnet,
        )
        engine = Engine(load(args.model))
        if args.sonnet and not engine.sonnets:
            raise ValueError(f"{args.model} has no rhymes (or speakers): it cannot write sonnets")
    except ModelError as exc:
        print(f"bard-generate: error: --model {args.model}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"bard-generate: error: {exc}", file=sys.stderr)
        return 2
    if request.monologue and not engine.monologues:
        print(f"bard-generate: {args.model} has no speakers: free text (see docs/generating.md)", file=sys.stderr)
    cleaned = engine.clean(args.seed)
    for change in cleaned.changes:
        print(f"bard-generate: seed changed: {change}", file=sys.stderr)
    if request.monologue and engine.speakers is not None and not request.sonnet:
        # A monologue's seed may open with its speaker ("Hamlet: To be"), read as the model will see the seed.
        speaker, speech = engine.speakers.split_seed(cleaned.text)
        request = replace(request, seed=speech, speaker=speaker)
    out = sys.stdout

    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    def start(speaker: str | None, seed: str) -> None:  # the speaker and the seed, then the text as it comes
        write(f"{speaker}:\n{seed}" if speaker else seed)

    generation = engine.generate_batch([request], on_start=start, on_text=write)[0]
    out.write("\n")
    if args.explain:
        print(explanation(generation, request.speaker is not None), file=sys.stderr)
        if generation.subject:
            print(f"subject: {', '.join(generation.subject)}", file=sys.stderr)
        if generation.named:
            print(f"named in a noun's place: {', '.join(generation.named)}", file=sys.stderr)
    return 0


def explanation(generation, named: bool) -> str:  # a Generation: the engine is imported late, for --help's speed
    """Who was likeliest to speak the seed and why, for --explain."""
    choice = generation.choice
    if choice is None:
        why = "named in the seed" if named else "free text" if generation.speaker is None else "the model's odds alone"
        return f"speaker: {generation.speaker or 'none'} ({why})"
    if choice.quotation:
        head = f"speaker: {choice.speaker}, who says this line in the plays"
    else:
        words = ", ".join(choice.words) or "none the plays' word models know"
        head = f"speaker: {choice.speaker}, drawn by the model's odds times the fit of the seed's words ({words})"
    rows = [
        f"  {name:<24} odds {odds:6.1%}  fit {fit:+7.2f}  chance {chance:6.1%}"
        for name, odds, fit, chance in choice.candidates
    ]
    return "\n".join([head, "  likeliest without a quotation:" if choice.quotation else "  likeliest:", *rows])


if __name__ == "__main__":
    sys.exit(main())
