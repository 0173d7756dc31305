"""Choosing the next character from logits: temperature, top-k, top-p, greedy.

Every row goes through exactly the same arithmetic as it would alone (rows are never mixed, and
which path a row takes depends only on its own options), so a stream's text does not depend on
which other streams share its batch.
"""

from __future__ import annotations

import numpy as np

from model_store.vocab import UNKNOWN_ID


def _pick(probs: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per row from unnormalised probabilities."""
    cum = np.cumsum(probs, axis=1)
    pick = (cum < uniform[:, None] * cum[:, -1:]).sum(axis=1)
    return np.minimum(pick, probs.shape[1] - 1)


def _sample_full(z: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Plain softmax sampling: no sort needed."""
    return _pick(np.exp(z - z.max(axis=1, keepdims=True)), uniform)


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


def sample_batch(
    logits: np.ndarray,
    temperature: np.ndarray,
    top_k: np.ndarray,
    top_p: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Pick one id per row.

    logits (B, V); per row: temperature (0 = greedy), top_k (0 = off), top_p (1 = off), and one
    uniform draw in [0, 1) from that row's own generator. The unknown id is never picked.
    """
    z = logits.astype(np.float64)
    z[:, UNKNOWN_ID] = -np.inf
    greedy = temperature <= 0
    z /= np.where(greedy, 1.0, temperature)[:, None]
    truncated = ~greedy & ((top_k > 0) | (top_p < 1))
    full = ~greedy & ~truncated
    out = np.empty(len(z), np.int64)
    if greedy.any():
        out[greedy] = np.argmax(z[greedy], axis=1)
    if full.any():
        out[full] = _sample_full(z[full], uniform[full])
    if truncated.any():
        out[truncated] = _sample_truncated(z[truncated], top_k[truncated], top_p[truncated], uniform[truncated])
    return out


def sample(
    logits: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> int:
    """Pick one id from a single row of logits (V,)."""
    row = sample_batch(
        logits[None, :],
        np.array([temperature]),
        np.array([top_k]),
        np.array([top_p]),
        np.array([rng.random()]),
    )
    return int(row[0])
