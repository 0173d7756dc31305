"""What the plays are about, and who says what: an export's topic record (topics.npz).

Four compact models of the training plays, numpy arrays only, built at export time:
  relations   for each content word, the content words that go with it: the ones found in the same passage of
              a speech more often than chance, with their smoothed PMI (the NEIGHBOURS best);
  speakers    how often each well-known speaker, and each play, uses each content word (a smoothed word model
              per speaker and per play chooses who would say a seed: model_store/rules/who_speaks.py);
  nouns       how often each content word follows a determiner ("the", "my", ...): which words a speech may put
              in a noun's place (model_store/rules/naming.py);
  quotations  a hash of the first 3 to QUOTE_WORDS words from every line and sentence start of the plays,
              normalised (case, punctuation, "strain'd" = "strained"), with the one speaker who said it: a famous
              line typed bare is answered by whoever said it. Only hashes are stored, never the plays' text.
What a seed is about, told to the network through its subject adapter: model_store/rules/subject.py.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from model_store.playscript import Speech, is_heading, is_speaker_line, is_stage_direction

PIECE = 120  # content words: a longer speech counts as passages of this many
SMOOTHING = 1.0  # passages added to a pair's count and to its count by chance (smoothed PMI)
NEIGHBOURS = 64  # related words kept per content word
MIN_WORD = 5  # a content word seen fewer times has no relations of its own
QUOTE_WORDS = 6  # a seed's first words matched against line starts, at most this many (six are all but unique)
MIN_QUOTE_WORDS = 3
AMBIGUOUS = np.uint16(0xFFFF)  # a line start said by more than one speaker

# Words that say nothing about a subject: articles, pronouns, auxiliaries, prepositions, conjunctions, the plays'
# address and exclamation. Every other word of three letters or more is a content word.
_FUNCTION_WORDS = """
    the and but for nor yet not all any are was were been being has had have having does did doing done will would
    shall should can could may might must let lets his her hers its our ours their theirs them they thee thou thy
    thine you your yours yourself himself herself itself myself ourselves themselves him she who whom whose which
    what when where why how that this these those there here then than too very more most much many such some own
    other others only also even ever never now still again once just upon unto into onto from with within without
    about above below after before under over off out one two three first last both each every either neither
    hath doth dost didst hast shalt wilt art wert canst couldst wouldst shouldst mayst mightst ere hence thence
    whence hither thither whither wherefore therefore though although because while whilst till until since unless
    lest whether yea nay yes aye ay ah alas oh fie tis twas sir sirs lord lords madam lady good well come came
    make made say said tell speak go went gone know see like o'er e'er ne'er i'll i'm i'd he's she's it's that's
    there's we'll you'll thou'rt 'tis 'twas 'twere 'gainst are't is't an't pray prithee marry thus like way thing
    things man men shall's nothing something anything everything
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
# Words after which a noun (or its adjective) comes: where a speech may name its subject (model_store/rules/naming.py).
# ("a" and "an", which a noun must agree with, are naming's own; "that" and "these" are often no determiner.)
DETERMINERS = frozenset(["the", "my", "thy", "his", "her", "our", "your", "their", "this"])
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


class TopicsError(ValueError):
    """A topics file or value that cannot be used."""


def is_content(word: str) -> bool:
    """A word (lower case) that says something about a subject."""
    return len(word.strip("'")) >= 3 and word not in FUNCTION_WORDS


def normal_words(text: str) -> list[str]:
    """The words of a text as quotations are matched: lower case, "'d" read as "ed", letters only
    ("To-morrow, and strain'd" -> ["tomorrow", "and", "strained"])."""
    out = []
    for word in re.findall(r"[a-z][a-z'-]*", text.lower()):
        if word.endswith("'d"):
            word = word[:-2] + "ed"
        if letters := re.sub(r"[^a-z]", "", word):
            out.append(letters)
    return out


def quote_hash(words: Sequence[str]) -> int:
    """The stored hash of a quotation's normalised words (32 bits: a few hundred thousand line starts leave a
    random seed about one chance in ten thousand of a false match)."""
    return int.from_bytes(hashlib.blake2b(" ".join(words).encode(), digest_size=4).digest(), "little")


