"""Importers: Project Gutenberg text and TEI drama to play-script text, detection, bad input.

Every fixture is a small excerpt written here in the source's format; nothing is read from the network.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from play_excerpts import (
    ALONE_CAPS,
    ALONE_MIXED,
    COLON_ABBREVIATED,
    DRACOR,
    EARLYPRINT,
    FOLGER,
    INLINE_CAPS,
    MODERN_FOOTER,
    MODERN_HEADER,
    NOVEL,
    PERSONS_OF_THE_PLAY,
    PERSONS_REPRESENTED,
    SMALL_PRINT_HEADER,
)

from model_store.playscript import speeches
from training.importers import PlayImportError, convert, detect
from training.importers import reading as reading_module
from training.importers.cast import full_name, name_speakers, speaker_name


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


# --------------------------------------------------------------------------- Project Gutenberg


def test_gutenberg_modern_inline_capitals_indented_directions_and_notes(tmp_path):
    c = convert(write(tmp_path, "malta.txt", MODERN_HEADER + INLINE_CAPS + MODERN_FOOTER))
    assert c.format == "gutenberg"
    assert c.text == (
        "[Enter MACHIAVEL.]\n\nMACHIAVEL:\nAlbeit the world think Machiavel is dead,\n"
        "Yet was his soul but flown beyond the Alps.\n[Exit.]\n\n"
        "ACT I.\n\n[BARABAS discovered in his counting-house.]\n\n"
        "BARABAS:\nSo that of thus much that return was made;\nAnd of the third part of the Persian ships\n\n"
        "[Enter a MERCHANT.]\n\nBARABAS:\nHow now!\n\n"
        "MERCHANT:\nBarabas, thy ships are safe,\nRiding in Malta-road.\n\n"
        "BARABAS:\nThe ships are safe thou say'st?\n\nMERCHANT:\nThey are.\n\n"
        "BARABAS:\n[aside] Why, then, go bid them come ashore.\n[Exit MERCHANT.]\n\n"
        "FIRST JEW:\nTush, tell not me.\n\nBARABAS:\nFarewell.\n"
    )
    assert set(c.dropped) >= {"header", "footer", "notes", "front matter"}
    assert "Project Gutenberg" not in c.text and "Marlowe was born" not in c.text and "[17]" not in c.text


def test_gutenberg_small_print_names_alone_and_a_one_word_speech(tmp_path):
    c = convert(write(tmp_path, "hamlet.txt", SMALL_PRINT_HEADER + ALONE_CAPS))
    assert c.text == (
        "ACT I\n\nSCENE V. Another part of the platform.\n\n[Enter Ghost and Hamlet.]\n\n"
        "HAMLET:\nWhither wilt thou lead me? Speak, I'll go no further.\n\n"
        "GHOST:\nMark me.\n\nHAMLET:\nI will.\n\nGHOST:\nSwear.\n\n"
        "HAMLET:\nRest, rest, perturbed spirit. [They swear.]\n\nGHOST:\n[Beneath.] Swear.\n"
    )
    assert c.dropped["header"] > 0 and c.dropped["footer"] > 0


def test_gutenberg_abbreviated_mixed_case_names_alone(tmp_path):
    c = convert(write(tmp_path, "hamlet.txt", ALONE_MIXED), "gutenberg")
    assert [(s.speaker, s.text) for s in speeches(c.text)] == [
        ("Ham", "Whither wilt thou lead me?"),
        ("Ghost", "Mark me."),
        ("Ham", "I will."),
        ("Ghost", "Swear."),
        ("Ham", "Rest, rest, perturbed spirit."),
        ("Ghost", "Swear."),
        ("Ham", "So, gentlemen."),
    ]


def test_gutenberg_abbreviated_names_with_a_colon_and_indented_continuation(tmp_path):
    c = convert(write(tmp_path, "volpone.txt", COLON_ABBREVIATED), "gutenberg")
    assert c.text.startswith(
        "ACT 1. SCENE 1.1.\n\n[A ROOM IN VOLPONE'S HOUSE.]\n\n"
        "VOLP:\nGood morning to the day; and next, my gold!\nOpen the shrine, that I may see my saint.\n\n"
        "MOS:\nAnd what he will, sir.\n"
    )
    assert "VOLPONE; OR, THE FOX" not in c.text  # the title page is front matter


def test_cp1252_bytes_are_read_and_counted_in_a_warning(tmp_path):
    raw = (MODERN_HEADER + INLINE_CAPS).encode("ascii").replace(b"say'st", b"say\x92st")
    c = convert(write(tmp_path, "malta.txt", raw))
    assert "The ships are safe thou say'st?" in c.text  # U+2019 from cp1252, made plain
    assert len(c.warnings) == 1
    assert "malta.txt: not valid UTF-8: 1 bytes read as cp1252" in c.warnings[0]


def test_a_novel_is_refused_saying_what_was_found(tmp_path):
    with pytest.raises(PlayImportError, match=r"novel\.txt: no speeches found .* but no speaker names"):
        convert(write(tmp_path, "novel.txt", NOVEL))


# --------------------------------------------------------------------------- full names from the cast list


def speakers_of(text: str) -> list[str]:
    return [s.speaker for s in speeches(text)]


def test_gutenberg_prefixes_take_the_names_of_the_persons_represented(tmp_path):
    c = convert(write(tmp_path, "hamlet.txt", PERSONS_REPRESENTED), "gutenberg")
    # "Ham." and "Haml." are one speaker; "King." names no one in the list (Claudius is its King) and stays.
    assert set(speakers_of(c.text)) == {"HORATIO", "HAMLET", "MARCELLUS", "King"}
    assert speakers_of(c.text).count("HAMLET") == 6
    assert c.names.full == {"Hor": "HORATIO", "Ham": "HAMLET", "Mar": "MARCELLUS", "Haml": "HAMLET"}
    assert c.names.source == "the Dramatis Personae" and c.names.unmapped() == ["King"]


def test_gutenberg_capitals_cast_prefixes_of_several_words_and_what_stays_as_printed(tmp_path):
    c = convert(write(tmp_path, "volpone.txt", PERSONS_OF_THE_PLAY), "gutenberg")
    assert speakers_of(c.text) == [
        "VOLPONE", "MOSCA", "VOLPONE", "COR", "MOSCA", "NANO", "SIR POLITICK WOULD-BE", "PEREGRINE",
        "SIR POLITICK WOULD-BE", "COR", "NANO", "PEREGRINE", "SIR POLITICK WOULD-BE",
    ]  # fmt: skip
    assert c.names.unmapped() == ["COR", "NANO"]  # CORVINO or CORBACCIO; not in the list


def test_a_play_without_a_cast_list_keeps_its_prefixes(tmp_path):
    c = convert(write(tmp_path, "malta.txt", MODERN_HEADER + INLINE_CAPS + MODERN_FOOTER))
    assert c.names.source == "" and c.names.full == {} and "BARABAS" in c.names.speeches


@pytest.mark.parametrize(
    "prefix, cast, expected",
    [
        ("Ham", ["CLAUDIUS", "HAMLET", "HORATIO"], "HAMLET"),
        ("SIR P", ["SIR POLITICK WOULD-BE", "PEREGRINE"], "SIR POLITICK WOULD-BE"),
        ("Fau.", ["FAUSTUS", "WAGNER"], "FAUSTUS"),
        ("Cor", ["CORVINO", "CORBACCIO"], None),  # ambiguous
        ("Lear", ["LEAR", "LEARNED DOCTOR"], "LEAR"),  # the name itself wins over a longer one it begins
        ("King", ["CLAUDIUS", "GERTRUDE"], None),  # missing
        ("Sir Toby Belch", ["SIR TOBY"], None),  # more words than the name
        ("", ["HAMLET"], None),
    ],
)
def test_a_prefix_names_the_one_cast_member_it_abbreviates_word_by_word(prefix, cast, expected):
    assert full_name(prefix, cast) == expected


def test_a_cast_name_too_long_for_a_speaker_line_names_no_one():
    long_name = "GENTLEMAN OF THE COURT AND FRIEND TO THE PRINCE OF ARRAGON"  # 58 characters
    names = name_speakers(Counter({"Gent": 2, "Ham": 1}), [long_name, "Hamlet"], "the cast")
    assert names.full == {"Ham": "HAMLET"} and names.unmapped() == ["Gent"]


def test_speaker_names_hold_only_what_the_play_script_format_can():
    assert speaker_name("Scholar 2") == "SECOND Scholar"
    assert speaker_name("1. Sch.") == "FIRST Sch"
    assert speaker_name(" Wagner. ") == "Wagner"


CAST_TEI = """<TEI xmlns="http://www.tei-c.org/ns/1.0"><teiHeader><profileDesc><particDesc><listPerson>
<person xml:id="faustus"><persName>Faustus</persName></person>
<person xml:id="mephostophilis"><persName>Mephostophilis</persName></person>
<personGrp xml:id="scholars"><name>Scholars</name></personGrp>
<person xml:id="scholar-1"><persName>Scholar 1</persName></person>
<person xml:id="Wagner_Fau"><persName>Wagner_Fau</persName></person>
</listPerson></particDesc></profileDesc></teiHeader><text><body><div type="scene">
<sp who="#faustus"><speaker>Fau.</speaker><l>Was this the face that launcht a thousand ships?</l></sp>
<sp who="#mephostophilis"><speaker>Me.</speaker><l>Why this is hell, nor am I out of it.</l></sp>
<sp who="#faustus"><speaker>Faust.</speaker><l>How comes it then that thou art out of hell?</l></sp>
<sp who="#scholar-1"><speaker>1. Sch.</speaker><l>Now God forbid.</l></sp>
<sp who="#scholars"><speaker>All.</speaker><l>God will strengthen thee.</l></sp>
<sp who="#faustus #mephostophilis"><speaker>Both.</speaker><l>Away!</l></sp>
<sp who="#wagner"><speaker>Boy.</speaker><l>How now, boy?</l></sp>
<sp who="#Wagner_Fau"><speaker>Wag.</speaker><l>Sirrah boy, come hither.</l></sp>
</div></body></text></TEI>
"""
CASTLIST_TEI = """<TEI xmlns="http://www.tei-c.org/ns/1.0"><teiHeader/><text><front><castList>
<castItem><role xml:id="Barabas">Barabas, the Jew of Malta</role></castItem>
<castItem xml:id="Ithamore"><role>Ithamore</role><roleDesc>a slave</roleDesc></castItem>
</castList></front><body>
<sp who="#Barabas"><speaker>Iew.</speaker><l>So that of thus much that return was made.</l></sp>
<sp who="#Ithamore"><speaker>Ith.</speaker><l>I have the bottle, master.</l></sp>
</body></text></TEI>
"""


def test_tei_who_takes_the_name_the_cast_list_gives_it(tmp_path):
    c = convert(write(tmp_path, "faustus.xml", CAST_TEI))
    # Fau. and Faust. are one FAUSTUS; a joint speech and an id outside the cast keep the prefix as printed.
    assert speakers_of(c.text) == [
        "FAUSTUS", "MEPHOSTOPHILIS", "FAUSTUS", "FIRST SCHOLAR", "SCHOLARS", "Both", "Boy", "WAGNER",
    ]  # fmt: skip
    # A name that is only the id again (DraCor's "Wagner_Fau") is no name: the id's own (its play suffix left
    # out) names the speaker its prefix abbreviates.
    assert c.names.source == "the TEI cast list (particDesc)" and c.names.unmapped() == ["Both", "Boy"]
    assert c.names.full["Fau"] == c.names.full["Faust"] == "FAUSTUS"
    c = convert(write(tmp_path, "malta.xml", CASTLIST_TEI))
    assert speakers_of(c.text) == ["BARABAS", "ITHAMORE"]  # the role's name, not its description
    assert c.names.source == "the TEI cast list (castList)"


# --------------------------------------------------------------------------- TEI


def test_folger_words_spaces_and_punctuation_as_elements(tmp_path):
    c = convert(write(tmp_path, "ham.xml", FOLGER))
    assert c.format == "tei (folger)"
    assert c.text == (
        "ACT 1\n\n[Enter Barnardo and Francisco.]\n\nBARNARDO:\nWho's there?\n\n"
        "FRANCISCO:\nNay, answer me. Stand and unfold yourself.\n\nBARNARDO:\nLong live the King!\n"
    )
    assert c.dropped["notes"] == len("unfold: reveal") and c.dropped["front matter"] > 0


def test_earlyprint_word_elements_regularised_and_corrected(tmp_path):
    c = convert(write(tmp_path, "cupid.xml", EARLYPRINT))
    assert c.format == "tei (earlyprint)"
    # Without a cast list the @who ids name the speakers, where the prefix abbreviates the id's name ("Dor.").
    assert c.text == (
        "Actus primus.\n\nNISUS:\nWhy, did your Lordship sleep?\n\nDORIALUS:\nI marvel what the Duke meant.\n"
    )
    assert c.names.full == {"Nisus": "NISUS", "Dor": "DORIALUS"} and c.names.source == "the TEI @who ids"


def test_dracor_plain_text_who_choice_notes_and_page_breaks(tmp_path):
    c = convert(write(tmp_path, "volpone.xml", DRACOR))
    assert c.format == "tei (dracor)"
    assert c.text == (
        "Act I. Scene I.\n\n[VOLPONE, MOSCA.]\n\n"
        "VOLPONE:\nGood morning to the day; and, next, my gold:\nOpen the shrine.\n\n"
        "MOSCA:\nAnd what he will, sir.\n\n"
        "VOLPONE:\nTrue, my beloved Mosca. Yet I glory\nMore in the cunning purchase of my wealth.\n"
        "[He kisses the gold.]\n"
    )
    assert c.dropped["front matter"] > 0 and c.dropped["back matter"] > 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE TEI [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<TEI><text><body><sp><speaker>A</speaker><l>&lol3;</l></sp></body></text></TEI>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE TEI [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<TEI><text><body><sp><speaker>A</speaker><l>&secret;</l></sp></body></text></TEI>
"""
NOT_DRAMA = """<TEI xmlns="http://www.tei-c.org/ns/1.0"><teiHeader/><text><body><div type="chapter">
<head>Chapter 1</head><p>It was a truth universally acknowledged.</p></div></body></text></TEI>"""


