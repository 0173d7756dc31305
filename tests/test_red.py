"""The bard as a Red-DiscordBot cog (bard/): its info files as Red's downloader reads them; where Red is importable,
the cog against Red's classes (every BardCog command is Red's, with the same callback and slash options); and, when
asked for (BARD_TEST_RED=1), Red installed for real in a venv of its own, started against the fake Discord, loading
the cog as an owner does and serving it (tests/red_launcher.py)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fake_discord import TOKEN, Call, FakeDiscord

from bot.bard import Bard
from bot.cog import BardCog
from bot.request import Caller
from bot.scene import read_reply

REPO = Path(__file__).resolve().parent.parent
COG = REPO / "bard"
RED_IMPORTABLE = importlib.util.find_spec("redbot") is not None
needs_red = pytest.mark.skipif(
    not RED_IMPORTABLE, reason="Red-DiscordBot is not importable here (BARD_TEST_RED=1 runs these in a Red venv)"
)


def info(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def cog_package() -> Any:
    """The cog folder imported as Red imports it: the package `bard` found in a cog path (here the repository)."""
    if "bard" not in sys.modules:
        spec = importlib.machinery.PathFinder.find_spec("bard", [str(REPO)])
        assert spec is not None and spec.loader is not None
        sys.modules["bard"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["bard"]


# --------------------------------------------------------------------------- the repository as a Red cog repository


def test_the_info_files_say_what_reds_downloader_reads() -> None:
    repo, cog = info(REPO / "info.json"), info(COG / "info.json")
    for key in ("author", "short", "description", "install_msg"):
        assert repo[key], key
    for key in ("author", "short", "description", "install_msg", "end_user_data_statement", "tags"):
        assert cog[key], key
    assert cog["type"] == "COG" and cog["requirements"] == []  # why none: docs/red.md
    assert cog["min_python_version"] == [3, 11, 0]  # the project's requires-python
    assert re.fullmatch(r"3\.5\.\d+", cog["min_bot_version"])
    assert "Config holds one value, the bot owner's model folder" in cog["end_user_data_statement"]
    assert "pip install" in cog["install_msg"] and "-c red-pins.txt" in cog["install_msg"]


def test_the_engines_packages_are_hidden_from_reds_cog_list_and_not_installable() -> None:
    # Red's downloader offers every package at the top of a repository as a cog (pkgutil.iter_modules).
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert "bard" in packages and {"bot", "model_store"} <= packages
    for name in packages - {"bard"}:
        engine = info(REPO / name / "info.json")
        assert engine["hidden"] is True and engine["disabled"] is True, name


@needs_red
def test_reds_downloader_reads_the_info_files_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from redbot.cogs.downloader.info_schemas import INSTALLABLE_SCHEMA, REPO_SCHEMA

    files = [(REPO / "info.json", REPO_SCHEMA), (REPO / "bot" / "info.json", INSTALLABLE_SCHEMA)]
    for path, schema in [*files, (COG / "info.json", INSTALLABLE_SCHEMA)]:
        data = info(path)
        read = {key: check(path, key, data[key]) for key, check in schema.items() if key in data}
        assert read
    assert not caplog.records, caplog.text
    assert read["min_python_version"] == (3, 11, 0)


# --------------------------------------------------------------------------- the cog against Red's classes


@needs_red
def test_every_command_of_the_stand_alone_cog_is_reds_with_the_same_callback_and_slash_options() -> None:
    from redbot.core import commands

    statement = cog_package().__red_end_user_data_statement__
    from bard.cog import COG_NAME, RedBardCog

    assert issubclass(RedBardCog, commands.Cog) and issubclass(RedBardCog, BardCog)
    assert RedBardCog.__cog_name__ == COG_NAME == "Bard"  # what the buttons look the cog up by
    originals = {c.qualified_name: c for c in BardCog.__cog_commands__}
    red = {c.qualified_name: c for c in RedBardCog.__cog_commands__}
    assert set(red) == set(originals) | {"bardset", "bardset model"}
    assert all(isinstance(c, commands.Command) for c in red.values())  # what Red.add_command insists on
    for name, original in originals.items():
        assert red[name].callback is original.callback, name
        assert type(red[name]).__name__ == type(original).__name__, name  # hybrid stays hybrid
        assert (red[name].parent and red[name].parent.qualified_name) == (
            original.parent and original.parent.qualified_name
        )
    assert slash_shape(RedBardCog.bard_group) == slash_shape(BardCog.bard_group)
    assert [p.name for p in RedBardCog.bard_group.app_command.get_command("write").parameters if p.autocomplete] == [
        "model",
        "speaker",
    ]
    assert statement == info(COG / "info.json")["end_user_data_statement"]


@needs_red
@pytest.mark.asyncio(loop_scope="function")
async def test_without_the_engine_installed_loading_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from redbot.core.errors import CogLoadError

    package = cog_package()
    monkeypatch.setitem(sys.modules, "bot.cog", None)  # as if the bard's engine were not installed: import fails
    with pytest.raises(CogLoadError, match=r"not installed in Red's environment.*-c red-pins\.txt"):
        await package.setup(None)


def slash_shape(group: Any) -> list[Any]:
    """A hybrid group's slash command as Discord is told it: names, descriptions, options, which autocomplete."""
    slash = group.app_command
    shape: list[Any] = [slash.name, slash.description]
    for sub in slash.commands:
        options = [(p.name, p.description, p.required, p.autocomplete) for p in sub.parameters]
        shape.append((sub.name, sub.description, options))
    return shape


