"""Fit throughput, side by side: precision, XLA, batch and sequence length, in one run (ratios are what count).

Every candidate is the model training/model.py builds, started from the same initial weights, trained with the
recipe's optimizer (Adam, clipnorm 1, a constant learning rate) on the same shuffled windows in the same order
(for the same batch and sequence length). The candidates take turns, --chunk steps at a time, until each has
made --steps timed steps, so a busy spell of a shared machine falls on all of them; the first --warmup steps
of each (tracing, XLA compilation) are not timed. Afterwards every candidate's float32 weights are evaluated
by the same float32 model on the same validation windows: candidates of the same batch and sequence length
have seen the same data, so their val losses show whether a lower precision costs accuracy.

The input pipeline (training/data.py's tf.data dataset) is timed alone, to show that it is never the bottleneck.

A candidate is PRECISION[+jit][+keras]/BATCHxSEQ: f32+keras/128x128 (the recipe before the f32-gates layer),
bf16/128x128 (today's default), bf16+jit/256x64; +keras fits Keras's own LSTM layer instead of training/model.py's
F32GateLSTM (--lstm-impl). The first is the baseline of the ratios.

Usage: python benchmarks/fit_throughput.py [--text FILE] [--candidate SPEC ...] [--steps N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import numpy as np
import tensorflow as tf

from model_store.vocab import Vocab
from training.config import TrainConfig
from training.corpus import build_corpus, read_text_sources, select_plays
from training.data import make_dataset, windows
from training.hardware import bf16_supported
from training.model import build_model, compile_for_fit

PRECISION_NAMES = {"f32": "float32", "bf16": "mixed_bfloat16"}
DEFAULT_CANDIDATES = ["f32+keras/128x128", "bf16+keras/128x128", "f32/128x128", "bf16/128x128"]
EVAL_SEQ, EVAL_BATCH = 128, 128


@dataclass(frozen=True)
class Candidate:
    precision: str  # a Keras dtype policy: float32 or mixed_bfloat16
    jit: bool
    batch: int
    seq: int
    lstm_impl: str  # one of training/config.py's LSTM_IMPL_CHOICES

    @property
    def name(self) -> str:
        short = {v: k for k, v in PRECISION_NAMES.items()}[self.precision]
        keras_lstm = "+keras" if self.lstm_impl == "keras" else ""
        return f"{short}{'+jit' if self.jit else ''}{keras_lstm}/{self.batch}x{self.seq}"


def parse_candidate(spec: str) -> Candidate:
    """f32/128x128, bf16+jit/64x256, bf16+keras/128x128: precision, optional +jit and +keras, batch x sequence."""
    try:
        mode, shape = spec.split("/")
        precision, *flags = mode.split("+")
        batch, seq = (int(n) for n in shape.split("x"))
        if precision not in PRECISION_NAMES or not set(flags) <= {"jit", "keras"} or batch < 1 or seq < 2:
            raise ValueError
    except ValueError:
        msg = f"not a candidate (PRECISION[+jit][+keras]/BATCHxSEQ, e.g. bf16+jit/128x128): {spec}"
        raise argparse.ArgumentTypeError(msg) from None
    lstm_impl = "keras" if "keras" in flags else TrainConfig().lstm_impl
    return Candidate(PRECISION_NAMES[precision], "jit" in flags, batch, seq, lstm_impl)


class Batches:
    """The training windows of one batch and sequence length, shuffled by the seed, one batch after another."""

    def __init__(self, ids: np.ndarray, batch: int, seq: int, seed: int) -> None:
        self.x, self.y = windows(ids, seq)
        self.batch, self.rng = batch, np.random.default_rng(seed)
        self.order, self.pos = self.rng.permutation(len(self.x)), 0

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pos + self.batch > len(self.order):
            self.order, self.pos = self.rng.permutation(len(self.x)), 0
        take = self.order[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return self.x[take], self.y[take]


class Runner:
    """One candidate: its model, its own copy of the data order, and its timed steps."""

    def __init__(self, cand: Candidate, vocab_size: int, arch: dict, init: list, ids: np.ndarray, seed: int) -> None:
        self.cand = cand
        self.model = build_model(vocab_size, **arch, precision=cand.precision, lstm_impl=cand.lstm_impl)
        self.model.set_weights(init)
        compile_for_fit(self.model, TrainConfig(jit_compile=cand.jit))  # the recipe's optimizer and loss
        self.batches = Batches(ids, cand.batch, cand.seq, seed)
        self.steps, self.seconds, self.loss = 0, 0.0, float("nan")

    def train(self, steps: int, timed: bool) -> None:
        t = time.perf_counter()
        for _ in range(steps):
            self.loss = float(self.model.train_on_batch(*self.batches.next()))  # float(): the step has finished
        if timed:
            self.steps += steps
            self.seconds += time.perf_counter() - t

    def chars_per_second(self) -> float:
        return self.steps * self.cand.batch * self.cand.seq / self.seconds


def time_input_pipeline(ids: np.ndarray, cand: Candidate, steps: int, seed: int) -> float:
    """Batches per second that training/data.py's dataset delivers on its own."""
    ds = make_dataset(ids, cand.seq, cand.batch, shuffle=True, seed=seed).repeat()
    it = iter(ds)
    next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps / (time.perf_counter() - t)


