"""The bot's rhymes: `bard sonnet`, the slash command's form, Another on a sonnet (no Continue), `-c`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import replies, scene
from bot.bard import Bard
from bot.options import parse_options
from bot.request import Caller
from bot.scene import Said
from bot.server_settings import Where, open_servers
from bot.service import open_service
from bot.settings import Settings


def test_the_couplet_option_and_the_sonnet_flag_travel_in_a_button_id():
    options = parse_options("-c -t 0.5 To be", temperature=0.8, length=400)
    assert options.no_couplet and options.seed == "To be"
    assert parse_options("--no-couplet To be", temperature=0.8, length=400).no_couplet
    assert not parse_options("To be", temperature=0.8, length=400).no_couplet
    said = Said(scene.Spoken(None, "Shall I"), options.__class__(**{**vars(options), "model": "m", "sonnet": True}))
    made = scene.custom_id("a", said)
    assert made is not None and made.endswith(":cs:5")
    back = scene.options_of(re.fullmatch(scene.BUTTON_ID, made))
    assert back.sonnet and back.no_couplet and not back.free and not back.prose
    old = re.fullmatch(scene.BUTTON_ID, "bard:a:m:0.8:400:0:1:r:5")  # a button made before rhyme: still read
    assert old is not None and not scene.options_of(old).sonnet


@pytest.mark.asyncio(loop_scope="function")
async def test_a_sonnet_on_request_then_another_and_no_continue(rhymed_model_dir: Path):
    settings = Settings(model_dir=rhymed_model_dir, cooldown=0)
    async with open_service(settings) as service:
        bard = Bard(settings, service)
        caller = Caller(1, "!")
        reply = await bard.dispatch("sonnet -t 0.5 To be, or", author_id=1, prefix="!")
        assert reply.ok and reply.text.startswith(f"{scene.SONNET_HEADER}\n>>> To be, or"), reply.text
        assert len(reply.text.split(">>> ", 1)[1].split("\n")) == 14
        assert reply.said is not None and reply.said.options.sonnet and reply.said.spoken.speaker is None
        spoken = scene.read_reply(reply.text)
        assert spoken is not None and spoken.speaker is None and spoken.text.startswith("To be, or")
        another = await bard.act(caller, "another", reply.said)
        assert another.ok and another.text.startswith(f"{scene.SONNET_HEADER}\n>>> To be, or")
        assert await bard.act(caller, "continue", reply.said) == replies.SONNET_COMPLETE
        slash = await bard.write(Caller(1, "/"), "-t 0.5 My lord", sonnet=True)
        assert slash.text.startswith(f"{scene.SONNET_HEADER}\n>>> My lord")


@pytest.mark.asyncio(loop_scope="function")
async def test_a_sonnet_from_a_model_without_rhymes_is_refused(monologue_model_dir: Path):
    settings = Settings(model_dir=monologue_model_dir, cooldown=0)
    async with open_service(settings) as service:
        reply = await Bard(settings, service).dispatch("sonnet To be", author_id=1, prefix="!")
    assert not reply.ok and "has no rhymes: it cannot write sonnets" in reply.text


@pytest.mark.asyncio(loop_scope="function")
async def test_dash_c_turns_the_couplet_off_as_the_setting_does(rhymed_model_dir: Path, monkeypatch):
    asked = []
    for setting, typed in ((True, "To be"), (True, "-c To be"), (False, "To be")):
        settings = Settings(model_dir=rhymed_model_dir, cooldown=0, couplet=setting)
        async with open_service(settings) as service:
            submit = service.submit

            def spy(*args, submit=submit, **kwargs):
                asked.append((kwargs["couplet"], kwargs["sonnet"]))
                return submit(*args, **kwargs)

            monkeypatch.setattr(service, "submit", spy)
            assert (await Bard(settings, service).write(Caller(1, "!"), typed)).ok
    assert asked == [(True, False), (False, False), (False, False)]


@pytest.mark.asyncio(loop_scope="function")
async def test_a_server_turns_the_couplet_off_for_itself(rhymed_model_dir: Path, tmp_path: Path, monkeypatch):
    settings = Settings(model_dir=rhymed_model_dir, cooldown=0, database_url=f"sqlite:///{tmp_path / 's.sqlite3'}")
    asked = []
    async with open_servers(settings) as servers, open_service(settings) as service:
        submit = service.submit

        def spy(*args, **kwargs):
            asked.append(kwargs["couplet"])
            return submit(*args, **kwargs)

        monkeypatch.setattr(service, "submit", spy)
        bard = Bard(settings, service, servers=servers)
        await servers.change(7, "couplet", "off", user_id=1, where=Where())
        for server in (7, 8):
            assert (await bard.write(Caller(1, "!", server_id=server), "To be")).ok
    assert asked == [False, True]  # server 7 turned it off; server 8 keeps the host's
