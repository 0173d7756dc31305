"""Pure data preparation: encoded text -> (input, next-character target) sequences.

Every position of every sequence is a training example (sequence-to-sequence), so one pass over
the text costs one forward/backward pass per character, not one per 100-character window.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping sequences: x = ids[i : i+L], y = ids[i+1 : i+L+1]."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"text of {len(ids)} characters is shorter than one sequence of {seq_len + 1}")
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return x, y


def make_dataset(ids: np.ndarray, seq_len: int, batch_size: int, *, shuffle: bool, seed: int) -> tf.data.Dataset:
    """A tf.data pipeline of (x, y) batches; training shuffles each epoch, validation keeps every window."""
    x, y = windows(ids, seq_len)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        # A partial last batch would retrace the step function; training drops it, unless it is all there is.
        ds = ds.batch(batch_size, drop_remainder=len(x) >= batch_size)
    else:
        ds = ds.batch(batch_size)
    # Batches are slices of an array in memory, so two in hand is plenty, and tf.data's autotuner stays off: its
    # thread waits out an optimisation period of up to a minute, and deleting an epoch's iterator waited for it
    # (measured: 50-55 s with no CPU used, after about one epoch in three).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)