@pytest.mark.asyncio(loop_scope="function")
async def test_forgetting_a_user_ends_their_cooldown(make_bard: Callable[..., Bard]) -> None:
    bard = make_bard(cooldown=60)
    await bard.service.start()
    assert (await bard.write(Caller(7, "!"), "-n 5 To be")).ok
    assert "ask again" in (await bard.write(Caller(7, "!"), "-n 5 To be")).text
    await bard.forget_user(7)  # what the Red cog's red_delete_data_for_user does
    assert (await bard.write(Caller(7, "!"), "-n 5 To be")).ok


@needs_red
@pytest.mark.asyncio(loop_scope="function")
async def test_red_delete_data_for_user_forgets_the_user(make_bard: Callable[..., Bard]) -> None:
    cog_package()
    from bard.cog import RedBardCog

    bard = make_bard(cooldown=60)
    await bard.service.start()
    cog = RedBardCog(None, bard, owned=contextlib.AsyncExitStack(), config=None)
    assert (await bard.write(Caller(7, "!"), "-n 5 To be")).ok
    await cog.red_delete_data_for_user(requester="user", user_id=7)
    assert (await bard.write(Caller(7, "!"), "-n 5 To be")).ok


# --------------------------------------------------------------------------- Red installed and run for real

RED_TEST = "BARD_TEST_RED"  # set to 1 to install Red in a venv and run it against the fake Discord (minutes)
RED_VENV = Path(os.environ.get("BARD_TEST_RED_VENV") or Path.home() / ".cache" / "bard-test-red" / "venv")
RED_REQUIREMENT = "Red-DiscordBot>=3.5,<3.6"
INSTANCE = "bardtest"
USER = 4242  # a member who is not an owner
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv*", "build", "*.egg-info", "runs", "logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".env"
)


def red_unavailable() -> str | None:
    """Why Red cannot be installed and run here, or None."""
    if os.environ.get(RED_TEST) != "1":
        return f"installs Red-DiscordBot and runs it: set {RED_TEST}=1 to run it"
    if sys.version_info >= (3, 12):
        return "Red 3.5 runs on Python 3.8.1 to 3.11"
    if not (REPO / "model_store/shakespeare/manifest.json").is_file():
        return "the bundled model (model_store/shakespeare) is not exported yet"
    return None


