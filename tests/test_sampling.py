"""Choosing the next character: greedy, temperature, top-k, top-p, masks, and the edges of the draw."""

from __future__ import annotations

import numpy as np

from model_store.sampling import BatchSampler


def pick(logits: np.ndarray, uniform: float, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> int:
    sampler = BatchSampler(np.array([temperature]), np.array([top_k]), np.array([top_p]))
    return int(sampler(logits[None, :], np.array([uniform]))[0])


def picks(logits: np.ndarray, n: int, **options: float) -> set[int]:
    draws = np.random.default_rng(0).random(n)
    return {pick(logits, u, **options) for u in draws}


def test_greedy_top_k_and_never_unknown():
    logits = np.array([9.0, 1.0, 3.0, 2.0])  # id 0 is the unknown character
    assert pick(logits, 0.5, temperature=0) == 2
    assert picks(logits, 50, top_k=1) == {2}
    assert picks(logits, 200, temperature=5.0, top_k=2) == {2, 3}
    assert picks(logits, 500, temperature=10.0) == {1, 2, 3}


def test_top_p_keeps_the_nucleus():
    logits = np.log(np.array([1e-9, 0.6, 0.3, 0.1]))
    assert picks(logits, 200, top_p=0.5) == {1}
    assert picks(logits, 500, top_p=0.85) == {1, 2}


def test_the_edges_of_the_draw_pick_only_possible_ids():
    logits = np.array([0.0, -np.inf, 1.0, -np.inf, 2.0, -np.inf])  # the unknown id and the -inf ids are impossible
    assert pick(logits, 0.0) == 2  # a draw of exactly 0.0 skips the impossible ids in front
    assert pick(logits, np.nextafter(1.0, 0.0)) == 4  # the largest draw never runs past the last possible id
    for top_k in (0, 2):
        assert pick(logits, 0.0, top_k=top_k) in (2, 4) and pick(logits, np.nextafter(1, 0), top_k=top_k) in (2, 4)


def test_a_mask_bans_ids_per_row():
    logits = np.zeros((3, 5))
    banned = np.zeros((3, 5), bool)
    banned[0, [1, 2, 3]] = True  # row 0 may only write id 4
    banned[1, 4] = True
    sampler = BatchSampler(np.array([1.0, 1.0, 0.0]), np.array([0, 2, 0]), np.array([1.0, 1.0, 1.0]))
    for u in np.random.default_rng(1).random((50, 3)):
        out = sampler(logits, u, banned)
        assert out[0] == 4 and out[1] in (1, 2, 3) and out[2] == 1


def test_batch_rows_are_independent():
    logits = np.random.default_rng(0).normal(size=(6, 30))
    # Rows of every kind side by side: plain softmax, top-k, top-p, both, another softmax, greedy.
    t, k, p = np.array([0.9, 0.9, 0.9, 0.9, 0.7, 0]), np.array([0, 3, 0, 5, 0, 0]), np.array([1, 1, 0.8, 0.9, 1, 1])
    u = np.random.default_rng(1).random(6)
    together = BatchSampler(t, k, p)(logits, u)
    alone = [
        BatchSampler(t[i : i + 1], k[i : i + 1], p[i : i + 1])(logits[i : i + 1], u[i : i + 1])[0] for i in range(6)
    ]
    assert list(together) == alone
