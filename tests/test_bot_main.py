"""bard-bot as a program: --help, fail-fast start-up, console mode, signals, memory, no TensorFlow."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_discord import TOKEN, FakeDiscord

from bot.logs import REDACTED, RedactSecrets
from bot.main import main, run_bot
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RSS_LIMIT_MB = 300

# Runs main() and then reports which heavy packages were imported along the way.
RUN_MAIN = """
import sys
from bot.logs import REDACTED, RedactSecrets
from bot.main import main, run_bot
from bot.settings import Settings
status = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "training"))
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(status)
"""


@pytest.fixture(autouse=True)
def restore_logging() -> object:
    """main() installs a root log handler on the (captured, soon closed) stderr: take it away afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.upper().startswith("BARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("BARD_")} | {"PYTHONPATH": str(REPO)}


def isolated(tmp_path: Path) -> list[str]:
    return ["--env-file", str(tmp_path / "no.env"), "--secrets-dir", str(tmp_path / "no-secrets")]


def test_help_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--console", "--sync", "--model", "--env-file", "--secrets-dir", ".env.example"):
        assert flag in out


def test_a_missing_model_stops_start_up_with_a_clear_message(
    tmp_path: Path, clean_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--console", "--model", str(tmp_path / "nowhere"), *isolated(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1
    assert "cannot load the model" in err and "nowhere does not exist" in err and "BARD_MODEL_DIR" in err


def test_a_missing_models_folder_names_the_setting_that_named_it(
    tmp_path: Path, clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARD_MODELS_DIR", str(tmp_path / "nope"))
    assert main(["--console", *isolated(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "models folder" in err and "nope does not exist" in err
    assert "set BARD_MODELS_DIR" in err and "set BARD_MODEL_DIR" not in err


def test_a_corrupt_model_stops_start_up_naming_the_problem(
    tmp_path: Path, tiny_model_dir: Path, clean_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "weights.npz").write_bytes(b"not numpy")
    assert main(["--console", "--model", str(broken), *isolated(tmp_path)]) == 1
    assert "weights.npz does not match its manifest checksum" in capsys.readouterr().err


def test_sync_needs_discord(tmp_path: Path, clean_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sync", *isolated(tmp_path)]) == 2
    assert "--sync needs Discord" in capsys.readouterr().err


def test_without_a_token_it_runs_the_console_on_piped_input_and_never_imports_tensorflow(
    tmp_path: Path, tiny_model_dir: Path, clean_env: dict[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, *isolated(tmp_path)],
        input="!bard info\nhello\n!bard -n 30 -t 0 To be\n",
        env=clean_env | {"BARD_MODEL_DIR": str(tiny_model_dir)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "no BARD_TOKEN configured, so running in console mode" in done.stderr
    assert "HEAVY:\n" in done.stderr  # neither tensorflow, keras nor training was imported
    assert "(not a bard command" in done.stderr
    card, monologue = done.stdout.strip().split("\n\n")
    assert card.startswith("**tiny** · model card") and monologue.startswith("*The bard continues:*\n>>> To be")


@pytest.mark.parametrize("level", [None, "INFO"])
def test_the_console_keeps_the_request_lines_out_of_the_replies_and_never_colours_a_pipe(
    tmp_path: Path, tiny_model_dir: Path, clean_env: dict[str, str], level: str | None
) -> None:
    asked = {"BARD_LOG_LEVEL": level} if level else {}
    done = subprocess.run(
        [sys.executable, "-m", "bot.main", "--model", str(tiny_model_dir), *isolated(tmp_path)],
        input="!bard -n 20 To be\n",
        env=clean_env | asked,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr  # no ANSI colour: stderr is a pipe here (discord.py colours Docker's too)
    request_lines = [line for line in done.stderr.splitlines() if " bot.requests request " in line]
    if level is None:  # the console's default: warnings only, so nothing comes between the replies
        assert request_lines == []
    else:  # asked for: the request lines, plain, in the layout the docs grep
        assert len(request_lines) == 1 and request_lines[0].split()[2:4] == ["INFO", "bot.requests"]


@pytest.mark.parametrize("stdin", ["closed", "empty"])
def test_the_console_exits_cleanly_when_stdin_is_closed_or_empty(
    tmp_path: Path, tiny_model_dir: Path, clean_env: dict[str, str], stdin: str
) -> None:
    command = [sys.executable, "-m", "bot.main", "--console", "--model", str(tiny_model_dir), *isolated(tmp_path)]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL if stdin == "empty" else None,
        preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None,  # the child starts with no fd 0 at all
        env=clean_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


# --------------------------------------------------------------------------- the real process against a fake Discord


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.asyncio(loop_scope="function")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_the_bot_serves_then_stops_cleanly_on_a_signal(
    fake: FakeDiscord,
    tiny_model_dir: Path,
    tmp_path: Path,
    clean_env: dict[str, str],
    sig: signal.Signals,
    record_property: object,
) -> None:
    env = clean_env | {
        "BARD_TOKEN": TOKEN,
        "BARD_MODEL_DIR": str(tiny_model_dir),
        "BARD_API_BASE_URL": fake.api_base_url,
        "BARD_GATEWAY_URL": fake.gateway_url,
        "BARD_COOLDOWN": "0",
        "BARD_LENGTH": "300",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.main",
        *isolated(tmp_path),
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            await asyncio.wait_for(fake.identified.wait(), 30)
        except TimeoutError:
            if process.returncode is None:
                process.kill()
            _, err = await process.communicate()
            raise AssertionError(f"the bot never connected:\n{err.decode()[-3000:]}") from None
        first = await fake.send_message("!bard To be", author_id=1)
        await fake.wait_for(lambda: fake.reply_to(first), timeout=30)
        rss = rss_mb(process.pid)
        record_property("ready_rss_mb", round(rss))
        print(f"\nready bot RSS: {rss:.0f} MB")
        # A command in flight when the signal comes is still answered.
        second = await fake.send_message("!bard Or not to be", author_id=2)
        await fake.wait_for(lambda: fake.typing_calls()[1:] or None, timeout=30)
        process.send_signal(sig)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log
    assert fake.reply_to(second) is not None
    assert f"{sig.name}: shutting down" in log and "stopped" in log
    assert TOKEN not in log and TOKEN not in out.decode()
    assert rss <= RSS_LIMIT_MB


@pytest.mark.asyncio(loop_scope="function")
async def test_a_refused_token_is_a_clear_error_that_does_not_show_it(
    fake: FakeDiscord, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "MTIz.wrong-token.abc"
    settings = Settings(
        token=wrong, model_dir=tiny_model_dir, api_base_url=fake.api_base_url, gateway_url=fake.gateway_url
    )
    assert await run_bot(settings) == 1
    assert "Discord refused the token: check BARD_TOKEN" in caplog.text
    assert wrong not in caplog.text


def test_the_log_filter_scrubs_the_token_from_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["s3cret-token"]))
    logger = logging.getLogger("test_bot_main.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("connecting with %s", "s3cret-token")
        try:
            raise ValueError("Authorization: Bot s3cret-token")
        except ValueError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cret-token" not in text
    assert f"connecting with {REDACTED}" in text and f"ValueError: Authorization: Bot {REDACTED}" in text


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("4", "4")])
def test_blas_runs_one_thread_unless_told_otherwise(
    clean_env: dict[str, str], given: str | None, expected: str
) -> None:
    env = {k: v for k, v in clean_env.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = "import bot, os, numpy; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [expected, "1"], done.stderr