def pip(python: Path, *args: str) -> str:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def red_venv() -> Path:
    """The Red venv's python: made once (Red from the package index; the versions it installed are kept in
    red-pins.txt beside it, written last: a venv of ours without it is made anew), reused after."""
    python, pins, ours = RED_VENV / "bin" / "python", RED_VENV / "red-pins.txt", RED_VENV / "made-by-bard-tests"
    if not pins.is_file():
        assert not RED_VENV.exists() or ours.is_file(), f"{RED_VENV} is not a venv this test made: name another"
        shutil.rmtree(RED_VENV, ignore_errors=True)  # half made: the run that made it was stopped
        subprocess.run([sys.executable, "-m", "venv", str(RED_VENV)], check=True, timeout=300)
        ours.touch()
        pip(python, "install", RED_REQUIREMENT)
        pins.write_text(pip(python, "freeze"))
    return python


def install_the_bard(python: Path, clone: Path) -> None:
    """The bard's engine installed in Red's venv as docs/red.md tells an owner to (from a clone, Red's versions kept),
    and the test runner, for the checks that need Red importable."""
    pip(python, "uninstall", "--yes", "bard")  # always the code under test, though its version number is the same
    pip(python, "install", str(clone), "pytest>=8", "pytest-asyncio>=0.24", "-c", str(RED_VENV / "red-pins.txt"))
    pip(python, "check")


async def say(fake: FakeDiscord, content: str, *, user: int = FakeDiscord.OWNER_ID, timeout: float = 60) -> str:
    """A user posts `content`; returns the text of the next message the bot posts."""
    before = len(fake.posts())
    await fake.send_message(content, author_id=user)
    call = await fake.wait_for(lambda: fake.posts()[before] if len(fake.posts()) > before else None, timeout)
    return str(call.json.get("content") or "")


async def until(probe: Callable[[], Any], expected: Any, *, timeout: float = 15) -> None:
    """Ask `probe` (a coroutine function) again until it answers `expected` (not answering counts as not yet)."""
    loop = asyncio.get_running_loop()
    deadline, got = loop.time() + timeout, None
    while loop.time() < deadline:
        with contextlib.suppress(TimeoutError):  # not answered in time: asked again
            got = await probe()
        if got == expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"expected {expected!r}, last got {got!r}")


async def inference_threads(fake: FakeDiscord) -> int:
    """How many bard inference threads Red's process has, by Red's own `[p]debug` (the bot runs with --dev)."""
    text = await say(
        fake, "!debug sum(t.name.startswith('bard-inference') for t in __import__('threading').enumerate())"
    )
    found = re.fullmatch(r"```py\n(\d+)\n```", text.strip())
    assert found, text
    return int(found.group(1))


async def posted(fake: FakeDiscord, content: str) -> None:
    """Wait until the bot has posted exactly `content`."""
    await fake.wait_for(lambda: next((c for c in fake.posts() if c.json.get("content") == content), None), 30)


def message_id(call: Call, fake: FakeDiscord) -> int:
    """The id the fake gave the message a POST created."""
    return next(i for i, m in fake.messages.items() if m["content"] == call.json["content"] and m["components"])