@pytest.mark.parametrize(
    "content, message",
    [
        (BILLION_LAUGHS, "unsafe XML refused"),
        (EXTERNAL_ENTITY, "unsafe XML refused"),
        ("<TEI><text><body><sp>", "malformed XML"),
        (NOT_DRAMA, "no speeches found in the TEI <body>"),
        ("<?xml version='1.0'?><html><body/></html>", "the root element is <html>, not <TEI>"),
        (b"<?xml version='1.0'?>\x00\x00\x01", "binary"),
    ],
)
def test_hostile_malformed_and_non_drama_xml_is_refused_in_one_line(tmp_path, content, message):
    path = write(tmp_path, "bad.xml", content)
    with pytest.raises(PlayImportError) as info:
        convert(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value) and "root:" not in str(info.value)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(reading_module, "MAX_BYTES", 100)
    with pytest.raises(PlayImportError, match="too big for a play"):
        convert(write(tmp_path, "big.xml", FOLGER))


# --------------------------------------------------------------------------- detection, round trips, bad files


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("a.txt", MODERN_HEADER + INLINE_CAPS, "gutenberg"),
        ("a.txt", ALONE_MIXED, "gutenberg"),
        ("a.txt", "HAMLET:\nTo be.\n\nOPHELIA:\nGood my lord.\n", "script"),
        ("a.txt", FOLGER, "tei"),
        ("a.xml", DRACOR, "tei"),
        ("a.xml", "\n<!-- converted from EEBO -->\n" + DRACOR, "tei"),
        ("a.md", "# Hamlet\n\n**HAMLET**  \nTo be.\n", "markdown"),
    ],
)
def test_the_format_is_chosen_by_content(tmp_path, name, content, expected):
    assert detect(tmp_path / name, content.encode()) == expected


