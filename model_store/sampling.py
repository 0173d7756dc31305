"""Choosing the next character from logits: temperature, top-k, top-p, greedy.

Every row goes through exactly the same arithmetic as it would alone (rows are never mixed, and
which path a row takes depends only on its own options), so a stream's text does not depend on
which other streams share its batch.
"""

from __future__ import annotations

import numpy as np

from model_store.vocab import UNKNOWN_ID


def _pick(probs: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per row from unnormalised probabilities: always an id of non-zero probability.

    The pick is the first id whose cumulative sum exceeds the draw (so a draw of exactly 0.0 skips the
    zero-probability ids in front), and never past the first id that reaches the total (rounding can put
    uniform * total on the total itself; ids after it have zero probability).
    """
    cum = np.cumsum(probs, axis=1)
    total = cum[:, -1:]
    return np.minimum((cum <= uniform[:, None] * total).sum(axis=1), (cum < total).sum(axis=1))


def _sample_full(z: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Plain softmax sampling: no sort needed. Overwrites z."""
    z -= z.max(axis=1, keepdims=True)
    return _pick(np.exp(z, out=z), uniform)


def _sample_truncated(z: np.ndarray, top_k: np.ndarray, top_p: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Sampling restricted to the top-k and/or the top-p nucleus, in likelihood order."""
    order = np.argsort(-z, axis=1, kind="stable")  # most likely first
    zs = np.take_along_axis(z, order, axis=1)
    probs = np.exp(zs - zs[:, :1])
    k = np.where(top_k > 0, top_k, z.shape[1])[:, None]
    probs[np.arange(z.shape[1])[None, :] >= k] = 0.0
    cum = np.cumsum(probs, axis=1)
    # Nucleus: keep the smallest prefix whose mass reaches top_p (always at least one).
    probs[(cum - probs) >= top_p[:, None] * cum[:, -1:]] = 0.0
    return order[np.arange(len(z)), _pick(probs, uniform)]


class BatchSampler:
    """Picks one id per row for a fixed set of rows, each with its own options.

    Per row: temperature (0 = greedy), top_k (0 = off), top_p (1 = off). Which path each row takes
    is worked out once here, not at every step; the unknown id is never picked.
    """

    def __init__(self, temperature: np.ndarray, top_k: np.ndarray, top_p: np.ndarray) -> None:
        self.temperature = np.asarray(temperature, np.float64)
        self.top_k = np.asarray(top_k, np.int64)
        self.top_p = np.asarray(top_p, np.float64)
        greedy = self.temperature <= 0
        truncated = ~greedy & ((self.top_k > 0) | (self.top_p < 1))
        self._divisor = np.where(greedy, 1.0, self.temperature)[:, None]
        self._greedy = np.flatnonzero(greedy)
        self._full = np.flatnonzero(~greedy & ~truncated)
        self._truncated = np.flatnonzero(truncated)
        self._all_full = len(self._full) == len(greedy)

    def take(self, rows: np.ndarray | list[int]) -> BatchSampler:
        """The sampler for a subset of the rows, in that order."""
        return BatchSampler(self.temperature[rows], self.top_k[rows], self.top_p[rows])

    def __call__(
        self,
        logits: np.ndarray,
        uniform: np.ndarray,
        banned: np.ndarray | None = None,
    ) -> np.ndarray:
        """logits (B, V), one uniform draw in [0, 1) per row from that row's own generator, and optionally
        a (B, V) boolean mask of ids each row may not pick (the monologue's rules; they never ban a whole row)."""
        z = np.divide(logits, self._divisor)  # float64 from here: the cumulative sums need it
        z[:, UNKNOWN_ID] = -np.inf
        if banned is not None:
            np.putmask(z, banned, -np.inf)
        if self._all_full:  # the common case: plain sampling
            return _sample_full(z, uniform)
        out = np.empty(len(z), np.int64)
        if len(g := self._greedy):
            out[g] = np.argmax(z[g], axis=1)
        if len(f := self._full):
            out[f] = _sample_full(z[f], uniform[f])
        if len(t := self._truncated):
            out[t] = _sample_truncated(z[t], self.top_k[t], self.top_p[t], uniform[t])
        return out