@contextlib.asynccontextmanager
async def red_running(fake: FakeDiscord, python: Path, home: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """A Red instance made with redbot-setup's non-interactive flags and started (with --dev, for `[p]debug`) against
    the fake; its output goes to home/red.log. Yields once Red answers `[p]ping`; killed afterwards if still up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARD_")} | {
        "XDG_CONFIG_HOME": str(home / "config"),  # Red's list of instances: this test's own
        "FAKE_DISCORD_API_URL": fake.api_base_url,
        "FAKE_DISCORD_GATEWAY_URL": fake.gateway_url,
        "BARD_COOLDOWN": "0",  # BARD_* variables tune the bard's serving in Red as in any host bot
    }
    setup = [str(python.parent / "redbot-setup"), "--no-prompt", "--instance-name", INSTANCE, "--backend", "json"]
    made = subprocess.run(
        [*setup, "--data-path", str(home / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    flags = ["--no-prompt", "--token", TOKEN, "--owner", str(fake.OWNER_ID), "--prefix", "!", "--dev"]
    with (home / "red.log").open("wb") as log:
        red = await asyncio.create_subprocess_exec(
            str(python), str(REPO / "tests" / "red_launcher.py"), INSTANCE, *flags,
            env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        await until(lambda: say(fake, "!ping", timeout=5), "Pong.", timeout=180)
        yield red
    except BaseException:
        print((home / "red.log").read_text(errors="replace")[-6000:])  # shown by pytest when the test fails
        raise
    finally:
        if red.returncode is None:
            red.kill()
            await red.wait()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="function")
async def test_red_loads_serves_reloads_and_unloads_the_bard(
    fake: FakeDiscord, tmp_path: Path, tiny_model_dir: Path
) -> None:
    reason = red_unavailable()
    if reason:
        pytest.skip(reason)
    python = await asyncio.to_thread(red_venv)
    clone = tmp_path / "bard"  # an owner's clone of the repository: the working tree as it is
    await asyncio.to_thread(shutil.copytree, REPO, clone, ignore=NOT_COPIED)
    await asyncio.to_thread(install_the_bard, python, clone)
    await asyncio.to_thread(the_checks_that_need_red_pass_in_reds_venv, python)
    async with red_running(fake, python, tmp_path) as red:
        # The owner adds the clone as a cog path and loads the cog, as Red's docs tell owners to.
        assert await say(fake, f"!addpath {clone}") == "Path successfully added."
        assert await say(fake, "!load bard", timeout=120) == "Loaded `bard`."
        assert await inference_threads(fake) == 1
        await a_monologue_its_buttons_and_the_slash_command(fake)
        exported = tmp_path / "exported"  # an export of the owner's own
        await asyncio.to_thread(shutil.copytree, tiny_model_dir, exported)
        await the_owner_sets_the_model(fake, exported, tmp_path / "data")
        assert await say(fake, "!reload bard", timeout=120) == "Reloaded `bard`."
        await until(lambda: inference_threads(fake), 1)  # the old service's thread ended, the new one's is up
        assert "**tiny** · model card" in await say(fake, "!bard info", user=USER)  # Config kept the folder
        # The folder is gone by the next load: the owner is told, and the one after serves the bundled model.
        await asyncio.to_thread(shutil.rmtree, exported)
        assert "It is forgotten: `load bard` again serves the bundled model" in await say(
            fake, "!reload bard", timeout=120
        )
        await until(lambda: inference_threads(fake), 0)  # the failed load opened nothing
        assert await say(fake, "!load bard", timeout=120) == "Loaded `bard`."
        assert "**shakespeare** · model card" in await say(fake, "!bard info", user=USER)
        assert await say(fake, "!unload bard") == "The following package was unloaded: `bard`."
        await until(lambda: inference_threads(fake), 0)
        await the_downloader_installs_the_cog(fake, clone)
        assert (await say(fake, "!shutdown")).startswith("Shutting down...")
        assert await asyncio.wait_for(red.wait(), 60) == 0
    log = (tmp_path / "red.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]


def the_checks_that_need_red_pass_in_reds_venv(python: Path) -> None:
    """This file's tests that are skipped where Red is not importable, run where it is (none skipped there)."""
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not red_loads"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != RED_TEST},
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0 and "skipped" not in summary, done.stdout[-3000:] + done.stderr[-3000:]


async def a_monologue_its_buttons_and_the_slash_command(fake: FakeDiscord) -> None:
    """`[p]bard To be` under Red's prefix gets a monologue with its buttons; Continue answers in the scene; `[p]slash
    enable` (the command and the message menu) and `[p]slash sync` register them, and `/bard write` is answered."""
    asked = await fake.send_message("!bard To be", author_id=USER)
    monologue = await fake.wait_for(lambda: fake.reply_to(asked), timeout=120)
    assert read_reply(monologue.json["content"]) is not None, monologue.json["content"]
    assert monologue.json["content"].split("\n>>> ", 1)[1].startswith("To be")
    first = message_id(monologue, fake)
    buttons = fake.components_of(first)
    assert {"Continue", "Another"} <= set(buttons), buttons
    before = len(fake.posts())
    await fake.press(first, buttons["Continue"]["custom_id"], user_id=USER)
    goes_on = await fake.wait_for(lambda: fake.posts()[before] if len(fake.posts()) > before else None, timeout=120)
    assert " goes on:*\n>>> " in goes_on.json["content"] or " *goes on:*\n>>> " in goes_on.json["content"]
    assert goes_on.json["message_reference"]["message_id"] == first

    assert await say(fake, "!slash enable bard") == "Enabled slash application command `bard`"
    menu = await say(fake, '!slash enable "Continue as the bard" message')
    assert menu == "Enabled message application command `Continue as the bard`"
    assert (await say(fake, "!slash sync", timeout=60)).startswith("Synced 2 commands")
    synced = [c for c in fake.calls if c.matches("PUT", r"/applications/\d+/commands")][-1].json
    assert {(c["name"], c.get("type", 1)) for c in synced} == {("bard", 1), ("Continue as the bard", 3)}
    bard = next(c for c in synced if c["name"] == "bard")
    assert {o["name"] for o in bard["options"]} >= {"write", "help", "info", "models", "speakers"}
    token = await fake.slash(
        [{"type": 1, "name": "write", "options": [{"type": 3, "name": "seed", "value": "To be"}]}], user_id=USER
    )
    answer = await fake.wait_for(
        lambda: next((c for c in fake.interaction_calls(token) if "To be" in str((c.json or {}))), None), timeout=120
    )
    assert answer is not None


async def the_owner_sets_the_model(fake: FakeDiscord, model_dir: Path, data: Path) -> None:
    """`[p]bardset model PATH` serves another export at once and keeps the folder in Red's Config; a member may not."""
    assert await say(fake, f"!bardset model {model_dir}", user=USER) == "🔒 Only the bard's owners may do that."
    assert (await say(fake, "!bardset model /nowhere", timeout=60)).startswith("⚠️ The new model was refused")
    assert (await say(fake, f"!bardset model {model_dir}", timeout=60)).startswith("🔁 Now serving **tiny**")
    stored = json.loads(next(data.glob("cogs/Bard/settings.json")).read_text())
    assert str(model_dir.resolve()) in json.dumps(stored)
    assert f"`{model_dir.resolve()}`" in await say(fake, "!bardset")


async def the_downloader_installs_the_cog(fake: FakeDiscord, clone: Path) -> None:
    """The other way an owner adds the cog: Red's downloader, from a git clone of the repository (a local one here)."""
    git = ["git", "-C", str(clone), "-c", "user.name=owner", "-c", "user.email=owner@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the bard"]):
        await asyncio.to_thread(subprocess.run, [*git, *args], check=True, capture_output=True, timeout=120)
    assert await say(fake, "!load downloader") == "Loaded `downloader`."
    assert "I agree" in await say(fake, f"!repo add bard {clone}")  # Red asks the owner to accept the risk
    # Red waits for the answer only once its question is sent: an answer that comes first is missed, so asked again.
    await until(lambda: say(fake, "I agree", timeout=5), "Repo `bard` successfully added.", timeout=90)
    await posted(fake, info(REPO / "info.json")["install_msg"].replace("[p]", "!"))  # the repository's, after it
    listed = await say(fake, "!cog list bard")
    assert "bard: Shakespearean monologues" in listed and "bot" not in listed and "model_store" not in listed
    assert (await say(fake, "!cog install bard bard", timeout=60)).startswith("Successfully installed the cog: `bard`")
    await posted(fake, info(COG / "info.json")["install_msg"].replace("[p]", "!"))  # the cog's, after it
    assert await say(fake, "!load bard", timeout=120) == "Loaded `bard`."
    assert "/cogs/CogManager/cogs/bard/" in await say(fake, "!debug bot.extensions['bard'].__file__")
    assert read_reply(await say(fake, "!bard -n 60 To be", user=USER, timeout=120)) is not None
