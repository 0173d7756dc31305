"""bard-train --text ... --preview: what each file becomes, before any training; --write-converted."""

from __future__ import annotations

from play_excerpts import ALONE_CAPS, DRACOR, MODERN_HEADER, PERSONS_OF_THE_PLAY, SMALL_PRINT_HEADER

from training.cli import main

SCRIPT = "ACT I\n\nHAMLET:\nTo be, or not to be.\n[Aside]\nThat is the question.\n\nOPHELIA:\nGood my lord.\n"


def test_the_preview_counts_what_the_play_script_patterns_see(tmp_path, capsys):
    (tmp_path / "hamlet.txt").write_text(SCRIPT)
    assert main(["--text", str(tmp_path / "hamlet.txt"), "--preview"]) == 0
    out = capsys.readouterr().out
    assert "format:            script" in out
    assert "speeches:          2\n" in out
    assert "speakers:          2 (HAMLET 1, OPHELIA 1)" in out
    assert "verse/prose lines: 3\n" in out
    assert "stage directions:  1\n" in out
    assert f"characters kept:   {len(SCRIPT)} of {len(SCRIPT)} read" in out
    assert "not in vocabulary: none\n" in out
    assert "    | HAMLET:\n    | To be, or not to be.\n" in out


def test_the_preview_reports_what_was_dropped_and_unknown_characters(tmp_path, capsys):
    (tmp_path / "hamlet.txt").write_text(SMALL_PRINT_HEADER + ALONE_CAPS.replace("Mark me.", "Mark me \u0394."))
    assert main(["--text", str(tmp_path / "hamlet.txt"), "--preview"]) == 0
    out = capsys.readouterr().out
    # "[Beneath.] Swear." is a speech the play-script patterns do not count: its line opens with a direction.
    assert "format:            gutenberg" in out and "speakers:          2 (HAMLET 3, GHOST 2)" in out
    assert "(header " in out and "footer " in out and "front matter " in out
    assert "not in vocabulary: 1 characters (1 distinct: '\u0394')" in out
    assert "full names:        none (no cast list found); the speakers stay as printed\n" in out


def test_a_mixed_folder_is_previewed_file_by_file_and_written_whole(tmp_path, capsys):
    plays = tmp_path / "plays"
    (plays / "tei").mkdir(parents=True)
    (plays / "hamlet.txt").write_text(MODERN_HEADER.replace("\r\n", "\n") + ALONE_CAPS)
    (plays / "tei" / "volpone.xml").write_text(DRACOR)
    (plays / "notes.md").write_text("# Notes\n\nNothing here is a speech.\n")
    (plays / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")  # not a play suffix: not read
    out_dir = tmp_path / "converted"
    assert main(["--text", str(plays), "--preview", "--write-converted", str(out_dir)]) == 2
    captured = capsys.readouterr()
    assert "hamlet.txt\n  format:            gutenberg" in captured.out
    assert "volpone.xml\n  format:            tei (dracor)" in captured.out
    errors = captured.err.strip().splitlines()
    assert errors[0].startswith(f"bard-train: error: {plays / 'notes.md'}: no speeches found")
    assert errors[1] == "bard-train: 1 of 3 files cannot be used; nothing was written"
    assert not out_dir.exists()

    (plays / "notes.md").unlink()
    assert main(["--text", str(plays), "--preview", "--write-converted", str(out_dir)]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["hamlet.txt", "volpone.txt"]
    assert (out_dir / "volpone.txt").read_text().startswith("Act I. Scene I.\n\n[VOLPONE, MOSCA.]\n")


def test_a_non_play_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "novel.txt").write_text("CHAPTER I.\n\nIt was a dark and stormy night.\n")
    assert main(["--text", str(tmp_path / "novel.txt"), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bard-train: error:") and "novel.txt: no speeches found" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "model").exists()


def test_the_preview_checks_the_vocabulary_of_the_model_to_fine_tune(tmp_path, capsys, tiny_model_dir):
    (tmp_path / "hamlet.txt").write_text(SCRIPT.replace("question", "question \u0394"))
    args = ["--text", str(tmp_path / "hamlet.txt"), "--preview", "--init-from"]
    assert main([*args, str(tiny_model_dir)]) == 0
    # The tiny model's characters are its test script's, which has no G or P: the bundled model's are not asked.
    assert "not in vocabulary: 3 characters (3 distinct: 'GP\u0394')" in capsys.readouterr().out
    assert main([*args, str(tmp_path)]) == 2  # not a model: said, not passed over
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and captured.err
        == f"bard-train: error: --init-from: {tmp_path} has no manifest.json: not an exported bard model\n"
    )


def test_the_preview_shows_each_prefixs_full_name_and_what_stayed_as_printed(tmp_path, capsys):
    (tmp_path / "volpone.txt").write_text(PERSONS_OF_THE_PLAY)
    assert main(["--text", str(tmp_path / "volpone.txt"), "--format", "gutenberg", "--preview"]) == 0
    out = capsys.readouterr().out
    assert "full names:        5 of 7 speech prefixes, from the Dramatis Personae\n" in out
    assert "    VOLP               -> VOLPONE (2 speeches)\n" in out
    assert "    SIR P              -> SIR POLITICK WOULD-BE (2 speeches)\n" in out
    assert "    COR                   as printed (2)\n" in out
    assert "as printed:        2 (no name, or more than one, in the cast list): COR, NANO\n" in out
    (tmp_path / "volpone.txt").write_text(SCRIPT)
    assert main(["--text", str(tmp_path / "volpone.txt"), "--preview"]) == 0
    assert "full names" not in capsys.readouterr().out  # a play-script text names its speakers as it wants
