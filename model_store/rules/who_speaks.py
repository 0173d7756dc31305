"""Who would say a seed, when it names nobody.

A seed that is a line of the plays, or the start of one (model_store/topics.py's quotations), is answered by the
speaker who said it. Any other seed is answered by a speaker drawn in proportion to the model's odds of each
opening a speech (what the engine drew from before) times how well the seed's content words fit him: a word model
per speaker, smoothed towards his play's and then the plays' (Dirichlet smoothing), so a seed naming Romeo leans to
*Romeo and Juliet* and "What news from France" to the histories. A seed without content words keeps the odds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model_store.topics import TopicRecord, content_words

SPEAKER_PRIOR = 300.0  # words of his play's model a speaker's own is smoothed with
PLAY_PRIOR = 3000.0  # words of the plays' model a play's is smoothed with


@dataclass(frozen=True)
class Choice:
    """Who speaks, and why: for `bard-generate --explain`."""

    speaker: str
    quotation: bool  # the seed is a line of his
    candidates: tuple[tuple[str, float, float, float], ...]  # (speaker, odds share, log fit, chance), likeliest first
    words: tuple[str, ...]  # the seed's content words the fit read


class SpeakerChooser:
    """Draws the speaker of a seed from the candidates' odds and the fit of their words (one uniform draw each)."""

    def __init__(self, record: TopicRecord, candidates: list[str], odds: np.ndarray) -> None:
        self.record = record
        self.candidates = candidates
        self.odds = np.asarray(odds, np.float64) / np.sum(odds)
        index = record.speaker_index
        self.row = np.array([index.get(name, -1) for name in candidates])  # -1: the record has no words of his
        self.word_id = record.word_index
        self.overall = (record.counts + 1.0) / (record.counts.sum() + len(record.words))
        self.play_model = [_smoothed(record, "play", p, self.overall, PLAY_PRIOR) for p in range(len(record.plays))]
        ptr, counts = record.speaker_ptr, record.speaker_count.astype(np.float64)
        self.speaker_total = np.array([counts[ptr[i] : ptr[i + 1]].sum() for i in range(len(record.speakers))])

    def _speaker_count(self, row: int, word_id: int) -> float:
        cols, counts = self.record.speaker_words(row)
        at = int(np.searchsorted(cols, word_id))
        return float(counts[at]) if at < len(cols) and cols[at] == word_id else 0.0

    def fit(self, seed: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """(log-likelihood of the seed's content words per candidate, the words read)."""
        words = tuple(w for w in content_words(seed) if w in self.word_id)
        fit = np.zeros(len(self.candidates))
        for i, row in enumerate(self.row.tolist()):
            play = int(self.record.speaker_play[row]) if row >= 0 else -1
            base = self.play_model[play] if play >= 0 else self.overall
            total = self.speaker_total[row] if row >= 0 else 0.0
            for word in words:
                w = self.word_id[word]
                own = self._speaker_count(row, w) if row >= 0 else 0.0
                fit[i] += np.log((own + SPEAKER_PRIOR * base[w]) / (total + SPEAKER_PRIOR))
        return fit - (fit.max() if len(fit) else 0.0), words

    def choose(self, seed: str, uniform: float) -> Choice:
        """The speaker for a seed that names nobody, given one uniform draw in [0, 1)."""
        quoted = self.record.quotation(seed)
        fit, words = self.fit(seed) if quoted is None else (np.zeros(len(self.candidates)), ())
        chance = self.odds * np.exp(fit)
        chance /= chance.sum()
        top = np.argsort(-chance, kind="stable")[:5]
        ranked = tuple((self.candidates[i], float(self.odds[i]), float(fit[i]), float(chance[i])) for i in top)
        if quoted is not None:
            return Choice(quoted, True, ranked, words)
        pick = int(np.searchsorted(np.cumsum(chance), uniform, side="right"))
        return Choice(self.candidates[min(pick, len(self.candidates) - 1)], False, ranked, words)


def _smoothed(record: TopicRecord, table: str, row: int, prior: np.ndarray, mass: float) -> np.ndarray:
    """A row's word model: its counts plus `mass` words of the prior model, normalised."""
    ptr, cols, counts = (getattr(record, f"{table}_{part}") for part in ("ptr", "word", "count"))
    lo, hi = ptr[row], ptr[row + 1]
    model = prior * mass
    model[cols[lo:hi]] += counts[lo:hi]
    return model / (counts[lo:hi].sum() + mass)
