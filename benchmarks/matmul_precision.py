"""How much faster bfloat16 can make a fit step here: the LSTM's own matrix products and gate arithmetic, timed in
float32 and in bfloat16 side by side (ratios are what count).

A fit step of the network in training/model.py is, per time step and layer, two matrix products forward
(input and state times their kernels), four backward, and the gate arithmetic (sigmoids, tanh, products) on
batch x 4·units values. bfloat16 speeds up only what oneDNN runs on the CPU's bfloat16 dot-product instructions
(AVX-512 BF16 or AMX); elementwise arithmetic has no such instructions, so its ratio bounds the rest of the step.
What fit_throughput.py measures end to end lies between the two.

Usage: python benchmarks/matmul_precision.py [--units 576] [--batch 128] [--embedding 64] [--reps 200]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf


def shapes(units: int, batch: int, embedding: int) -> dict[str, tuple[int, int, int]]:
    """The (m, k, n) of each matrix product one time step of a 2-layer LSTM fit makes (the second layer's)."""
    gates = 4 * units
    return {
        "state x recurrent kernel (forward)": (batch, units, gates),
        "gate grads x kernel^T (backward)": (batch, gates, units),
        "state^T x gate grads (kernel grad)": (units, batch, gates),
        "embedding x kernel (first layer)": (batch, embedding, gates),
    }


def timed(fn, args, reps: int) -> float:
    """Seconds per call, the result read back each time so nothing is left queued."""
    start = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    _ = out.numpy()
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=576)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--reps", type=int, default=200, help="calls per candidate, in rounds of 20, interleaved")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    matmul = tf.function(tf.matmul)

    @tf.function
    def gates(z: tf.Tensor, c: tf.Tensor) -> tf.Tensor:
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c)

    cases = {
        name: lambda m=m, k=k, n=n: (matmul, (rng.standard_normal((m, k)), rng.standard_normal((k, n))), 2 * m * k * n)
        for name, (m, k, n) in shapes(args.units, args.batch, args.embedding).items()
    }
    z_shape, c_shape = (args.batch, 4 * args.units), (args.batch, args.units)
    cases["gate arithmetic (elementwise)"] = lambda: (
        gates,
        (rng.standard_normal(z_shape), rng.standard_normal(c_shape)),
        13 * args.batch * args.units,  # about 13 elementwise operations per unit
    )
    print(f"{args.units} units, batch {args.batch}, {args.reps} calls each, float32 and bfloat16 interleaved")
    print("| operation | float32 GFLOP/s | bfloat16 GFLOP/s | bfloat16 ÷ float32 |\n|---|---:|---:|---:|")
    for name, case in cases.items():
        fn, arrays, flops = case()
        prepared = {dtype: tuple(tf.cast(a, dtype) for a in arrays) for dtype in (tf.float32, tf.bfloat16)}
        seconds = dict.fromkeys(prepared, 0.0)
        for dtype in prepared:  # trace both before timing either
            fn(*prepared[dtype])
        rounds = max(1, args.reps // 20)
        for _ in range(rounds):
            for dtype in prepared:
                seconds[dtype] += timed(fn, prepared[dtype], 20) / rounds
        f32, bf16 = (flops / s / 1e9 for s in seconds.values())
        print(f"| {name} | {f32:.1f} | {bf16:.1f} | {bf16 / f32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
