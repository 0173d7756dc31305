"""Replies for the topic judge: the shipped model (or --model) answering a list of seeds, as JSONL.

    python benchmarks/topic_replies.py --out runs/eval/replies.jsonl [--rng-seeds 4] [--famous]
        [--model DIR] [--field name=value ...]

Each seed of SEEDS (or, with --famous, each line of benchmarks/famous_lines.py, with its play) is asked under
random seeds 0..N-1 at the default settings (a verse monologue, 400 characters, temperature 0.8); a seed that
names its speaker ("Hamlet: O that") is read as bard-generate reads it. --field sets any other field of the
engine's GenerationRequest (--field temperature=0.6 --field verse=false), so settings added later need no change
here. One line per reply: {"seed", "text", "speaker", "rng", "play" (with --famous), "named" (the subject's words
given a noun's place, if any)}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from famous_lines import FAMOUS_LINES

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, GenerationRequest

SEEDS = (
    "To be, or not to be",
    "Now is the winter of our discontent",
    "O Romeo, Romeo",
    "Friends, Romans, countrymen",
    "All the world's a stage",
    "Tomorrow, and tomorrow",
    "If music be the food of love",
    "The quality of mercy",
    "Once more unto the breach",
    "Is this a dagger",
    "Blow, winds",
    "Our revels now are ended",
    "What news from France",
    "The king is dead",
    "My lord, the queen",
    "Good morrow",
    "I love thee",
    "Where is my father",
    "The sea was calm",
    "Bring me wine",
    "The battle is lost",
    "Thy mother sends for thee",
    "I have a letter from your brother",
    "The night is cold",
    "Give me the money",
    "Why do you weep",
    "The horses are ready",
    "She is dead",
    "How fares the prince",
    "I will not marry him",
    "The city gates are shut",
    "What is the matter",
    "There is a ghost",
    "The garden is full of roses",
    "My sword is broken",
    "Let us go hunting",
    "Hark, the bell",
    "Fetch the doctor",
    "I am hungry",
    "Who is at the door",
    "The ship is lost at sea",
    "Hamlet: O that this too too solid flesh",
    "Juliet: What's in a name",
    "Macbeth: Is this a dagger",
    "Falstaff: What is honour",
    "Iago: I am not what I am",
    "Lady Macbeth: Out, damned spot",
    "Portia: The quality of mercy is not strained",
    "",
    "Speak",
)


def parse_field(text: str) -> tuple[str, object]:
    """A --field value, name=value, as (name, value of the field's type): temperature=0.6 -> ("temperature", 0.6)."""
    name, sep, value = text.partition("=")
    known = {f.name: f for f in dataclasses.fields(GenerationRequest)}
    if not sep or name not in known or name in ("seed", "rng"):
        settable = ", ".join(n for n in known if n not in ("seed", "rng"))
        raise SystemExit(f"topic_replies: error: --field {text!r}: want name=value, a name among: {settable}")
    kind = str(known[name].type)
    try:
        if kind.startswith("bool"):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return name, value.lower() in ("true", "1")
        if kind.startswith("int"):
            return name, int(value)
        if kind.startswith("float"):
            return name, float(value)
    except ValueError:
        raise SystemExit(f"topic_replies: error: --field {text!r}: {value!r} is not a {kind}") from None
    return name, None if value == "" and "None" in kind else value


def asked(famous: bool) -> list[tuple[str, str | None]]:
    return list(FAMOUS_LINES) if famous else [(seed, None) for seed in SEEDS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--rng-seeds", type=int, default=4, help="random seeds per seed (default 4)")
    parser.add_argument("--famous", action="store_true", help="the famous lines (no speaker named) instead")
    parser.add_argument("--field", action="append", default=[], help="name=value: another GenerationRequest field")
    parser.add_argument("--batch", type=int, default=32, help="requests generated together (default 32)")
    args = parser.parse_args(argv)
    if args.rng_seeds < 1 or args.batch < 1:
        parser.error("--rng-seeds and --batch must be at least 1")
    fields = dict(parse_field(f) for f in args.field)
    try:
        model = store.load(args.model)
    except store.ModelError as exc:
        raise SystemExit(f"topic_replies: error: {exc}") from None
    engine = Engine(model)
    jobs = []
    for seed, play in asked(args.famous):
        speaker, speech = engine.speakers.split_seed(seed) if engine.speakers else (None, seed)
        for r in range(args.rng_seeds):
            try:
                request = GenerationRequest(speech, rng=np.random.default_rng(r), speaker=speaker, **fields)
            except (TypeError, ValueError) as exc:
                raise SystemExit(f"topic_replies: error: {exc}") from None
            jobs.append((request, seed, play, r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    with partial.open("w") as f:
        for start in range(0, len(jobs), args.batch):
            chunk = jobs[start : start + args.batch]
            for (_, seed, play, r), g in zip(chunk, engine.generate_batch([j[0] for j in chunk]), strict=True):
                reply = {"seed": g.seed, "text": g.text, "speaker": g.speaker, "rng": r, "asked": seed}
                reply |= {"named": list(g.named)} if g.named else {}
                f.write(json.dumps(reply | ({"play": play} if play else {}), ensure_ascii=False) + "\n")
    partial.replace(args.out)
    print(f"{len(jobs)} replies -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
