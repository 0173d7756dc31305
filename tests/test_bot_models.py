"""Several bards at once: a models folder served by name, -m, `bard models`, autocomplete, reload, bad models."""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import SCRIPT, make_tiny_model
from discord_helpers import ask, running, settings_for
from fake_discord import FakeDiscord
from play_excerpts import FAUSTUS

from bot import replies
from bot.bard import Bard
from bot.cog import model_choices
from bot.console import run_console
from bot.options import OptionError, model_name
from bot.request import Caller
from bot.service import create_service, open_service
from bot.settings import Settings
from model_store import store
from model_store.card import model_card


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A models folder: alpha (the script's speakers), beta (Faustus's), and a damaged one."""
    folder = tmp_path / "models"
    make_tiny_model(folder / "alpha", SCRIPT * 6, seed=1, speech=True)
    make_tiny_model(folder / "beta", FAUSTUS * 12, seed=2, speech=True)
    shutil.copytree(folder / "alpha", folder / "broken")
    (folder / "broken" / "weights.npz").write_bytes(b"not numpy")
    (folder / ".alpha.partial-x1").mkdir()  # an export's staging directory is not a model
    return folder


@pytest_asyncio.fixture(loop_scope="function")
async def bard(models: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Bard]:
    settings = Settings(models_dir=models, cooldown=0, length=60)
    with caplog.at_level(logging.WARNING, logger="bot.service"):
        bard = Bard(settings, create_service(settings))
    assert "model broken left out" in caplog.text and "weights.npz does not match" in caplog.text
    await bard.service.start()
    yield bard
    await bard.close(0)
    await bard.service.close()


async def test_every_good_model_of_the_folder_is_served_by_name(bard: Bard):
    assert bard.service.names == ["alpha", "beta"] and bard.service.default == "alpha"  # no shakespeare: the first
    beta = await bard.write(Caller(1, "!"), "-m beta -t 1 Was this")
    assert beta.text.startswith(("**FAUSTUS**", "**MEPHISTOPHELES**")), beta.text
    alpha = await bard.write(Caller(1, "!"), "-t 1 To be")
    assert alpha.text.startswith(("**HAMLET**", "**HORATIO**", "**OTHELLO**")), alpha.text
    named = await bard.write(Caller(1, "!"), "-m beta Faustus: Was this")
    assert named.text.startswith("**FAUSTUS**\n>>> Was this")


async def test_an_unknown_model_gets_one_line_naming_those_served(bard: Bard):
    reply = await bard.write(Caller(1, "!"), "-m gamma To be")
    assert reply == replies.bad_options("no model named “gamma” (models: alpha, beta)", "!")
    assert (await bard.dispatch("speakers -m gamma", author_id=1, prefix="!")).text == reply.text
    bad_name = await bard.write(Caller(1, "!"), "-m ../etc To be")
    assert bad_name == replies.bad_options("option “-m” needs a model's name, not “../etc”", "!")
    # The slash command's model option, a field: the same checks, and the text's own -m has the last word.
    assert await bard.write(Caller(1, "/"), "To be", model="gamma") == replies.bad_options(
        "no model named “gamma” (models: alpha, beta)", "/"
    )
    assert await bard.write(Caller(1, "/"), "To be", model="../etc") == replies.bad_options(
        "option “-m” needs a model's name, not “../etc”", "/"
    )
    beta = await bard.write(Caller(1, "/"), "-t 1 Faustus: Was this", model="beta")
    assert beta.text.startswith("**FAUSTUS**\n>>> Was this")
    assert (await bard.write(Caller(1, "/"), "-m beta Was this", model="gamma")).ok


async def test_models_speakers_and_info_name_each_model(bard: Bard):
    listed = (await bard.dispatch("models", author_id=1, prefix="!")).text
    assert listed.splitlines()[1:] == [
        "**alpha** (default): validation loss 4.100 · test script",
        "**beta**: validation loss 4.100 · test script",
    ]
    speakers = (await bard.dispatch("speakers -m beta", author_id=1, prefix="!")).text
    assert "FAUSTUS (12)" in speakers and "HAMLET" not in speakers
    assert "**beta** · model card" in (await bard.dispatch("info -m beta", author_id=1, prefix="!")).text


def test_autocomplete_offers_the_models_that_match():
    names = ["alpha", "beta", "marlowe", *(f"m{i}" for i in range(30))]
    assert [c.value for c in model_choices(names, "AL")] == ["alpha"]
    assert [c.value for c in model_choices(names, "mar")] == ["marlowe"]
    assert len(model_choices(names, "")) == 25  # Discord's most
    # The slash command's model option is a field, checked as -m's value is.
    assert model_name("-m", "beta") == "beta"
    with pytest.raises(OptionError, match="needs a model's name"):
        model_name("-m", "../etc")


async def test_reload_adds_replaces_removes_and_refuses_without_harm(bard: Bard, models: Path):
    shutil.rmtree(models / "beta")
    make_tiny_model(models / "gamma", FAUSTUS * 12, seed=3, speech=True)
    shutil.rmtree(models / "alpha")
    make_tiny_model(models / "alpha", SCRIPT * 6, seed=4, speech=True, manifest={"val_loss": 3.5})  # replaced
    reply = await bard.reload(is_owner=True)
    assert reply.text.splitlines()[:4] == [
        "🔁 Now serving 2 model(s): alpha, gamma (default alpha).",
        "Added: gamma.",
        "Reloaded: alpha.",
        "Removed: beta.",
    ]
    assert reply.text.splitlines()[4].startswith("⚠️ Refused broken: ") and not reply.ok
    assert bard.service.model_named("alpha").manifest["val_loss"] == 3.5
    assert (await bard.write(Caller(1, "!"), "-m beta To be")).text.startswith("⚠️ no model named “beta”")
    # A model that served and is now damaged goes on serving, as it was.
    (models / "gamma" / "vocab.json").write_text("{}")
    reply = await bard.reload(is_owner=True)
    assert "Now serving 2 model(s): alpha, gamma" in reply.text and "Refused gamma" in reply.text
    assert (await bard.write(Caller(1, "!"), "-m gamma Faustus: Sweet")).text.startswith("**FAUSTUS**")


async def test_a_folder_where_nothing_loads_stops_start_up(tmp_path: Path):
    (tmp_path / "models" / "empty").mkdir(parents=True)
    settings = Settings(models_dir=tmp_path / "models")
    with pytest.raises(store.ModelError, match=r"no model in .* can be served .*empty: .* has no manifest.json"):
        create_service(settings)
    with pytest.raises(store.ModelError, match="the default model 'zeta' is not among"):
        make_tiny_model(tmp_path / "models" / "alpha", SCRIPT * 6)
        create_service(Settings(models_dir=tmp_path / "models", default_model="zeta"))


async def test_two_models_on_the_fake_discord_with_the_slash_option_and_autocomplete(fake: FakeDiscord, models):
    async with running(fake, settings_for(fake, models, models_dir=models)):
        reply = await ask(fake, "!bard -m beta Faustus: Sweet Helen")
        assert reply.json["content"].startswith("**FAUSTUS**\n>>> Sweet Helen")
        options = [
            {"name": "seed", "type": 3, "value": "Mephistopheles: Why"},
            {"name": "model", "type": 3, "value": "beta"},
        ]
        token = await fake.slash([{"name": "write", "type": 1, "options": options}], user_id=7)
        followup = await fake.wait_for(
            lambda: next((c for c in fake.calls if c.matches("POST", rf"/webhooks/{fake.BOT_ID}/{token}")), None)
        )
        assert followup.json["content"].startswith("**MEPHISTOPHELES**\n>>> Why")
        typed = [{"name": "seed", "type": 3, "value": ""}, {"name": "model", "type": 3, "value": "be", "focused": True}]
        token = await fake.autocomplete([{"name": "write", "type": 1, "options": typed}], user_id=7)
        answer = await fake.wait_for(lambda: next((c for c in fake.calls if token in c.path), None))
    assert answer.json == {"type": 8, "data": {"choices": [{"name": "beta", "value": "beta"}]}}


async def test_two_models_in_console_mode(models: Path):
    settings = Settings(models_dir=models, cooldown=0, length=60)
    out, err = io.StringIO(), io.StringIO()
    commands = "!bard models\n!bard -m beta Faustus: Was this\n!bard Horatio: My lord\n"
    async with open_service(settings) as service:
        assert await run_console(Bard(settings, service), stdin=io.StringIO(commands), stdout=out, stderr=err) == 0
    listed, beta, alpha = out.getvalue().strip().split("\n\n")
    assert "**alpha** (default)" in listed and "**beta**" in listed
    assert beta.startswith("**FAUSTUS**\n>>> Was this") and alpha.startswith("**HORATIO**\n>>> My lord")
    assert "serving alpha" in err.getvalue()


async def test_model_names_match_in_any_case_and_replies_keep_the_served_spelling(bard: Bard):
    beta = await bard.write(Caller(1, "!"), "-m BETA -t 1 Faustus: Was this")
    assert beta.text.startswith("**FAUSTUS**\n>>> Was this") and beta.said is not None
    assert beta.said.options.model == "beta"  # what its buttons ask for again
    slash = await bard.write(Caller(1, "/"), "-t 1 Mephistopheles: Why", model="Beta")
    assert slash.text.startswith("**MEPHISTOPHELES**\n>>> Why") and slash.said.options.model == "beta"
    assert "FAUSTUS (12)" in (await bard.dispatch("speakers -m bEtA", author_id=1, prefix="!")).text
    assert "**beta** · model card" in (await bard.dispatch("info -m BETA", author_id=1, prefix="!")).text
    assert bard.service.served_name("ALPHA") == "alpha" and bard.service.model_named("Alpha").name == "alpha"
    unknown = await bard.write(Caller(1, "!"), "-m GAMMA To be")
    assert unknown == replies.bad_options("no model named “GAMMA” (models: alpha, beta)", "!")


async def test_the_default_model_is_named_in_any_case(models: Path):
    service = create_service(Settings(models_dir=models, default_model="BETA"))
    try:
        assert service.default == "beta" and service.describe() == "alpha, beta (default beta)"
    finally:
        await service.close()


async def test_a_second_model_whose_name_differs_only_in_case_is_refused(bard: Bard, models: Path, caplog):
    shutil.copytree(models / "beta", models / "BETA")  # sorts first, but beta serves already: BETA is the second
    with caplog.at_level(logging.WARNING, logger="bot.service"):
        reply = await bard.reload(is_owner=True)
    assert "Now serving 2 model(s): alpha, beta (default alpha)" in reply.text and not reply.ok
    reason = "its name and beta's differ only in case, and model names match in any case"
    assert f"⚠️ Refused BETA: {reason}" in reply.text
    assert "model BETA not (re)loaded: its name and beta's differ only in case" in caplog.text
    # At start-up the first by name stays, and the log says why the other is left out.
    caplog.clear()
    shutil.rmtree(models / "beta")
    shutil.copytree(models / "BETA", models / "beta")
    with caplog.at_level(logging.WARNING, logger="bot.service"):
        service = create_service(Settings(models_dir=models))
    try:
        assert service.names == ["BETA", "alpha"] and service.served_name("beta") == "BETA"
        assert "model beta left out: its name and BETA's differ only in case" in caplog.text
    finally:
        await service.close()


def card_of(model: store.LoadedModel, manifest: dict) -> dict:
    """The card of the model with a manifest of these keys (and the hyperparameters' val_fraction) in place of its
    own."""
    hyperparameters = model.manifest["hyperparameters"] | manifest.get("hyperparameters", {})
    replaced = model.manifest | manifest | {"hyperparameters": hyperparameters}
    return model_card(dataclasses.replace(model, manifest=replaced))


def test_a_model_card_says_its_base_its_validation_text_and_its_minutes(tiny_model_dir: Path):
    model = store.load(tiny_model_dir)
    tuned = {
        "base_model": {"name": "shakespeare", "path": "model_store/shakespeare"},
        "validation": {"texts": ["plays/jew-of-malta.xml"], "fraction": 0.1, "chars": 21345},
        "train_minutes": 7.5,
        "train_seconds": 450.2,
    }
    card = card_of(model, tuned)
    assert (card["base"], card["from_scratch"], card["train_minutes"]) == ("shakespeare", False, 7.5)
    assert card["validation"] == tuned["validation"]
    # A manifest from before those keys, as the shipped model's: init_from, the corpus's sources and val_chars,
    # the hyperparameters' val_fraction, train_seconds.
    older = {
        "init_from": None,
        "corpus": {"description": "plays", "sha256": "0" * 64, "sources": ["a/x", "b/y"], "val_chars": 900},
        "hyperparameters": {"val_fraction": 0.1},
        "train_seconds": 7258.6,
    }
    card = card_of(model, older)
    assert (card["base"], card["from_scratch"], card["train_minutes"]) == (None, True, 121.0)
    assert card["validation"] == {"texts": ["a/x", "b/y"], "fraction": 0.1, "chars": 900}
    assert card_of(model, older | {"init_from": "models/shakespeare"})["base"] == "shakespeare"
    card = card_of(model, {})  # the tiny model's manifest says none of it: nothing is made up
    assert (card["base"], card["from_scratch"], card["validation"], card["train_minutes"]) == (None, None, None, None)


async def test_models_lists_each_models_base_validation_text_and_minutes(tmp_path: Path):
    folder = tmp_path / "models"
    make_tiny_model(folder / "alpha", SCRIPT * 6, seed=1)
    tuned = {
        "base_model": {"name": "alpha", "path": str(folder / "alpha")},
        "validation": {"texts": ["plays/faustus.xml"], "fraction": 0.1, "chars": 2120},
        "train_minutes": 0.4,
    }
    make_tiny_model(folder / "beta", FAUSTUS * 12, seed=2, manifest=tuned | {"val_loss": 2.5})
    settings = Settings(models_dir=folder, cooldown=0)
    async with open_service(settings) as service:
        bard = Bard(settings, service)
        listed = bard.models().text
        info = bard.info("-m beta").text
    assert listed.splitlines()[1:] == [
        "**alpha** (default): validation loss 4.100 · test script",
        "**beta**: validation loss 2.500 on the last 10% of faustus.xml (2,120 characters) · fine-tuned from alpha, "
        "0.4 minutes",
    ]
    assert "Loss: validation 2.500 on the last 10% of faustus.xml (2,120 characters), training 4.000" in info
    assert "(0 epochs; fine-tuned from alpha, 0.4 minutes)" in info