@pytest.mark.parametrize("content", [MODERN_HEADER + INLINE_CAPS, ALONE_CAPS, COLON_ABBREVIATED, FOLGER, DRACOR])
def test_converted_text_reads_back_unchanged_as_play_script(tmp_path, content):
    first = convert(write(tmp_path, "play.xml" if content.startswith("<") else "play.txt", content))
    again = convert(write(tmp_path, "converted.txt", first.text))
    assert again.format == "script" and again.text == first.text


def test_markdown_is_still_read(tmp_path):
    c = convert(write(tmp_path, "play.md", "# Play\n\n## ACT I\n\n**HAMLET**  \nTo be.  \n"))
    assert c.format == "markdown" and c.text == "Play\n\nACT I\n\nHAMLET:\nTo be.\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\n \n", "is empty"),
        (b"\x7fELF\x00\x01\x02", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00", "binary"),
    ],
)
def test_empty_and_binary_files(tmp_path, content, message):
    with pytest.raises(PlayImportError, match=message):
        convert(write(tmp_path, "x.txt", content))


def test_numbered_speakers_verse_paragraphs_mail_escapes_and_footnotes_gathered_after_the_play(tmp_path):
    play = (
        "ACT 5. SCENE 5.1.\n\n  1 NEI. Daily, sir.\n\n  2 NEI. And nightly, too.\n\n"
        "  LOVE. Peace, neighbours.\n  She shall feel gold, taste gold, hear gold.\n\n"
        "  She shall sleep gold; and here she comes.\n\n  1 NEI. Ay, some as brave as lords.\n\n"
        "  LOVE. Go, and be gone, and let us hear no more of it.\n\n"
        "  2 NEI. We go, sir, we go;\n>From your worship we go.\n\n"
    )
    # Dyce-style notes ("lemma] comment") whose brackets do not balance, one quoting a speech.
    notes = "".join(f"[Footnote {n}: sleep gold] Old ed. reads:\n\nLOVE. Sleepe gold.]\n\n" for n in range(1, 5))
    c = convert(write(tmp_path, "alchemist.txt", play + notes), "gutenberg")
    assert c.text == (
        "ACT 5. SCENE 5.1.\n\nFIRST NEI:\nDaily, sir.\n\nSECOND NEI:\nAnd nightly, too.\n\n"
        "LOVE:\nPeace, neighbours.\nShe shall feel gold, taste gold, hear gold.\n"
        "She shall sleep gold; and here she comes.\n\nFIRST NEI:\nAy, some as brave as lords.\n\n"
        "LOVE:\nGo, and be gone, and let us hear no more of it.\n\n"
        "SECOND NEI:\nWe go, sir, we go;\nFrom your worship we go.\n"
    )
    assert c.dropped["notes"] > 0


