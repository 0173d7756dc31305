"""bard-generate: the seed, then the continuation; reproducible with --rng-seed; one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from model_store import cli


def generate(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_same_rng_seed_same_text(capsys, tiny_model_dir):
    args = ("--model", str(tiny_model_dir), "--seed", "To be", "--length", "120", "--rng-seed", "4")
    first, second = generate(capsys, *args), generate(capsys, *args)
    assert first == second
    status, out, _ = first
    assert status == 0 and out.startswith("To be") and len(out) <= len("To be") + 120 + 1


def test_seed_changes_are_reported_on_stderr(capsys, tiny_model_dir):
    status, out, err = generate(capsys, "--model", str(tiny_model_dir), "--seed", "\u201cTo be\u201d", "--length", "20")
    assert status == 0 and out.startswith("To be")
    assert "seed changed" in err


def test_a_monologue_seed_names_its_speaker_and_free_text_keeps_it_as_text(capsys, monologue_model_dir):
    common = ("--model", str(monologue_model_dir), "--length", "40", "--rng-seed", "2")
    status, out, _ = generate(capsys, *common, "--seed", "horatio: My lord")
    assert status == 0 and out.startswith("HORATIO:\nMy lord")
    status, out, _ = generate(capsys, *common, "--seed", "horatio: My lord", "--free")
    assert status == 0 and out.startswith("horatio: My lord")


@pytest.mark.parametrize(
    "args, message",
    [  # named as typed, with the limits the bot holds too (model_store/limits.py), never the engine's field names
        (["--temperature", "-1"], "--temperature must be from 0 to 2 (got -1)"),
        (["--temperature", "2.5"], "--temperature must be from 0 to 2 (got 2.5)"),
        (["--temperature", "5"], "--temperature must be from 0 to 2 (got 5)"),
        (["--temperature", "nan"], "--temperature must be from 0 to 2 (got nan)"),
        (["--top-p", "2"], "--top-p must be above 0 and at most 1 (1 is off; got 2)"),
        (["--top-p", "0"], "--top-p must be above 0 and at most 1 (1 is off; got 0)"),
        (["--top-k", "-3"], "--top-k must be from 0 (off) to 1000 (got -3)"),
        (["--top-k", "1001"], "--top-k must be from 0 (off) to 1000 (got 1001)"),
        (["--length", "0"], "--length must be from 1 to 100000 characters (got 0)"),
        (["--length", "100001"], "--length must be from 1 to 100000 characters (got 100001)"),
        (["--topic", "9"], "--topic must be from 0 (off) to 8 (got 9)"),
        (["--topic", "-1"], "--topic must be from 0 (off) to 8 (got -1)"),
    ],
)
def test_bad_options_get_one_line(capsys, tiny_model_dir, args, message):
    status, out, err = generate(capsys, "--model", str(tiny_model_dir), *args)
    assert status == 2 and out == ""
    assert err == f"bard-generate: error: {message}\n"
    for internal in ("max_chars", "top_p", "top_k"):
        assert internal not in err


def test_missing_model(capsys, tmp_path):
    status, _, err = generate(capsys, "--model", str(tmp_path / "none"))
    assert status == 2 and "does not exist" in err
    assert err.startswith(f"bard-generate: error: --model {tmp_path / 'none'}: ")


def test_a_file_given_as_the_model_is_called_a_file(capsys, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# not a model\n")
    status, _, err = generate(capsys, "--model", str(readme))
    assert status == 2 and "does not exist" not in err
    assert f"{readme} is a file, not a model directory" in err and len(err.splitlines()) == 1


def test_help_shows_the_defaults_the_limits_and_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines where the terminal width says
    for expected in (
        "0 to 2: 0 always picks the likeliest character (default 0.8)",
        "0 to 1000 (default 0: off)",
        "above 0 up to 1 (default 1: off)",
        "1 to 100000 (default 400)",
        "(default: the bundled model)",
        'examples: bard-generate --seed "To be, or not to be"',
        "keeps to its seed's subject, 0 (off) to 8, on a model with a topic record: its words in nouns' places, "
        "the network told of it (default 0.5",
    ):
        assert expected in text


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("4", "4")])
def test_blas_runs_one_thread_unless_told_otherwise(tmp_path, given, expected):
    """bard-generate holds BLAS to one thread before numpy is imported (importing the CLI does not import it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = (
        "import os, sys\nfrom model_store import cli\nassert 'numpy' not in sys.modules\n"
        f"cli.main(['--model', {str(tmp_path / 'none')!r}])\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [expected, "1"], done.stderr


def test_explain_says_who_was_chosen_and_why(capsys):
    """On the shipped model (it has a topic record): a famous line goes to whoever says it; another seed is drawn."""
    status, out, err = generate(capsys, "--seed", "Now is the winter of our discontent", "--length", "60", "--explain")
    assert status == 0 and out.startswith("GLOUCESTER:\nNow is the winter")
    assert err.startswith("speaker: GLOUCESTER, who says this line in the plays")
    seed = "Romeo sighs for thee, fair Capulet"
    status, _, err = generate(capsys, "--seed", seed, "--length", "60", "--explain")
    assert status == 0 and "odds times the fit of the seed's words (romeo, sighs, fair, capulet)" in err
    assert err.splitlines()[2].split()[0] in ("ROMEO", "JULIET", "Nurse", "CAPULET", "MERCUTIO", "BENVOLIO")
    assert len([line for line in err.splitlines() if "chance" in line]) == 5
    status, _, err = generate(capsys, "--seed", "Now is the winter", "--length", "60", "--odds-speaker", "--explain")
    assert status == 0 and "(the model's odds alone)" in err
    status, _, err = generate(capsys, "--seed", "Hamlet: Now is the winter", "--length", "60", "--explain")
    assert status == 0 and err.startswith("speaker: HAMLET (named in the seed)\nsubject: winter, summer")
    # What the speech is about: the seed's words and the words that go with them; none at --topic 0.
    status, _, err = generate(
        capsys, "--seed", "Hamlet: Now is the winter", "--length", "60", "--topic", "0", "--explain"
    )
    assert status == 0 and err == "speaker: HAMLET (named in the seed)\n"


def test_a_sonnet_is_fourteen_lines_without_a_speaker_and_the_couplet_can_be_turned_off(capsys, rhymed_model_dir):
    common = ("--model", str(rhymed_model_dir), "--rng-seed", "1")
    status, out, _ = generate(capsys, *common, "--sonnet", "--seed", "hamlet: To be")
    lines = out.rstrip("\n").split("\n")
    assert status == 0 and len(lines) == 14 and lines[0].startswith("hamlet: To be")  # all of it the first line
    on = generate(capsys, *common, "--seed", "To be")
    off = generate(capsys, *common, "--seed", "To be", "--no-couplet")
    assert on[0] == off[0] == 0 and on[1] != off[1]
    status, _, err = generate(capsys, *common, "--sonnet", "--prose")
    assert status == 2 and err == "bard-generate: error: a sonnet is rhymed verse: it cannot be free text or prose\n"


def test_a_sonnet_from_a_model_without_rhymes_is_refused(capsys, monologue_model_dir):
    status, _, err = generate(capsys, "--model", str(monologue_model_dir), "--sonnet")
    assert status == 2 and err.endswith("has no rhymes (or speakers): it cannot write sonnets\n")