def _csr(rows: Sequence[Counter], dtype: type = np.uint32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse rows (Counter of column -> value) as (row pointers, columns, values)."""
    ptr = np.zeros(len(rows) + 1, np.int64)
    ptr[1:] = np.cumsum([len(r) for r in rows])
    cols = np.fromiter((c for r in rows for c in sorted(r)), np.int32, count=int(ptr[-1]))
    vals = np.fromiter((r[c] for r in rows for c in sorted(r)), np.float64, count=int(ptr[-1]))
    return ptr, cols, vals.astype(dtype)


@dataclass(frozen=True)
class TopicRecord:
    """The arrays of topics.npz; rows of the sparse tables are (ptr[i]:ptr[i+1]) slices of their columns/values."""

    words: tuple[str, ...]  # the content words, lower case; their index is their id here
    counts: np.ndarray  # (words,) how often each occurs in the training text
    related_ptr: np.ndarray
    related_word: np.ndarray
    related_pmi: np.ndarray  # float16
    plays: tuple[str, ...]
    play_ptr: np.ndarray
    play_word: np.ndarray
    play_count: np.ndarray
    speakers: tuple[str, ...]
    speaker_play: np.ndarray  # (speakers,) the play he speaks most in
    speaker_ptr: np.ndarray
    speaker_word: np.ndarray
    speaker_count: np.ndarray
    quote_hashes: np.ndarray  # sorted uint32
    quote_speakers: np.ndarray  # uint16 index into quote_names, or AMBIGUOUS
    quote_names: tuple[str, ...]
    # (words,) uses of each word right after a DETERMINER; None in a record made before it was counted
    noun_uses: np.ndarray | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def of_plays(cls, plays: Iterable[tuple[str, str, str]], speakers: Iterable[str]) -> TopicRecord:
        """The record of plays given as (name, training text, whole text) in play-script form, for the given
        speakers (a model's well-known ones). Relations and word models come from the training text only; the
        quotations from the whole plays (a famous line may lie in the held-out end of its play)."""
        plays = list(plays)
        said = {name: list(speeches(train)) for name, train, _ in plays}
        counts = Counter(w for s in _all(said) for w in content_words(s.text))
        words = tuple(sorted(w for w, n in counts.items() if n >= MIN_WORD))
        index = {w: i for i, w in enumerate(words)}
        related = _relations(_all(said), index)
        play_rows = [
            Counter(index[w] for s in said[p] for w in content_words(s.text) if w in index) for p, _, _ in plays
        ]
        wanted = list(dict.fromkeys(speakers))
        by_speaker: dict[str, Counter] = {name: Counter() for name in wanted}
        home: dict[str, Counter] = {name: Counter() for name in wanted}
        for number, (play, _, _) in enumerate(plays):
            for s in said[play]:
                if s.speaker in by_speaker:
                    by_speaker[s.speaker].update(index[w] for w in content_words(s.text) if w in index)
                    home[s.speaker][number] += 1
        hashes, who, names = _quotations(whole for _, _, whole in plays)
        nouns = Counter(index[w] for s in _all(said) for w in _after_determiners(s.text) if w in index)
        return cls(
            words,
            np.array([counts[w] for w in words], np.int32),
            *_related_arrays(related),
            tuple(name for name, _, _ in plays),
            *_csr(play_rows),
            tuple(wanted),
            np.array([home[n].most_common(1)[0][0] if home[n] else -1 for n in wanted], np.int16),
            *_csr([by_speaker[n] for n in wanted]),
            hashes,
            who,
            names,
            np.array([nouns[i] for i in range(len(words))], np.int32),
        )

    def merged(self, other: TopicRecord) -> TopicRecord:
        """This record (a base model's) extended by another's plays (a fine-tune's): words, counts and plays added,
        a word's relations the stronger of the two, speakers' words summed, quotations joined (a line start both
        give to different speakers is nobody's)."""
        words = tuple(sorted(set(self.words) | set(other.words)))
        index = {w: i for i, w in enumerate(words)}
        mine, theirs = [index[w] for w in self.words], [index[w] for w in other.words]
        counts = np.zeros(len(words), np.int64)
        np.add.at(counts, mine, self.counts)
        np.add.at(counts, theirs, other.counts)
        related = [Counter() for _ in words]
        for record, ids in ((self, mine), (other, theirs)):
            for row, word in enumerate(ids):
                cols, pmi = record.related(row)
                for col, value in zip(cols.tolist(), pmi.tolist(), strict=True):
                    related[word][ids[col]] = max(related[word][ids[col]], value)
        related = [Counter(dict(r.most_common(NEIGHBOURS))) for r in related]
        plays = self._rows("play", mine) + other._rows("play", theirs)
        speakers = list(dict.fromkeys([*self.speakers, *other.speakers]))
        by_speaker = {name: Counter() for name in speakers}
        home = {name: -1 for name in speakers}
        for record, ids, offset in ((other, theirs, len(self.plays)), (self, mine, 0)):  # the base's play wins
            for row, (name, counted) in enumerate(zip(record.speakers, record._rows("speaker", ids), strict=True)):
                by_speaker[name].update(counted)
                if record.speaker_play[row] >= 0:
                    home[name] = int(record.speaker_play[row]) + offset
        hashes, who, names = _joined_quotations(self, other)
        nouns = None
        if self.noun_uses is not None and other.noun_uses is not None:
            nouns = np.zeros(len(words), np.int64)
            np.add.at(nouns, mine, self.noun_uses)
            np.add.at(nouns, theirs, other.noun_uses)
        return TopicRecord(
            words,
            counts.astype(np.int32),
            *_related_arrays(related),
            (*self.plays, *other.plays),
            *_csr(plays),
            tuple(speakers),
            np.array([home[n] for n in speakers], np.int16),
            *_csr([by_speaker[n] for n in speakers]),
            hashes,
            who,
            names,
            nouns.astype(np.int32) if nouns is not None else None,
        )

    def _rows(self, table: str, ids: list[int]) -> list[Counter]:
        """A sparse table's rows as Counters, its word ids mapped through `ids`."""
        ptr, cols, vals = (getattr(self, f"{table}_{part}") for part in ("ptr", "word", "count"))
        return [
            Counter({ids[c]: v for c, v in zip(cols[lo:hi].tolist(), vals[lo:hi].tolist(), strict=True)})
            for lo, hi in zip(ptr[:-1].tolist(), ptr[1:].tolist(), strict=True)
        ]

    # ------------------------------------------------------------------ the file

    def to_bytes(self) -> bytes:
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        if len(self.words) <= np.iinfo(np.uint16).max:  # word ids in two bytes: a third of the file
            arrays |= {name: arrays[name].astype(np.uint16) for name in ("related_word", "play_word", "speaker_word")}
        arrays |= {name: np.array(getattr(self, name), dtype=str) for name in _STRINGS}
        if self.noun_uses is not None:
            arrays["noun_uses"] = self.noun_uses
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TopicRecord:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                missing = [n for n in (*_ARRAYS, *_STRINGS) if n not in npz.files]
                if missing:
                    raise TopicsError(f"topics file lacks {', '.join(missing)}")
                fields = {n: npz[n] for n in _ARRAYS} | {n: tuple(str(s) for s in npz[n]) for n in _STRINGS}
                fields["noun_uses"] = npz["noun_uses"] if "noun_uses" in npz.files else None  # older records lack it
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise TopicsError(f"topics file cannot be read as numpy arrays ({exc})") from None
        record = cls(**fields)
        record.check()
        return record

    def check(self) -> None:
        """Every table's pointers and ids in range (a corrupt file is refused here, not met while generating)."""
        sizes = {"related": len(self.words), "play": len(self.plays), "speaker": len(self.speakers)}
        for table, rows in sizes.items():
            ptr, cols = getattr(self, f"{table}_ptr"), getattr(self, f"{table}_word")
            if len(ptr) != rows + 1 or ptr[0] != 0 or np.any(np.diff(ptr) < 0) or ptr[-1] != len(cols):
                raise TopicsError(f"topics file: the {table} table's row pointers do not fit its {rows} rows")
            if len(cols) and (cols.min() < 0 or cols.max() >= len(self.words)):
                raise TopicsError(f"topics file: the {table} table names a word it does not have")
        if len(self.counts) != len(self.words) or len(self.speaker_play) != len(self.speakers):
            raise TopicsError("topics file: its word counts or speakers' plays do not match its lists")
        if self.noun_uses is not None and (len(self.noun_uses) != len(self.words) or np.any(self.noun_uses < 0)):
            raise TopicsError("topics file: its nouns do not match its words")
        if np.any(self.speaker_play >= len(self.plays)) or len(self.quote_hashes) != len(self.quote_speakers):
            raise TopicsError("topics file: a speaker's play or a quotation's speaker is out of range")
        named = self.quote_speakers[self.quote_speakers != AMBIGUOUS]
        if len(named) and named.max() >= len(self.quote_names):
            raise TopicsError("topics file: a quotation names a speaker it does not list")

    # ------------------------------------------------------------------ reading

    def related(self, word_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, PMI) of the words that go with one."""
        lo, hi = self.related_ptr[word_id], self.related_ptr[word_id + 1]
        return self.related_word[lo:hi], self.related_pmi[lo:hi].astype(np.float32)

    @functools.cached_property
    def word_index(self) -> dict[str, int]:
        """Each content word's id (its place in `words`)."""
        return {w: i for i, w in enumerate(self.words)}

    @functools.cached_property
    def speaker_index(self) -> dict[str, int]:
        """Each speaker's row (his place in `speakers`)."""
        return {name: i for i, name in enumerate(self.speakers)}

    def speaker_words(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, counts) of the content words one speaker (a row of `speakers`) uses, ids in order."""
        lo, hi = self.speaker_ptr[row], self.speaker_ptr[row + 1]
        return self.speaker_word[lo:hi], self.speaker_count[lo:hi]

    def quotation(self, text: str) -> str | None:
        """Who said the line that starts with this text (its first QUOTE_WORDS words at most), or None."""
        said = normal_words(text)[:QUOTE_WORDS]
        if len(said) < MIN_QUOTE_WORDS:
            return None
        key = np.uint32(quote_hash(said))
        at = int(np.searchsorted(self.quote_hashes, key))
        if at == len(self.quote_hashes) or self.quote_hashes[at] != key or self.quote_speakers[at] == AMBIGUOUS:
            return None
        return self.quote_names[int(self.quote_speakers[at])]


_ARRAYS = (
    *("counts", "related_ptr", "related_word", "related_pmi", "play_ptr", "play_word", "play_count", "speaker_play"),
    *("speaker_ptr", "speaker_word", "speaker_count", "quote_hashes", "quote_speakers"),
)
_STRINGS = ("words", "plays", "speakers", "quote_names")


def speeches(script: str) -> Iterator[Speech]:
    """Every speech of a play-script text, a speech going on after a stage direction in a block of its own
    included (Macbeth's "Is this a dagger" follows "[Exit Servant]"): a block without a speaker line continues the
    last speaker's speech, unless a heading came between."""
    speaker = None
    for block in re.split(r"\n[ \t]*\n", script):
        lines = [line.rstrip() for line in block.strip("\n").split("\n")]
        if is_speaker_line(lines[0]):
            speaker, lines = lines[0].strip()[:-1].strip(), lines[1:]
        elif is_heading(lines[0]):
            speaker = None
        body = tuple(line for line in lines if line.strip() and not is_stage_direction(line) and not is_heading(line))
        if speaker is not None and body:
            yield Speech(speaker, body)


def _all(said: dict[str, list]) -> Iterator:
    for speeches_of_play in said.values():
        yield from speeches_of_play


def content_words(text: str) -> list[str]:
    """The content words of a text, lower case, in order (repeats kept)."""
    return [word for _, word in content_matches(text)]


def content_matches(text: str) -> Iterator[tuple[int, str]]:
    """(offset, word in lower case) of each content word of a text, in order."""
    for match in _WORD.finditer(text):
        if is_content(word := match.group().lower()):
            yield match.start(), word


def _after_determiners(text: str) -> Iterator[str]:
    """The words (lower case) of a text that follow a determiner."""
    before = ""
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if before in DETERMINERS:
            yield word
        before = word


def _relations(said: Iterable, index: dict[str, int]) -> list[Counter]:
    """Each content word's related words: those found in the same passage (a speech, or PIECE words of a long one)
    more often than chance, by smoothed PMI, log((n_ab + SMOOTHING) / (n_a n_b / N + SMOOTHING)), which pulls
    rare pairs towards independence: a pair seen twice by chance is no subject."""
    passages = []
    for speech in said:
        ids = [index[w] for w in content_words(speech.text) if w in index]
        passages += [np.unique(ids[i : i + PIECE]) for i in range(0, len(ids), PIECE)]
    size, total = len(index), len(passages)
    seen = np.bincount(np.concatenate([*passages, np.zeros(0, np.int64)]).astype(np.int64), minlength=size)
    keys = [(p[:, None] * size + p[None, :])[~np.eye(len(p), dtype=bool)] for p in passages if len(p) > 1]
    pairs, together = np.unique(np.concatenate([*keys, np.zeros(0, np.int64)]).astype(np.int64), return_counts=True)
    a, b = pairs // size, pairs % size
    pmi = np.log((together + SMOOTHING) / (seen[a] * seen[b] / total + SMOOTHING))
    keep = pmi > 0
    related: list[Counter] = [Counter() for _ in range(size)]
    for x, y, v in zip(a[keep].tolist(), b[keep].tolist(), pmi[keep].tolist(), strict=True):
        related[x][y] = v
    return [Counter(dict(r.most_common(NEIGHBOURS))) for r in related]


def _related_arrays(related: list[Counter]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ptr, cols, vals = _csr(related, np.float16)
    return ptr, cols, vals


def _joined_quotations(a: TopicRecord, b: TopicRecord) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    said: dict[int, str | None] = {}
    for record in (a, b):
        for key, who in zip(record.quote_hashes.tolist(), record.quote_speakers.tolist(), strict=True):
            name = None if who == AMBIGUOUS else record.quote_names[who]
            said[key] = name if said.get(key, name) == name else None
    names = tuple(sorted({n for n in said.values() if n is not None}))
    number = {n: i for i, n in enumerate(names)}
    keys = np.array(sorted(said), np.uint32)
    who = np.array([AMBIGUOUS if said[k] is None else number[said[k]] for k in keys.tolist()], np.uint16)
    return keys, who, names


def _quotations(plays: Iterable[str]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Sorted hashes of the first 3..QUOTE_WORDS words (read on across the speech's lines) from every line start and
    every sentence start inside a line ("... no. What is honour? a word."), and who said each (AMBIGUOUS where
    several speakers did)."""
    said: dict[int, set[str]] = {}
    for text in plays:
        for speech in speeches(text):
            flat: list[str] = []
            starts: list[int] = []
            for line in speech.lines:
                for piece in re.split(r"[.!?;:]", line):
                    starts.append(len(flat))
                    flat += normal_words(piece)
            for start in dict.fromkeys(starts):
                ahead = flat[start : start + QUOTE_WORDS]
                for k in range(MIN_QUOTE_WORDS, len(ahead) + 1):
                    said.setdefault(quote_hash(ahead[:k]), set()).add(speech.speaker)
    names = tuple(sorted({next(iter(who)) for who in said.values() if len(who) == 1}))
    number = {n: i for i, n in enumerate(names)}
    keys = np.array(sorted(said), np.uint32)
    who = np.array([number[next(iter(said[k]))] if len(said[k]) == 1 else AMBIGUOUS for k in keys.tolist()], np.uint16)
    return keys, who, names
