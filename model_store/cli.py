"""bard-generate: continue a seed with an exported model, streaming the text as it is written (or write a sonnet)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from model_store import DEFAULT_MODEL_DIR, hold_blas_to_one_thread
from model_store.limits import MAX_TEMPERATURE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bard-generate", description=__doc__)
    p.add_argument("--seed", default="", help="text to continue (default: empty, the model opens a speech)")
    p.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help=f"exported model (default {DEFAULT_MODEL_DIR})"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help=f"sampling temperature, 0 to {MAX_TEMPERATURE:g}; 0 = greedy (default 0.8)",
    )
    p.add_argument("--top-k", type=int, default=0, help="sample among the K likeliest characters; 0 = off")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass in (0, 1]; 1 = off")
    p.add_argument("--length", type=int, default=400, help="maximum characters to generate (default 400)")
    p.add_argument("--rng-seed", type=int, default=None, help="random seed: same model, seed and options, same text")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hold_blas_to_one_thread()  # before numpy is imported, which the engine does
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
            couplet=not args.no_couplet,
            sonnet=args.sonnet,
        )
        engine = Engine(load(args.model))
        if args.sonnet and not engine.sonnets:
            raise ValueError(f"{args.model} has no rhymes (or speakers): it cannot write sonnets")
    except (ValueError, ModelError) as exc:
        print(f"bard-generate: error: {exc}", file=sys.stderr)
        return 2
    if request.monologue and not engine.monologues:
        print(f"bard-generate: {args.model} has no speakers: writing free text (see README)", file=sys.stderr)
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

    engine.generate_batch([request], on_start=start, on_text=write)
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
