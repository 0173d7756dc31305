"""Stateful character sampling from an exported model, in numpy (no TensorFlow; the network: model_store/lstm.py).

Several requests can share one batch: each keeps its own options and random generator and gets the
text it would alone.

A request is a monologue by default (when the model carries a lexicon and its speakers): one speech by
one speaker, the one the request names (its `speaker` field; the seed is the speech) or one chosen by how
likely the model finds each of its well-known speakers to speak next, in real words only
(model_store/rules/monologue.py, model_store/rules/words.py).
A monologue is in blank verse when the model carries its metre (verse=False: prose): lines of 10 or 11
syllables that scan as iambic pentameter (model_store/metre.py, model_store/rules/verse.py). With the model's
rhymes it closes on a rhyming couplet (couplet=False: not), and sonnet=True asks for a sonnet instead of a speech
(model_store/rules/rhyme.py); a line that must rhyme and meets a dead end is written again from its start.
The rules are masks on the model's own distribution, so it still chooses among what they allow; with a topic
strength, where a noun is due a speech may be given one of its subject's words instead, letter by letter
(model_store/rules/naming.py). With monologue=False the engine writes free text, as the model would alone.
(Sampling is row by row; only the matrix products of a batch may round differently in the last bit
from a batch of one, which could change a pick only if a draw fell within ~1e-7 of a boundary.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from model_store.limits import HISTORY_CHARS, MAX_CHARS, MAX_TEMPERATURE, MAX_TOPIC
from model_store.lstm import LSTMNetwork, LSTMState, SubjectShift
from model_store.playscript import last_speaker, speeches
from model_store.rules.bans import row_bans
from model_store.rules.clean import banned_words
from model_store.rules.monologue import MonologueRule, structure_masks
from model_store.rules.names import NameMasks
from model_store.rules.naming import NAMED_RELATED, Naming, Spelling
from model_store.rules.rhyme import SONNET_CHARS, Couplet, RhymeMasks, RhymePlan, Sonnet
from model_store.rules.stop_rule import StopReason, StopRule
from model_store.rules.subject import SubjectWords
from model_store.rules.verse import VerseMasks
from model_store.rules.who_speaks import Choice, SpeakerChooser
from model_store.rules.words import WordMasks
from model_store.sampling import BatchSampler
from model_store.seed import CleanSeed, clean_seed
from model_store.store import LoadedModel

Rule = MonologueRule | StopRule


class Plan(NamedTuple):
    """What one request is fed, and how it ends."""

    shown: str  # the seed as the reply shows it (cleaned)
    context: str  # fed to the model after the history and the speaker's opening
    speaker: str | None  # who speaks the monologue; None for free text
    rule: Rule
    history: str = ""  # the exchange before this speech (monologues), cleaned
    choice: Choice | None = None  # how the seed chose its speaker (seed_speaker, nobody named)
    subject: tuple[str, ...] = ()  # what the speech is about (topic > 0), told to the model if it has an adapter
    naming: Naming | None = None  # places the subject's words in the speech (topic > 0): model_store/rules/naming.py


SPEECH_BREAK = "\n\n"  # what comes before a speaker line in the play-script format
ANSWER_CANDIDATES = 48  # who may answer an exchange: the speakers likeliest to open a speech, and its own
OPENINGS_KEPT = 256  # speakers whose primed opening is kept (about 20 KB each for the shipped model)
MIN_SHARE = 0.7  # of max_chars: a monologue may not end before this, unless min_chars says otherwise


@dataclass(frozen=True)
class GenerationRequest:
    seed: str
    max_chars: int = 400
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    min_chars: int | None = None  # a speech may end the text from here; default MIN_SHARE of max_chars
    monologue: bool = True  # one speech by one speaker in real words; False: free text (also on older models)
    verse: bool = True  # a monologue in blank verse (on models with metre data); False: prose
    history: str = ""  # monologues: the exchange before this speech, in play-script form ("HAMLET:\n...")
    # Who speaks, as typed ("hamlet"; spelled as the plays do); None: the model chooses. Free text has no speaker of
    # its own: there the name opens the seed, "Hamlet: To be".
    speaker: str | None = None
    # On models with a topic record: whether the seed chooses who speaks when nobody is named (a line of the plays
    # goes to whoever says it; model_store/rules/who_speaks.py), and how strongly a monologue keeps to its subject
    # (its words where a noun is due, model_store/rules/naming.py; told to the network on models with a subject
    # adapter, model_store/rules/subject.py). False and 0: neither, the text of before byte for byte.
    seed_speaker: bool = False
    topic: float = 0.0
    clean: bool = False  # clean mode: the words of model_store/rules/clean_words.txt are masked (monologues only)
    couplet: bool = True  # a verse monologue closes on a rhyming couplet (on models with rhymes)
    sonnet: bool = False  # a sonnet (14 rhymed lines, no speaker) instead of a speech; max_chars and min_chars unused

    def __post_init__(self) -> None:
        if not 1 <= self.max_chars <= MAX_CHARS:
            raise ValueError(f"max_chars must be between 1 and {MAX_CHARS}, got {self.max_chars}")
        if not (self.temperature >= 0 and np.isfinite(self.temperature)):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.temperature > MAX_TEMPERATURE:
            raise ValueError(f"temperature must be at most {MAX_TEMPERATURE:g}, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.speaker is not None and (not self.speaker.strip() or any(c in self.speaker for c in ":\n")):
            raise ValueError(f"speaker must be a name, got {self.speaker!r}")
        if not 0 <= self.topic <= MAX_TOPIC:
            raise ValueError(f"topic must be between 0 and {MAX_TOPIC:g}, got {self.topic}")
        if self.clean and not self.monologue:
            raise ValueError("clean mode needs a monologue: free text cannot be kept clean")
        if self.sonnet and not (self.monologue and self.verse):
            raise ValueError("a sonnet is rhymed verse: it cannot be free text or prose")


@dataclass(frozen=True)
class Generation:
    seed: str  # the seed as fed to the model, after cleaning (free text: after the speaker's name, if one was named)
    text: str  # the continuation
    seed_changes: tuple[str, ...]  # what cleaning changed in the seed, if anything
    stop_reason: StopReason
    speaker: str | None = None  # who speaks the monologue; None for free text
    sampled: int = 0  # characters generated, those cut off at the end included (the work it took)
    metre_fallbacks: int = 0  # verse: words let break the metre because nothing that fits was allowed
    rewrites: int = 0  # rhymed verse: lines written again from their start because nothing that fits was allowed
    choice: Choice | None = None  # how the seed chose its speaker (seed_speaker, nobody named): bard-generate --explain
    subject: tuple[str, ...] = ()  # what the speech is about (topic > 0; told to a model with an adapter): --explain
    named: tuple[str, ...] = ()  # the subject's words the speech was given in a noun's place (topic > 0): --explain


class Engine:
    """Generates text from a loaded model with its network (model_store/lstm.py). Thread-safe: it holds no
    per-request state."""

    def __init__(self, model: LoadedModel, *, max_seed_chars: int = 1000) -> None:
        self.network = LSTMNetwork(model)
        self.model = model
        self.vocab = model.vocab
        self.max_seed_chars = max_seed_chars
        # Monologues need the model's speakers (its lexicon too, for real words).
        self.speakers = model.speakers
        self.words = WordMasks(model.lexicon, self.vocab.chars) if model.lexicon and model.speakers else None
        self.verse = VerseMasks(self.words, model.metre) if self.words is not None and model.metre else None
        # A speaker's names (when the model has its name record) and clean mode's words: one mask, rules/names.py.
        clean = banned_words(model.lexicon) if self.words is not None and model.lexicon else frozenset()
        self.names = NameMasks(model.names, self.words, self.verse, clean) if self.words is not None else None
        self.rhymes = RhymeMasks(self.verse, model.rhymes) if self.verse is not None and model.rhymes else None
        self.structure = structure_masks(self.vocab.chars)
        self.newline_id = int(self.vocab.encode("\n")[0]) if "\n" in self.vocab else -1
        self._openings: dict[str, tuple[np.ndarray, LSTMState]] = {}
        self._openings_lock = threading.Lock()
        if self.speakers is not None:
            self.speaker_names = frozenset(name.lower() for name in self.speakers.counts)
            self.candidates = self.speakers.well_known()
            # Who speaks when nobody is named: each well-known speaker as likely as the model finds it to open
            # a speech. Fixed for a model, so worked out once here.
            logp = self.network.continuation_logprobs(SPEECH_BREAK, [f"{name}:\n" for name in self.candidates])
            weights = np.exp(logp - logp.max())
            self.speaker_cdf = np.cumsum(weights) / weights.sum()
        # Who would say a seed (model_store/rules/who_speaks.py), and what it is about, told to a model with a subject
        # adapter (model_store/rules/subject.py, model_store/subject.py)...
        topics = model.topics if self.words is not None else None
        self.who = SpeakerChooser(topics, self.candidates, weights) if topics else None
        self.subjects = SubjectWords(topics, model.subject) if topics else None
        # ...and named where a noun is due (model_store/rules/naming.py), with or without an adapter.
        self.spelling = Spelling(self.words, model.lexicon, self.vocab.chars, topics) if topics else None

    def _opening(self, speaker: str) -> tuple[np.ndarray, LSTMState]:
        """(logits, state) after a speech's opening, "<blank line>SPEAKER:<newline>": the same for every monologue
        of that speaker, so it is primed once and kept (for the OPENINGS_KEPT speakers asked for last)."""
        with self._openings_lock:
            opening = self._openings.pop(speaker, None)
            if opening is None:
                logits, state = self.network.prime(self.vocab.encode(f"{SPEECH_BREAK}{speaker}:\n"))
                opening = (logits[-1], state)
            self._openings[speaker] = opening  # the most recent last
            while len(self._openings) > OPENINGS_KEPT:
                del self._openings[next(iter(self._openings))]
            return opening

    @property
    def monologues(self) -> bool:
        """Whether the model can write monologues (it carries its speakers)."""
        return self.speakers is not None

    @property
    def sonnets(self) -> bool:
        """Whether the model can write sonnets and close speeches on a couplet (it carries its metre and rhymes)."""
        return self.rhymes is not None and self.speakers is not None

    # ------------------------------------------------------------------ generation

    def clean(self, seed: str) -> CleanSeed:
        """The seed as the model will see it, with a note of every change."""
        return clean_seed(seed, self.vocab, max_chars=self.max_seed_chars)

    def _context(self, seed: str) -> str:
        # A seed starts a line of a speech; an empty one starts a speech, so the model opens with a speaker.
        lead = "\n\n" if seed == "" else "\n"
        return "".join(c for c in lead if c in self.vocab) + seed

    def _seed_text(self, request: GenerationRequest) -> str:
        """The text a request's seed is cleaned from: its speech, after the speaker's name in free text."""
        if request.speaker is not None and not (request.monologue and self.speakers is not None):
            return f"{request.speaker}: {request.seed}"
        if request.sonnet:
            return " ".join(request.seed.split())  # a sonnet's seed opens its first line
        return request.seed

    def _plan(self, request: GenerationRequest, cleaned: CleanSeed) -> Plan:
        """What one request is fed and how it ends.

        A monologue's speaker is the one the request names, or one drawn by the model's own odds: of opening a
        speech, or, after an exchange (history), of answering its last speaker (who does not answer himself).
        """
        if request.clean and (not request.monologue or self.names is None):
            raise ValueError("clean mode needs a monologue on a model with a lexicon")
        if request.monologue and self.speakers is not None:
            speech = cleaned.text
            named = self.clean(request.speaker).text if request.speaker is not None else ""
            history = clean_seed(request.history, self.vocab, max_chars=HISTORY_CHARS).text.strip("\n")
            choice = None
            if named.strip():
                speaker = self.speakers.spelling(named)
            elif history:
                speaker = self._answerer(history, request.rng)
            elif request.seed_speaker and self.who is not None:
                choice = self.who.choose(speech, request.rng.random())
                speaker = choice.speaker
            else:
                speaker = self.candidates[int(np.searchsorted(self.speaker_cdf, request.rng.random(), side="right"))]
            max_chars = SONNET_CHARS if request.sonnet else request.max_chars
            min_chars = int(max_chars * MIN_SHARE) if request.min_chars is None else request.min_chars
            # His plays' names only, and with clean, none of clean mode's words.
            names = self.names.of(speaker, clean=request.clean) if self.names is not None else None
            rule: Rule = MonologueRule(
                speech,
                max_chars=max_chars,
                min_chars=min_chars,
                speaker_names=self.speaker_names,
                words=self.words,
                verse=(self.verse if names is None else names.verse) if request.verse else None,
                names=names,
                rhyme=self._rhyme(request, max_chars, min_chars),
            )
            subject, naming = (), None
            if request.topic and self.subjects is not None:
                about = f"{request.history}\n{speech}"
                subject = self.subjects.of(about, speaker)
                named = self.subjects.of(about, speaker, NAMED_RELATED)
                naming = Naming(self.spelling, named, request.topic, about)
            return Plan(speech, speech, speaker, rule, history, choice, subject, naming)
        context = self._context(cleaned.text)
        min_chars = request.max_chars // 2 if request.min_chars is None else request.min_chars
        return Plan(cleaned.text, context, None, StopRule(context, max_chars=request.max_chars, min_chars=min_chars))

    def _rhyme(self, request: GenerationRequest, max_chars: int, min_chars: int) -> RhymePlan | None:
        """A verse request's rhymes: a sonnet's, or a closing couplet's; None without the model's rhymes."""
        if self.rhymes is None or not request.verse:
            if request.sonnet:
                raise ValueError(f"model {self.model.name} has no rhymes: it cannot write sonnets")
            return None
        if request.sonnet:
            return RhymePlan(self.rhymes, Sonnet())
        return RhymePlan(self.rhymes, Couplet(max_chars, min_chars)) if request.couplet else None

    def _answerer(self, history: str, rng: np.random.Generator) -> str:
        """Who answers the exchange's last speech, drawn by the model's odds of each speaking next: among the well-known
        speakers most likely to open a speech and those in the exchange, never its last speaker."""
        assert self.speakers is not None
        said = [speech.speaker for speech in speeches(history)]
        last = last_speaker(history)  # a speech of stage directions alone is not in `said`, but it was spoken last
        likely = [self.candidates[i] for i in np.argsort(-np.diff(self.speaker_cdf, prepend=0.0))[:ANSWER_CANDIDATES]]
        names = [n for n in dict.fromkeys([*said, *likely]) if n != last]
        logp = self.network.continuation_logprobs(history + SPEECH_BREAK, [f"{name}:\n" for name in names])
        odds = np.cumsum(np.exp(logp - logp.max()))
        return names[int(np.searchsorted(odds / odds[-1], rng.random(), side="right"))]

    def generate(
        self,
        seed: str,
        *,
        max_chars: int = 400,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        rng: np.random.Generator | None = None,
        monologue: bool = True,
        verse: bool = True,
        speaker: str | None = None,
        clean: bool = False,
        on_text: Callable[[str], None] | None = None,
    ) -> Generation:
        """Continue one seed. on_text, if given, receives the text in pieces as soon as each is final."""
        rng = rng if rng is not None else np.random.default_rng()
        request = GenerationRequest(
            seed,
            max_chars,
            temperature,
            top_k,
            top_p,
            rng,
            monologue=monologue,
            verse=verse,
            speaker=speaker,
            clean=clean,
        )
        return self.generate_batch([request], on_text=on_text)[0]

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_start: Callable[[str | None, str], None] | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> list[Generation]:
        """Continue several seeds in one batch. For the first request, on_start receives the speaker (None for
        free text) and the seed as shown before anything is generated, and on_text streams its text."""
        if not requests:
            return []
        cleaned = [self.clean(self._seed_text(r)) for r in requests]
        plans = [self._plan(r, c) for r, c in zip(requests, cleaned, strict=True)]
        rules = [plan.rule for plan in plans]
        monologues = [isinstance(rule, MonologueRule) for rule in rules]
        if on_start is not None:
            on_start(None if requests[0].sonnet else plans[0].speaker, plans[0].shown)
        shift = self._subject_shift(requests, plans)
        primed = [self._prime_context(p, shift.take([i]) if shift else None) for i, p in enumerate(plans)]
        state = LSTMState.stack([st for _, st in primed])
        logits = np.stack([lg for lg, _ in primed])
        # Rhymed verse: by request, (logits, state) where the line it writes began, to write it again from there.
        line_starts = {i: (logits[i].copy(), state.take([i])) for i, rule in enumerate(rules) if rule.marked}

        active = np.arange(len(requests))  # request index of each batch row
        sampler = BatchSampler(
            np.array([r.temperature for r in requests]),
            np.array([r.top_k for r in requests]),
            np.array([r.top_p for r in requests]),
        )
        chars = self.vocab.chars
        streamed = 0
        row_rules = list(rules)  # the rule of each batch row
        naming = any(plan.naming is not None for plan in plans)  # some speech places its subject's words
        while True:
            uniform = np.array([requests[i].rng.random() for i in active])
            banned = self._banned(row_rules) if any(monologues) else None
            if line_starts and (stuck := [row for row, rule in enumerate(row_rules) if rule.stuck]):
                for row in stuck:  # a line that must rhyme met a dead end: back to its start
                    row_rules[row].rewind()
                    logits[row], start = line_starts[int(active[row])]
                    state.put(row, start)
                banned = self._banned(row_rules)
            for row, i in enumerate(active.tolist()) if naming else ():  # model_store/rules/naming.py
                if (placing := plans[i].naming) is not None:
                    placing.steer(row_rules[row], banned[row], logits[row], requests[i].rng)
            ids = sampler(logits, uniform, banned)
            keep = [
                row
                for row, (rule, char_id) in enumerate(zip(row_rules, ids.tolist(), strict=True))
                if not rule.feed(chars[char_id - 1])
            ]
            if on_text is not None and rules[0].safe_length() > streamed:
                safe = rules[0].safe_length()
                on_text(rules[0].text[streamed:safe])
                streamed = safe
            if not keep:
                break
            if len(keep) < len(active):
                active, ids, state, sampler = active[keep], ids[keep], state.take(keep), sampler.take(keep)
                shift = shift.take(keep) if shift is not None else None
                row_rules = [row_rules[row] for row in keep]
                monologues = [monologues[row] for row in keep]
            if shift is not None:
                self._said_joins_subject(shift, ids, active, requests, plans, row_rules)
            logits = self.network.step(ids, state, shift)
            for row in [row for row, rule in enumerate(row_rules) if rule.marked] if line_starts else ():
                line_starts[int(active[row])] = (logits[row].copy(), state.take([row]))
        return [_generation(r, c, p) for r, c, p in zip(requests, cleaned, plans, strict=True)]

    def _subject_shift(self, requests: Sequence[GenerationRequest], plans: list[Plan]) -> SubjectShift | None:
        """What each batch row's subject adds to the network's logits (model_store/lstm.py), or None when no request
        of the batch has one (a row without one adds zeros)."""
        if self.subjects is None or self.model.subject is None or not any(plan.subject for plan in plans):
            return None
        vectors = [self.subjects.vector(p.subject, r.topic) for r, p in zip(requests, plans, strict=True)]
        return self.network.subject_shift(np.stack(vectors))

    def _said_joins_subject(
        self,
        shift: SubjectShift,
        ids: np.ndarray,
        active: np.ndarray,
        requests: Sequence[GenerationRequest],
        plans: list[Plan],
        rules: list[Rule],
    ) -> None:
        """Where a batch row's line has just ended (ids: what each row wrote), what its speech has said joins its
        subject (active: each row's request)."""
        assert self.subjects is not None
        for row in np.flatnonzero(ids == self.newline_id).tolist():
            request, plan = requests[int(active[row])], plans[int(active[row])]
            if plan.subject:
                self.network.set_subject(shift, row, self.subjects.vector(plan.subject, request.topic, rules[row].text))

    def _prime_context(self, plan: Plan, shift: SubjectShift | None = None) -> tuple[np.ndarray, LSTMState]:
        """(logits for the next character, state) after the history, the speaker's opening (if any) and the context;
        shift: the speech's subject, told to the model from the seed on (the kept openings have none)."""
        context, speaker = plan.context, plan.speaker
        if plan.history:  # an exchange before the speech: primed whole, as no kept opening can stand for it
            ids = self.vocab.encode(f"{plan.history}{SPEECH_BREAK}{speaker}:\n{context}")
            all_logits, state = self.network.prime(ids, shift=shift)
            return all_logits[-1], state
        if speaker is not None:
            logits, state = self._opening(speaker)
        else:
            logits, state = np.zeros(self.vocab.size, np.float32), None  # nothing at all: uniform
        if context:
            all_logits, state = self.network.prime(self.vocab.encode(context), state, shift)
            return all_logits[-1], state
        return logits, state.copy() if state is not None else self.network.zero_state(1)

    def _banned(self, rows: list[Rule]) -> np.ndarray:
        """What each batch row may not write next: its words' mask, and its speech's bans (free text: none)."""
        return row_bans(rows, self.words, self.structure, self.vocab.size)


def _generation(request: GenerationRequest, cleaned: CleanSeed, plan: Plan) -> Generation:
    """What one request got, once its text is complete."""
    rule = plan.rule
    return Generation(
        plan.shown,
        rule.text,
        cleaned.changes,
        rule.reason or "length",
        None if request.sonnet else plan.speaker,  # a sonnet is no speech
        len(rule.chars),
        rule.verse.fallbacks if rule.verse is not None else 0,
        rule.rhyme.rewrites if rule.rhyme is not None else 0,
        plan.choice,
        plan.subject,
        tuple(plan.naming.placed) if plan.naming is not None else (),
    )