def load_ids(text: Path | None, val_fraction: float) -> tuple[np.ndarray, np.ndarray, int, str]:
    sources = read_text_sources([text]) if text else select_plays([], [], True)
    corpus = build_corpus(sources, val_fraction)
    vocab = Vocab.from_text(corpus.train_text)
    return vocab.encode(corpus.train_text), vocab.encode(corpus.val_text), vocab.size, corpus.description


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, help="a UTF-8 text file (default: all bundled plays)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--candidate", action="append", type=parse_candidate, metavar="SPEC", help="repeatable")
    p.add_argument("--steps", type=int, default=200, help="timed steps per candidate")
    p.add_argument("--chunk", type=int, default=25, help="steps per turn")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per candidate first")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--units", type=int, default=448)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--val-chars", type=int, default=200_000, help="evaluate on the first N validation characters")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--json", type=Path, default=Path("runs/benchmarks/training.json"))
    args = p.parse_args()
    cands: list[Candidate] = args.candidate or [parse_candidate(s) for s in DEFAULT_CANDIDATES]
    if args.steps < 1 or args.chunk < 1 or args.warmup < 0:
        p.error("--steps and --chunk must be at least 1, --warmup at least 0")

    train_ids, val_ids, vocab_size, description = load_ids(args.text, args.val_fraction)
    arch = {"embedding_dim": args.embedding_dim, "layers": args.layers, "units": args.units, "dropout": 0.25}
    keras.utils.set_random_seed(args.seed)
    init = build_model(vocab_size, **arch).get_weights()
    print(
        f"{description}: {len(train_ids):,} training characters; model {args.layers}x{args.units}, "
        f"embedding {args.embedding_dim}; CPU bf16 support: {bf16_supported()}; {os.cpu_count()} CPUs; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        flush=True,
    )

    runners = [Runner(c, vocab_size, arch, init, train_ids, args.seed) for c in cands]
    started = time.perf_counter()
    for r in runners:
        t = time.perf_counter()
        r.train(args.warmup, timed=False)
        print(f"  warm-up {r.cand.name}: {time.perf_counter() - t:.1f} s", flush=True)
    while any(r.steps < args.steps for r in runners):
        for r in runners:
            if r.steps < args.steps:
                r.train(min(args.chunk, args.steps - r.steps), timed=True)
        done = ", ".join(f"{r.cand.name} {r.steps} steps {r.chars_per_second():,.0f} c/s" for r in runners)
        print(f"  [{time.perf_counter() - started:.0f} s] {done}", flush=True)

    evaluator = build_model(vocab_size, **arch)
    evaluator.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    val_x, val_y = windows(val_ids[: args.val_chars + 1], EVAL_SEQ)
    pipeline = {c.name: time_input_pipeline(train_ids, c, 200, args.seed) for c in cands}

    base = runners[0].chars_per_second()
    rows = []
    for r in runners:
        evaluator.set_weights(r.model.get_weights())
        val = float(evaluator.evaluate(val_x, val_y, batch_size=EVAL_BATCH, verbose=0))
        step_seconds = r.seconds / r.steps
        rows.append(
            asdict(r.cand)
            | {
                "name": r.cand.name,
                "steps": args.warmup + r.steps,
                "timed_steps": r.steps,
                "seconds_per_step": round(step_seconds, 4),
                "chars_per_second": round(r.chars_per_second(), 1),
                "ratio": round(r.chars_per_second() / base, 3),
                "train_loss": round(r.loss, 4),
                "val_loss": round(val, 4),
                "input_pipeline_steps_per_second": round(pipeline[r.cand.name], 1),
                "input_share_of_step": round(1 / pipeline[r.cand.name] / step_seconds, 5),
            }
        )

    print(f"\nval loss: float32 evaluation of the first {len(val_x) * EVAL_SEQ:,} validation characters")
    print(
        f"{'candidate':<18} {'steps':>5} {'s/step':>7} {'chars/s':>9} {'ratio':>6} {'train':>7} {'val':>7} {'input':>7}"
    )
    for row in rows:
        print(
            f"{row['name']:<18} {row['steps']:>5} {row['seconds_per_step']:>7.3f} {row['chars_per_second']:>9,.0f} "
            f"{row['ratio']:>5.2f}x {row['train_loss']:>7.4f} {row['val_loss']:>7.4f} "
            f"{row['input_share_of_step']:>6.2%}"
        )
    print("(steps include the untimed warm-up; input: the tf.data pipeline's time per batch, as a share of a step)")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "corpus": description,
                "model": arch | {"vocab_size": vocab_size},
                "warmup_steps": args.warmup,
                "chunk": args.chunk,
                "val_chars": int(len(val_x) * EVAL_SEQ),
                "bf16_supported": bf16_supported(),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
                "seconds": round(time.perf_counter() - started, 1),
                "candidates": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
