"""The exported LSTM run in numpy: the state of a batch of streams, one step, a whole sequence, and scores.

The seed is fed once to build each layer's state; after that every new character costs one step of the
recurrence, never a re-run over past characters. The weights are rearranged once at load (below) so that a
step is one matrix product per layer. A test checks the logits against Keras's to 1e-4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from model_store import store
from model_store.store import LoadedModel


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log P(next character) from logits (..., V), in float64 so that long sums of them keep their precision."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class LSTMState:
    """Every layer's hidden state h, cell state c and recurrent projection r = h @ U, for a batch of streams.

    r is kept because a step computes it together with the next layer's input (see LSTMNetwork.step).
    """

    def __init__(self, h: list[np.ndarray], c: list[np.ndarray], r: list[np.ndarray]) -> None:
        self.h, self.c, self.r = h, c, r

    def copy(self) -> LSTMState:
        return LSTMState(*([x.copy() for x in part] for part in (self.h, self.c, self.r)))

    def take(self, rows: np.ndarray | list[int]) -> LSTMState:
        return LSTMState(*([x[rows] for x in part] for part in (self.h, self.c, self.r)))

    def put(self, row: int, one: LSTMState) -> None:
        """Set one row to a state of one stream (its row 0)."""
        for mine, theirs in zip((self.h, self.c, self.r), (one.h, one.c, one.r), strict=True):
            for layer, value in zip(mine, theirs, strict=True):
                layer[row] = value[0]

    @staticmethod
    def stack(states: Sequence[LSTMState]) -> LSTMState:
        def rows(part: str) -> list[np.ndarray]:
            return [np.concatenate(layer) for layer in zip(*(getattr(s, part) for s in states), strict=True)]

        return LSTMState(rows("h"), rows("c"), rows("r"))


class SubjectShift(NamedTuple):
    """What each stream's subject adds (model_store/subject.py): to the logits (B, V), and its side of the subject
    head (B, rank)."""

    logits: np.ndarray
    head: np.ndarray

    def take(self, rows: np.ndarray | list[int]) -> SubjectShift:
        return SubjectShift(self.logits[rows], self.head[rows])


class LSTMNetwork:
    """A loaded model's network in numpy: its weights, rearranged for speed, and the recurrence."""

    def __init__(self, model: LoadedModel) -> None:
        self.vocab = model.vocab
        arch = model.arch
        self.layers, self.units = arch["layers"], arch["units"]
        w = model.weights
        h = self.units
        # Keras orders gates (i, f, g, o); (i, f, o, g) puts the three sigmoids side by side. Their columns
        # are halved, as sigmoid(x) = 0.5 * tanh(x / 2) + 0.5: then one tanh covers all four gates. Halving
        # is exact in floating point, so this changes no result, only the number of calls per step.
        perm = np.concatenate([np.arange(0, 2 * h), np.arange(3 * h, 4 * h), np.arange(2 * h, 3 * h)])
        scale = np.concatenate([np.full(3 * h, 0.5, np.float32), np.ones(h, np.float32)])

        def gates(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a[..., perm] * scale, dtype=np.float32)

        # Layer 0's input is one character: its input projection (plus bias) is a table lookup.
        names = [store.lstm_weight_names(i) for i in range(self.layers)]  # (kernel, recurrent, bias) per layer
        self.input_table = gates(w[store.EMBEDDING] @ w[names[0][0]] + w[names[0][2]])
        self.biases = [gates(w[bias]) for _, _, bias in names]
        self.dense_bias = np.ascontiguousarray(w[store.DENSE_BIAS], dtype=np.float32)
        # A layer's new h feeds two products: the layer above's input (or the logits, for the top layer)
        # now, and its own recurrence at the next step. One matrix [out | U] per layer does both, so a step
        # is one product per layer: the same weights read as by separate products, in fewer BLAS calls.
        outputs = [gates(w[kernel]) for kernel, _, _ in names[1:]] + [w[store.DENSE_KERNEL]]
        self.fused = [
            np.ascontiguousarray(np.concatenate([out, gates(w[recurrent])], axis=1), np.float32)
            for out, (_, recurrent, _) in zip(outputs, names, strict=True)
        ]
        self.out_width = [out.shape[1] for out in outputs]
        # Views into the fused matrices, for prime(): each layer's input kernel W (layers above the first),
        # its recurrent kernel U, and the dense kernel.
        self.kernels = {i: self.fused[i - 1][:, : 4 * h] for i in range(1, self.layers)}
        self.recurrent = [m[:, width:] for m, width in zip(self.fused, self.out_width, strict=True)]
        self.dense_kernel = self.fused[-1][:, : self.out_width[-1]]
        self.subject = model.subject  # the subject adapter (model_store/subject.py), if the model has one

    def subject_shift(self, subjects: np.ndarray) -> SubjectShift:
        """What subject vectors (B, dim) add at every step; step() and prime() take it as `shift`. Needs the model's
        subject adapter."""
        adapter = self.subject
        assert adapter is not None
        subjects = np.asarray(subjects, np.float32)
        return SubjectShift(subjects @ adapter.logits, subjects @ adapter.head_subject)

    def set_subject(self, shift: SubjectShift, row: int, subject: np.ndarray) -> None:
        """Give one stream of a batch's shift a new subject vector."""
        one = self.subject_shift(subject[None, :])
        shift.logits[row], shift.head[row] = one.logits[0], one.head[0]

    def _subject_logits(self, h: np.ndarray, shift: SubjectShift) -> np.ndarray:
        """The subject's share of the logits, given the top layer's outputs h (B or T, units)."""
        adapter = self.subject
        assert adapter is not None
        return shift.logits + ((h @ adapter.head_in) * shift.head) @ adapter.head_out

    def zero_state(self, batch: int) -> LSTMState:
        def zeros(width: int) -> list[np.ndarray]:
            return [np.zeros((batch, width), np.float32) for _ in range(self.layers)]

        return LSTMState(zeros(self.units), zeros(self.units), zeros(4 * self.units))

    def _cell(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """LSTM cell update from pre-activations z; updates c in place and returns the new h."""
        u = self.units
        np.tanh(z, out=z)
        s = z[:, : 3 * u]  # the i, f, o gates: tanh(x / 2) -> sigmoid(x)
        s *= 0.5
        s += 0.5
        c *= z[:, u : 2 * u]
        c += z[:, :u] * z[:, 3 * u :]
        return z[:, 2 * u : 3 * u] * np.tanh(c)

    def step(self, ids: np.ndarray, state: LSTMState, shift: SubjectShift | None = None) -> np.ndarray:
        """Advance every stream by one character; updates state in place, returns logits (B, V). shift: each
        stream's subject (subject_shift), or None."""
        x = self.input_table[ids]  # layer 0's input projection
        for i in range(self.layers):
            z = x + state.r[i]
            if i:
                z += self.biases[i]
            h = state.h[i] = self._cell(z, state.c[i])
            both = h @ self.fused[i]
            x, state.r[i] = both[:, : self.out_width[i]], both[:, self.out_width[i] :]
        return x + self.dense_bias if shift is None else x + self.dense_bias + self._subject_logits(h, shift)

    def prime(
        self, ids: np.ndarray, start: LSTMState | None = None, shift: SubjectShift | None = None
    ) -> tuple[np.ndarray, LSTMState]:
        """Feed a whole sequence to one stream, from `start` (left as it is) or the zero state: returns
        (logits at every position (T, V), final state). shift: the stream's subject (one row), or None.

        Works layer by layer, so each layer's input projection is one matrix product over all steps.
        """
        state = self.zero_state(1) if start is None else start.copy()
        hs = np.empty((len(ids), self.units), np.float32)
        for i in range(self.layers):
            # Input projections for all steps at once: a lookup for layer 0, one product above it.
            xs = self.input_table[ids] if i == 0 else hs @ self.kernels[i] + self.biases[i]
            hs = np.empty_like(hs)
            h, c, rec = state.h[i], state.c[i], self.recurrent[i]
            for t in range(len(ids)):
                z = xs[t : t + 1] + h @ rec
                h = self._cell(z, c)
                hs[t] = h[0]
            state.h[i], state.r[i] = h, h @ rec
        logits = hs @ self.dense_kernel + self.dense_bias
        return (logits if shift is None else logits + self._subject_logits(hs, shift)), state

    def stream_loss(self, ids: np.ndarray, streams: int = 8) -> float:
        """Mean negative log-likelihood (nats per character) of each of ids[1:] given all the text before it.

        The text is read as `streams` contiguous stretches side by side, each from the zero state and carrying its
        state to its end: how the engine reads a seed and goes on writing. Unlike a loss over fixed windows that
        each start from nothing, it does not depend on the training sequence length. The last few characters that
        do not fill a stretch (fewer than `streams`) are left out.
        """
        n = (len(ids) - 1) // streams
        if n < 1:
            raise ValueError(f"{len(ids)} characters are too few for {streams} streams")
        x = np.asarray(ids[: n * streams]).reshape(streams, n)
        y = np.asarray(ids[1 : n * streams + 1]).reshape(streams, n)
        state, rows, total = self.zero_state(streams), np.arange(streams), 0.0
        for t in range(n):
            total -= float(log_softmax(self.step(x[:, t], state))[rows, y[:, t]].sum())
        return total / (n * streams)

    def continuation_logprobs(self, context: str, continuations: Sequence[str], batch: int = 64) -> np.ndarray:
        """log P(continuation | context) under the model, for each continuation, `batch` at a time."""
        logits, state = self.prime(self.vocab.encode(context))
        # Batched by length, so that a batch steps only as far as its longest (a speaker choice at start-up: 0.5 s
        # for the shipped model's 365 speakers against 0.8 s in the given order).
        order = sorted(range(len(continuations)), key=lambda i: len(continuations[i]))
        by_length = [continuations[i] for i in order]
        scores = np.empty(len(continuations))
        scores[order] = np.concatenate(
            [self._scores(logits[-1:], state, by_length[i : i + batch]) for i in range(0, len(by_length), batch)]
        )
        return scores

    def _scores(self, logits: np.ndarray, state: LSTMState, continuations: Sequence[str]) -> np.ndarray:
        ids = [self.vocab.encode(c) for c in continuations]
        longest = max(len(x) for x in ids)
        padded = np.zeros((len(ids), longest), np.int32)
        for row, x in enumerate(ids):
            padded[row, : len(x)] = x
        state = LSTMState.stack([state] * len(ids))
        step_logits = np.repeat(logits, len(ids), axis=0)
        total = np.zeros(len(ids))
        for t in range(longest):
            logp = log_softmax(step_logits)
            live = np.array([t < len(x) for x in ids])
            total[live] += logp[live, padded[live, t]]
            if t + 1 < longest:
                step_logits = self.step(padded[:, t], state)
        return total
