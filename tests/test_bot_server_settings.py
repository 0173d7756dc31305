"""Each server's settings: the keys' checks, the database (SQLite, and PostgreSQL where a server can be started),
persistence across restarts, failures, and the console as one server."""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SCRIPT, make_tiny_model
from play_excerpts import FAUSTUS

from bot import server_commands
from bot.bard import CLEAN_NOT_FREE, Bard
from bot.console import run_console
from bot.database import SCHEMA_VERSION, DatabaseError, hide_password, open_database
from bot.main import EXIT_USAGE, main
from bot.request import Caller
from bot.server_settings import (
    CONSOLE_SERVER_ID,
    KEYS,
    NotSaved,
    ServerSettings,
    ServerSettingsStore,
    SettingError,
    Where,
    open_servers,
    parse_value,
)
from bot.service import open_service
from bot.settings import Settings

WHERE = Where(models=("alpha", "Beta"), channels={11, 12})


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("model", "beta", "Beta"),
        ("temperature", "0.5", 0.5),
        ("temperature", "0", 0.0),
        ("length", "150", 150),
        ("verse", "off", False),
        ("verse", "ON", True),
        ("buttons", "no", False),
        ("channels", "<#11> 12", frozenset({11, 12})),
        ("channels", "all", frozenset()),
        ("cooldown", "2.5", 2.5),
        ("clean", "on", True),
    ],
)
def test_each_key_reads_its_values(key: str, text: str, value: Any) -> None:
    assert parse_value(key, text, WHERE) == value


@pytest.mark.parametrize(
    ("key", "text", "allowed"),
    [
        ("model", "gamma", "the name of a served model"),
        ("temperature", "3", "a number from 0 to 2"),
        ("temperature", "nan", "a number from 0 to 2"),
        ("length", "1.5", "a whole number from 1 to"),
        ("length", "0", "a whole number from 1 to"),
        ("verse", "maybe", "on or off"),
        ("buttons", "", "on or off"),
        ("channels", "<#13>", "not a channel of this server"),
        ("channels", "globe", "is not a channel"),
        ("cooldown", "-1", "seconds from 0 to 3600"),
        ("clean", "2", "on or off"),
    ],
)
def test_each_key_refuses_other_values_in_one_line_naming_it(key: str, text: str, allowed: str) -> None:
    with pytest.raises(SettingError) as err:
        parse_value(key, text, WHERE)
    message = str(err.value)
    assert message.startswith(f"`{key}` takes ") and allowed in message and "\n" not in message


def test_the_keys_default_to_the_hosts_settings(tiny_model_dir: Path) -> None:
    settings = Settings(
        model_dir=tiny_model_dir, temperature=0.6, components=False, clean=True, allowed_channels={5}, couplet=False
    )
    server = ServerSettings.of(settings)
    assert (server.temperature, server.buttons, server.clean, server.channels) == (0.6, False, True, frozenset({5}))
    assert server.couplet is False
    keys = {"model", "temperature", "length", "verse", "couplet", "buttons", "channels", "cooldown", "clean"}
    assert set(KEYS) == keys


# --------------------------------------------------------------------------- the database, both kinds


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'settings.sqlite3'}"
    pytest.importorskip(
        "asyncpg", reason="PostgreSQL needs the postgres extra (asyncpg); a serving-only install lacks it"
    )
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_empty(url))
    return url


async def _empty(url: str) -> None:
    import asyncpg

    db = await asyncpg.connect(url)
    try:
        await db.execute("DROP TABLE IF EXISTS server_settings, settings_changes, schema_version")
    finally:
        await db.close()


def settings_at(url: str, tiny_model_dir: Path, **more: Any) -> Settings:
    return Settings(model_dir=tiny_model_dir, database_url=url, **more)


