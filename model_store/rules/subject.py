"""What a speech is about: the words given to the model's subject adapter (model_store/subject.py).

A seed's subject is its content words and the words that go with them most in the plays (the topic record's
relations, model_store/topics.py): "Is this a dagger which I see before me" is about dagger, and with it blood,
hand, sword, murder, sleep. A seed without content words ("To be, or not to be") is about what its speaker talks
of more than the others do. The adapter reads the bag as the mean of its words' vectors, times the strength
(the `topic` setting; 0: no subject, the network alone, the text of before byte for byte).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from model_store.subject import SubjectAdapter
from model_store.topics import TopicRecord, content_words

RELATED = 16  # words that go with the seed's, added to its subject
SPEAKER_WORDS = 16  # a seed without content words: its speaker's most distinctive words
SAID_WEIGHT = 1.0  # a content word the speech has said, as much as one of its seed's subject (measured: 0, 0.5, 1, 2)
MIN_SPEAKER_USES = 3  # a speaker's word used fewer times than this is chance, not his subject


class SubjectWords:
    """The subject of a seed (and its speaker) as words, and as the adapter's vector (on a model with an adapter):
    fixed for a model."""

    def __init__(self, record: TopicRecord, adapter: SubjectAdapter | None) -> None:
        self.record, self.adapter = record, adapter
        self.word_id, self.speaker_row = record.word_index, record.speaker_index
        self.share = record.counts / record.counts.sum()

    def of(self, seed: str, speaker: str | None, related_count: int = RELATED) -> tuple[str, ...]:
        """The seed's content words the record knows, then the `related_count` words that go with them most (the sum
        of their PMI with the seed's words); without any, the speaker's own words."""
        said = list(dict.fromkeys(w for w in content_words(seed) if w in self.word_id))
        if not said:
            return self._speakers_words(speaker)
        score: Counter[int] = Counter()
        for word in said:
            ids, pmi = self.record.related(self.word_id[word])
            for i, value in zip(ids.tolist(), pmi.tolist(), strict=True):
                score[i] += value
        known = {self.word_id[w] for w in said}
        related = [self.record.words[i] for i, _ in score.most_common() if i not in known][:related_count]
        return (*said, *related)

    def _speakers_words(self, speaker: str | None) -> tuple[str, ...]:
        row = self.speaker_row.get(speaker) if speaker is not None else None
        if row is None:
            return ()
        record = self.record
        words, counts = record.speaker_words(row)
        ids, uses = words.astype(np.int64), counts.astype(np.float64)
        often = uses >= MIN_SPEAKER_USES
        ids, uses = ids[often], uses[often]
        if not len(ids):
            return ()
        # What he says more than the plays do, weighed by how much he says it (a word he uses once is no subject).
        lift = uses * np.log(uses / (uses.sum() * self.share[ids]))
        return tuple(record.words[i] for i in ids[np.argsort(-lift, kind="stable")[:SPEAKER_WORDS]])

    def vector(self, words: tuple[str, ...], strength: float, said: str = "") -> np.ndarray:
        """The adapter's subject vector for these words and the content words of what the speech has said (each
        SAID_WEIGHT), at this strength (zero without words)."""
        assert self.adapter is not None, "a model without a subject adapter has no subject vector"
        ids = self.adapter.ids(words)
        known = set(ids)
        more = [i for i in self.adapter.ids(content_words(said)) if i not in known]
        weights = [1.0] * len(ids) + [SAID_WEIGHT] * len(more)
        return strength * self.adapter.subject(ids + more, weights)
