"""What a model needs to write monologues, read from its training text: its lexicon, its speakers, the
syllables and stress of the lexicon's words (its metre, from the CMU pronouncing dictionary) for verse, what each
word rhymes on (from the same dictionary), which proper names occur in which play and who speaks in each (its name
record, read play by play), and what the plays are about and who says what (its topic record, model_store/topics.py).

`bard-train` exports them with every model. For a model exported without them (before they existed),

    python -m training.speech_data model_store/shakespeare

rebuilds the model's training text from its manifest (the bundled plays and files it names), checks it is
the text the model was trained on (its sha256), and adds the six files to the export atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from model_store import export, store
from model_store.lexicon import Lexicon
from model_store.metre import Metre
from model_store.names import NameRecord
from model_store.playscript import lexicon_and_speakers
from model_store.rhymes import Rhymes
from model_store.speakers import Speakers
from model_store.store import ModelError
from model_store.topics import TopicRecord
from training.corpus import (
    CorpusError,
    Source,
    build_corpus,
    bundled_plays,
    read_text_sources,
    select_plays,
    training_length,
)
from training.metre_data import metre_of
from training.rhyme_data import rhymes_of


def speech_data(
    text: str, base: store.LoadedModel | None = None, plays: Sequence[Source] = (), val_fraction: float = 0.0
) -> tuple[Lexicon, Speakers, Metre, NameRecord | None, Rhymes, TopicRecord | None]:
    """The lexicon and speakers of a play-script text, added to a fine-tuned base model's own; the lexicon's metre
    and rhymes; the name and topic records of its plays (the sources it was taken from, each a play, of which all but
    the last val_fraction was trained on), added to the base's (none without plays)."""
    lexicon, speakers = lexicon_and_speakers(text)
    if base is not None and base.lexicon is not None:
        lexicon = base.lexicon.merged(lexicon)
    if base is not None and base.speakers is not None:
        speakers = base.speakers.merged(speakers)
    names = name_record(plays, lexicon, base) if plays else None
    topics = topic_record(plays, val_fraction, speakers, base) if plays else None
    return lexicon, speakers, metre_of(lexicon), names, rhymes_of(lexicon), topics


def name_record(plays: Sequence[Source], lexicon: Lexicon, base: store.LoadedModel | None = None) -> NameRecord:
    """Which names of `lexicon` occur in which of the plays, and who speaks in each, extending a base model's record.

    A base without a record (exported before there were any) leaves its words unlisted: their plays are not known.
    """
    record = NameRecord.of_plays(((play.name, play.text) for play in plays), lexicon)
    if base is None or base.lexicon is None:
        return record
    base_record = base.names if base.names is not None else NameRecord((), {}, {})
    return base_record.merged(record, lexicon, base.lexicon)


def topic_record(
    plays: Sequence[Source], val_fraction: float, speakers: Speakers, base: store.LoadedModel | None = None
) -> TopicRecord:
    """What the plays are about and who says what (their training part; the quotations from the whole plays), for
    the speakers' well-known ones, extending a base model's record."""
    parts = [(play.name, play.text[: training_length(play.text, val_fraction)], play.text) for play in plays]
    record = TopicRecord.of_plays(parts, speakers.well_known())
    return base.topics.merged(record) if base is not None and base.topics is not None else record


def sources_of(manifest: dict) -> list[Source]:
    """The training sources a manifest names: bundled plays ("tragedies/hamlet") or text files."""
    plays = bundled_plays()
    names = manifest.get("corpus", {}).get("sources") or []
    if not names:
        raise CorpusError("the manifest names no training sources")
    sources: list[Source] = []
    for name in names:
        if name in plays:
            sources += select_plays([name.split("/")[1]], [], False)
        else:
            sources += read_text_sources([Path(name)])
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.speech_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="an exported model directory")
    parser.add_argument("--base", type=Path, help="the model it was fine-tuned from, whose lexicon it extends")
    args = parser.parse_args(argv)
    try:
        model = store.load(args.model)
        manifest = model.manifest
        corpus = build_corpus(sources_of(manifest), float(manifest["hyperparameters"]["val_fraction"]))
        if corpus.sha256 != manifest["corpus"].get("sha256"):
            raise CorpusError("its training text differs from the one the model was trained on (sha256)")
        base = store.load(args.base) if args.base else None
        val_fraction = float(manifest["hyperparameters"]["val_fraction"])
        lexicon, speakers, metre, names, rhymes, topics = speech_data(
            corpus.train_text, base, corpus.sources, val_fraction
        )
        export.add_speech_data(
            args.model, lexicon=lexicon, speakers=speakers, metre=metre, names=names, rhymes=rhymes, topics=topics
        )
    except (ModelError, CorpusError, KeyError, OSError) as exc:
        print(f"speech_data: error: {args.model}: {exc}", file=sys.stderr)
        return 2
    kept = sum(1 for word in lexicon.counts if word in lexicon)
    seen, speaking = len(lexicon.counts), len(speakers.counts)
    print(f"{args.model}: lexicon of {kept:,} words (of {seen:,} seen), {speaking:,} speakers, metre of {kept:,} words")
    estimated = sum(rhymes.estimated(word) for word in rhymes.parts)
    print(f"rhymes of {len(rhymes.parts):,} words ({estimated:,} estimated from spelling)")
    if names is not None:
        print(f"names of {len(names.names):,} proper names, {len(names.speakers):,} speakers, {len(names.plays)} plays")
    if topics is not None:
        print(f"topics of {len(topics.words):,} content words, {len(topics.quote_hashes):,} line starts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