async def test_changes_persist_across_a_restart(database_url: str, tiny_model_dir: Path) -> None:
    settings = settings_at(database_url, tiny_model_dir)
    async with open_servers(settings) as servers:
        done = await servers.change(7, "length", "150", user_id=42, where=WHERE)
        assert (done.old, done.new) == ("400", "150")
        await servers.change(7, "clean", "on", user_id=42, where=WHERE)
        await servers.change(7, "channels", "<#11>", user_id=43, where=WHERE)
        await servers.change(8, "temperature", "1.2", user_id=44, where=WHERE)
        await servers.change(7, "clean", "default", user_id=42, where=WHERE)
    async with open_servers(settings) as servers:
        seven, eight = servers.of(7), servers.of(8)
        assert (seven.length, seven.clean, seven.channels) == (150, False, frozenset({11}))
        assert (eight.temperature, eight.length) == (1.2, 400)
        assert servers.of(9) == servers.of(None) == ServerSettings.of(settings)
        assert servers.stored(7) == {"length": 150, "channels": frozenset({11})}


async def test_every_change_is_recorded_and_logged(
    database_url: str, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.server_settings")
    async with open_servers(settings_at(database_url, tiny_model_dir)) as servers:
        await servers.change(7, "verse", "off", user_id=42, where=WHERE)
        await servers.change(7, "verse", "default", user_id=43, where=WHERE)
        rows = await _changes(servers)
    assert rows == [(7, "verse", None, "off", 42), (7, "verse", "off", None, 43)]
    logged = [r.getMessage() for r in caplog.records if "verse set by user" in r.getMessage()]
    assert logged == ["server 7: verse set by user 42: on -> off", "server 7: verse set by user 43: off -> on"]


async def test_a_data_deletion_request_takes_the_user_out_of_the_record(
    database_url: str, tiny_model_dir: Path
) -> None:
    async with open_servers(settings_at(database_url, tiny_model_dir)) as servers:
        await servers.change(7, "verse", "off", user_id=42, where=WHERE)
        await servers.change(7, "length", "150", user_id=43, where=WHERE)
        assert await servers.forget_user(42) == 1
        assert await _changes(servers) == [(7, "verse", None, "off", 0), (7, "length", None, "150", 43)]
        assert servers.of(7).verse is False  # the settings stay


async def _changes(servers: ServerSettingsStore) -> list[tuple[Any, ...]]:
    database: Any = servers.database
    query = "SELECT server_id, key, old, new, user_id FROM settings_changes ORDER BY id"
    if hasattr(database, "_pool"):
        return [tuple(row) for row in await database._pool.fetch(query)]
    return await database._run(lambda: database._connection.execute(query).fetchall())


async def test_a_bad_key_or_value_changes_nothing(database_url: str, tiny_model_dir: Path) -> None:
    async with open_servers(settings_at(database_url, tiny_model_dir)) as servers:
        for key, value in (("lenght", "3"), ("length", "-3"), ("couplet", "maybe"), ("rhyme", "on")):
            with pytest.raises(SettingError):
                await servers.change(7, key, value, user_id=1, where=WHERE)
        assert servers.stored(7) == {} and await _changes(servers) == []


async def test_the_schema_is_migrated_once_and_a_newer_one_is_refused(database_url: str, tiny_model_dir: Path) -> None:
    for _ in range(2):  # the second open finds the schema current and changes nothing
        database = await open_database(database_url)
        await database.close()
    database = await open_database(database_url)
    try:
        await _set_version(database, SCHEMA_VERSION + 1)
    finally:
        await database.close()
    with pytest.raises(DatabaseError, match=f"version {SCHEMA_VERSION + 1}, newer than this bard's"):
        await open_database(database_url)


async def _set_version(database: Any, version: int) -> None:
    if hasattr(database, "_pool"):
        await database._pool.execute("UPDATE schema_version SET version = $1", version)
    else:
        await database._run(lambda: database._connection.execute("UPDATE schema_version SET version = ?", (version,)))


async def test_a_failing_database_keeps_the_last_known_settings(
    database_url: str, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_servers(settings_at(database_url, tiny_model_dir)) as servers:
        await servers.change(7, "length", "150", user_id=1, where=WHERE)

        async def broken(*args: Any) -> None:
            raise OSError("disk I/O error")

        monkeypatch.setattr(servers.database, "save", broken)
        with pytest.raises(NotSaved):
            await servers.change(7, "length", "200", user_id=1, where=WHERE)
        assert servers.of(7).length == 150
        assert any("could not save length" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


# --------------------------------------------------------------------------- SQLite's file


async def test_the_sqlite_file_is_in_wal_mode_and_sound(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "bard.sqlite3"  # the folders are made
    database = await open_database(f"sqlite:///{path}")
    await database.save(1, "length", "150", 2)
    await database.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda tmp: tmp, "unable to open database file"),  # a folder
        (lambda tmp: (tmp / "junk.db").write_text("not a database " * 100) and tmp / "junk.db", "not a database"),
    ],
)
async def test_a_file_that_cannot_be_opened_is_named_with_why(tmp_path: Path, make: Any, why: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DatabaseError) as err:
        await open_database(str(path))
    assert str(err.value).startswith(f"cannot open the database {path}: ") and why in str(err.value)


async def test_an_unknown_url_or_an_unreachable_server_is_named_without_its_password() -> None:
    with pytest.raises(DatabaseError, match="not a sqlite:/// or postgresql:// URL"):
        await open_database("mysql://root:hunter2@db/bard")
    with pytest.raises(DatabaseError) as err:
        await open_database("postgresql://bard:hunter2@127.0.0.1:1/bard")
    assert "postgresql://bard:***@127.0.0.1:1/bard" in str(err.value) and "hunter2" not in str(err.value)
    assert hide_password("postgresql://u@h/d") == "postgresql://u@h/d"


def test_the_bot_says_which_database_it_cannot_open_and_exits_2(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARD_DATABASE_URL", str(tmp_path))  # a folder
    monkeypatch.setenv("BARD_MODEL_DIR", str(tiny_model_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:  # main() logs to the captured stderr, which is closed after the test
        assert main(["--console", "--env-file", "/dev/null", "--secrets-dir", str(tmp_path / "none")]) == EXIT_USAGE
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"bard-bot: cannot open the database {tmp_path}: unable to open database file (set BARD_DATABASE_URL)"
    )


# --------------------------------------------------------------------------- the console is one server


async def console(settings: Settings, lines: str) -> str:
    out = io.StringIO()
    async with open_servers(settings) as servers, open_service(settings) as service:
        await run_console(Bard(settings, service, servers=servers), stdin=io.StringIO(lines), stdout=out, banner=False)
    return out.getvalue()


async def test_the_console_is_one_server_whose_settings_persist(tmp_path: Path, tiny_model_dir: Path) -> None:
    settings = settings_at(f"sqlite:///{tmp_path / 'c.sqlite3'}", tiny_model_dir, cooldown=0)
    first = await console(settings, "!bard set length 30\n!bard set temperature 0\n!bard To be\n")
    assert "`length`: 400 → **30**" in first and "`temperature`: 0.8 → **0**" in first
    second = await console(settings, "!bard settings\n!bard help\n!bard set length default\n")
    assert "`length` **30** (set here)" in second and "`temperature` **0** (set here)" in second
    assert "default 30" in second  # help names the server's defaults
    assert "`length`: 30 → **400**" in second
    async with open_servers(settings) as servers:
        assert servers.stored(CONSOLE_SERVER_ID) == {"temperature": 0.0}


async def test_the_servers_settings_shape_its_replies(make_bard: Any, tmp_path: Path, tiny_model_dir: Path) -> None:
    settings = settings_at(f"sqlite:///{tmp_path / 'r.sqlite3'}", tiny_model_dir, cooldown=0)
    async with open_servers(settings) as servers, open_service(settings) as service:
        bard = Bard(settings, service, servers=servers)
        here, elsewhere = Caller(1, "!", server_id=5), Caller(1, "!", server_id=6)
        for key, value in (("length", "25"), ("cooldown", "60")):
            await servers.change(5, key, value, user_id=1, where=Where(service.names))
        reply = await bard.write(here, "To be")
        assert reply.said is not None and reply.said.options.length == 25
        assert "you may ask again" in (await bard.write(here, "To be")).text  # the server's cooldown
        assert (await bard.write(elsewhere, "-t 0 To be")).said is not None  # another server: the defaults
        await servers.change(5, "clean", "on", user_id=1, where=Where(service.names))
        assert CLEAN_NOT_FREE in (await bard.write(Caller(2, "!", server_id=5), "-f To be")).text
        refused = await bard.write(Caller(3, "!", server_id=5), "To be")  # the tiny model has no lexicon to mask
        assert "model tiny has no lexicon, so clean mode cannot keep words out of it" in refused.text
        refused = await server_commands.run(bard, here, "set", "length 30", may_change=False, where=Where())
        assert refused == server_commands.NOT_MANAGER and servers.of(5).length == 25
        assert await server_commands.run(bard, Caller(1, "!"), "settings", "", may_change=True, where=Where()) == (
            server_commands.NO_SERVER
        )


WRITER = """
import asyncio, sys
from bot.database import open_database

async def main(url, user):
    database = await open_database(url)
    for i in range(100):
        await database.save(1, f"key{user}", str(i), user)
    await database.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_processes_on_one_host_share_the_sqlite_file(tmp_path: Path) -> None:
    """Three processes (shards) migrate and write the one file at once: every change is there, the file sound."""
    path = tmp_path / "shared.sqlite3"
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PATH": "/usr/bin:/bin"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"sqlite:///{path}", str(user)], env=env, stderr=subprocess.PIPE
        )
        for user in (1, 2, 3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    db = sqlite3.connect(path)
    assert db.execute("SELECT user_id, COUNT(*) FROM settings_changes GROUP BY user_id").fetchall() == [
        (1, 100),
        (2, 100),
        (3, 100),
    ]
    assert db.execute("SELECT key, value FROM server_settings ORDER BY key").fetchall() == [
        ("key1", "99"),
        ("key2", "99"),
        ("key3", "99"),
    ]
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_a_servers_model_answers_there_and_clean_mode_holds(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    make_tiny_model(folder / "alpha", SCRIPT * 6, seed=1, speech=True)
    make_tiny_model(folder / "beta", FAUSTUS * 12, seed=2, speech=True)
    settings = Settings(models_dir=folder, cooldown=0, length=40, database_url=f"sqlite:///{tmp_path / 'm.sqlite3'}")
    async with open_servers(settings) as servers, open_service(settings) as service:
        bard = Bard(settings, service, servers=servers)
        for key, value in (("model", "BETA"), ("clean", "on")):
            await servers.change(5, key, value, user_id=1, where=Where(service.names))
        here = await bard.write(Caller(1, "!", server_id=5), "Faustus: Ah")
        assert here.said is not None and here.said.options.model == "beta" and here.said.spoken.speaker == "FAUSTUS"
        elsewhere = await bard.write(Caller(1, "!", server_id=6), "To be")
        assert elsewhere.said is not None and elsewhere.said.options.model == "alpha"
        named = await bard.write(Caller(1, "!", server_id=5), "-m alpha To be")  # the in-line option wins
        assert named.said is not None and named.said.options.model == "alpha"


async def test_a_stored_value_the_key_cannot_take_is_left_out(
    tmp_path: Path, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'odd.sqlite3'}"
    database = await open_database(url)
    for key, value in (("length", "99999"), ("verse", "maybe"), ("rhyme", "on"), ("cooldown", "5")):
        await database.save(7, key, value, 1)
    await database.close()
    async with open_servers(settings_at(url, tiny_model_dir)) as servers:
        assert servers.stored(7) == {"cooldown": 5.0}
    assert "stored length='99999' cannot be read; the default holds" in caplog.text
    assert "stored setting 'rhyme' is not a setting here" in caplog.text
