"""The settings database: SQLite (the default, a file in WAL mode) or PostgreSQL (asyncpg), by BARD_DATABASE_URL.

It holds each server's settings (server_settings: one row per server and key, only what differs from the host's
defaults) and every change made to them (settings_changes: who, when, old -> new). The schema is versioned
(schema_version) and migrated at open, in one transaction. A change is one transaction too, committed before
it is acknowledged: a crash keeps it or loses it whole. SQLite calls run in a thread of their own, one at a time,
so the event loop never waits on the disk; processes on one host share the file through SQLite's own locks
(busy_timeout). This module knows no discord.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

BUSY_TIMEOUT_MS = 10_000  # another process holding the SQLite file's write lock: wait this long
_PG_LOCK = 7_361_001  # the advisory lock that keeps two hosts from migrating the schema at once

# One script per schema version, applied in order; a released version is never edited, only followed.
SQLITE_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE server_settings (
        server_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (server_id, key));
    CREATE TABLE settings_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, server_id INTEGER NOT NULL, key TEXT NOT NULL,
        old TEXT, new TEXT, user_id INTEGER NOT NULL, at TEXT NOT NULL);
    """,
)
POSTGRES_MIGRATIONS: Sequence[str] = (
    """
    CREATE TABLE server_settings (
        server_id BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (server_id, key));
    CREATE TABLE settings_changes (
        id BIGSERIAL PRIMARY KEY, server_id BIGINT NOT NULL, key TEXT NOT NULL,
        old TEXT, new TEXT, user_id BIGINT NOT NULL, at TIMESTAMPTZ NOT NULL);
    """,
)
SCHEMA_VERSION = len(SQLITE_MIGRATIONS)
assert len(POSTGRES_MIGRATIONS) == SCHEMA_VERSION


class DatabaseError(Exception):
    """The database cannot be opened or used; the message names the file or URL (never a password) and why."""


class Database(Protocol):
    """What the settings store needs of a database."""

    where: str  # the file or the URL, for messages

    async def load(self) -> dict[int, dict[str, str]]:
        """Every server's stored settings: server id -> key -> value."""
        ...

    async def save(self, server_id: int, key: str, value: str | None, user_id: int) -> str | None:
        """Set a server's key (None: remove it, back to the default) and record the change; returns the old value."""
        ...

    async def forget_user(self, user_id: int) -> int:
        """Drop a user's id from the record of changes (the changes stay, made by nobody); returns how many."""
        ...

    async def close(self) -> None: ...


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _newer(version: int, where: str) -> DatabaseError:
    return DatabaseError(
        f"{where}: the schema is version {version}, newer than this bard's {SCHEMA_VERSION}: upgrade the bard"
    )