# --------------------------------------------------------------------------- the training package's imports


def training_imports() -> dict[str, set[str]]:
    """Every training module and the training modules it imports anywhere in it, function-level imports included."""
    root = Path(__file__).parents[1]
    files = {".".join(p.relative_to(root).with_suffix("").parts): p for p in (root / "training").rglob("*.py")}
    files = {name.removesuffix(".__init__"): path for name, path in files.items()}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name} imports relatively"
                subs = {f"{node.module}.{a.name}" for a in node.names} & files.keys()
                graph[name] |= subs or ({node.module} & files.keys())
    return graph


def test_no_training_module_imports_one_that_imports_it_back():
    graph = training_imports()
    assert graph["training.importers"] >= {"training.importers.markdown", "training.importers.gutenberg"}
    assert "training.train" in graph["training.cli"]  # a function-level import counts
    for start in graph:
        came_from, todo = {start: ""}, [start]
        while todo:  # every module start imports, directly or not; reaching start again is a cycle
            module = todo.pop()
            for imported in graph[module]:
                chain = [module]
                while came_from[chain[-1]]:
                    chain.append(came_from[chain[-1]])
                assert imported != start, f"import cycle: {' -> '.join([*reversed(chain), start])}"
                if imported not in came_from:
                    came_from[imported] = module
                    todo.append(imported)