class SQLiteDatabase:
    """A SQLite file in WAL mode; every call runs in the database's own thread, one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bard-database")
        self._connection: sqlite3.Connection | None = None

    async def _run(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def open(self) -> None:
        try:
            await self._run(self._open)
        except DatabaseError:
            await self.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise DatabaseError(f"cannot open the database {self.where}: {exc}") from None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; each change says BEGIN IMMEDIATE itself.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        self._connection = db
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.OperationalError("the file cannot be put in WAL mode")
        db.execute("PRAGMA synchronous=FULL")  # an acknowledged change survives a power cut, not only a crash
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find it done
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise _newer(version, self.where)
            for script in SQLITE_MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version VALUES (?)", (max(version, SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def load(self) -> dict[int, dict[str, str]]:
        return await self._run(self._load)

    def _load(self) -> dict[int, dict[str, str]]:
        assert self._connection is not None
        found: dict[int, dict[str, str]] = {}
        for server_id, key, value in self._connection.execute("SELECT server_id, key, value FROM server_settings"):
            found.setdefault(server_id, {})[key] = value
        return found

    async def save(self, server_id: int, key: str, value: str | None, user_id: int) -> str | None:
        return await self._run(self._save, server_id, key, value, user_id)

    def _save(self, server_id: int, key: str, value: str | None, user_id: int) -> str | None:
        db = self._connection
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT value FROM server_settings WHERE server_id = ? AND key = ?", (server_id, key)
            ).fetchone()
            if value is None:
                db.execute("DELETE FROM server_settings WHERE server_id = ? AND key = ?", (server_id, key))
            else:
                db.execute(
                    "INSERT INTO server_settings VALUES (?, ?, ?) "
                    "ON CONFLICT (server_id, key) DO UPDATE SET value = excluded.value",
                    (server_id, key, value),
                )
            db.execute(
                "INSERT INTO settings_changes (server_id, key, old, new, user_id, at) VALUES (?, ?, ?, ?, ?, ?)",
                (server_id, key, row[0] if row else None, value, user_id, _now().isoformat()),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return row[0] if row else None

    async def forget_user(self, user_id: int) -> int:
        return await self._run(self._forget_user, user_id)

    def _forget_user(self, user_id: int) -> int:
        assert self._connection is not None
        with self._connection:  # one transaction
            done = self._connection.execute("UPDATE settings_changes SET user_id = 0 WHERE user_id = ?", (user_id,))
        return done.rowcount

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._connection.close)
            self._connection = None
        self._executor.shutdown(wait=True)


class PostgresDatabase:
    """A PostgreSQL database through asyncpg's connection pool (shards on several hosts share it)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = hide_password(url)
        self._pool: Any = None

    async def open(self) -> None:
        try:
            import asyncpg
        except ImportError:
            raise DatabaseError(
                f"cannot open the database {self.where}: PostgreSQL needs asyncpg (pip install 'bard[postgres]')"
            ) from None
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4, timeout=10, command_timeout=10)
            async with self._pool.acquire() as db, db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock($1)", _PG_LOCK)
                await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                version = await db.fetchval("SELECT version FROM schema_version") or 0
                if version > SCHEMA_VERSION:
                    raise _newer(version, self.where)
                for script in POSTGRES_MIGRATIONS[version:]:
                    await db.execute(script)
                await db.execute("DELETE FROM schema_version")
                await db.execute("INSERT INTO schema_version VALUES ($1)", max(version, SCHEMA_VERSION))
        except DatabaseError:
            await self.close()
            raise
        except (asyncpg.PostgresError, OSError, TimeoutError, ValueError) as exc:
            await self.close()
            raise DatabaseError(f"cannot open the database {self.where}: {type(exc).__name__}: {exc}") from None

    async def load(self) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {}
        for row in await self._pool.fetch("SELECT server_id, key, value FROM server_settings"):
            found.setdefault(row["server_id"], {})[row["key"]] = row["value"]
        return found

    async def save(self, server_id: int, key: str, value: str | None, user_id: int) -> str | None:
        async with self._pool.acquire() as db, db.transaction():
            old = await db.fetchval(
                "SELECT value FROM server_settings WHERE server_id = $1 AND key = $2 FOR UPDATE", server_id, key
            )
            if value is None:
                await db.execute("DELETE FROM server_settings WHERE server_id = $1 AND key = $2", server_id, key)
            else:
                await db.execute(
                    "INSERT INTO server_settings VALUES ($1, $2, $3) "
                    "ON CONFLICT (server_id, key) DO UPDATE SET value = excluded.value",
                    server_id,
                    key,
                    value,
                )
            await db.execute(
                "INSERT INTO settings_changes (server_id, key, old, new, user_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
                server_id,
                key,
                old,
                value,
                user_id,
                _now(),
            )
        return old

    async def forget_user(self, user_id: int) -> int:
        done = await self._pool.execute("UPDATE settings_changes SET user_id = 0 WHERE user_id = $1", user_id)
        return int(done.split()[-1])  # "UPDATE n"

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def hide_password(url: str) -> str:
    """The URL with its password, if any, as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (sqlite:///relative.db, sqlite:////absolute.db) or plain path; None: not SQLite."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" not in url:
        return Path(url)
    return None


async def open_database(url: str) -> SQLiteDatabase | PostgresDatabase:
    """The database at `url`, opened and migrated; raises DatabaseError naming it and why."""
    path = sqlite_path(url)
    if path is not None:
        if not str(path):
            raise DatabaseError(f"cannot open the database {url}: the URL names no file")
        database: SQLiteDatabase | PostgresDatabase = SQLiteDatabase(path)
    elif url.startswith(("postgresql://", "postgres://")):
        database = PostgresDatabase(url)
    else:
        raise DatabaseError(
            f"cannot open the database {hide_password(url)}: not a sqlite:/// or postgresql:// URL, nor a file"
        )
    await database.open()
    return database
