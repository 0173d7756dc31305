"""A throwaway PostgreSQL server for the tests: initdb in a temporary folder, listening on a Unix socket only.

Started by the `postgres_url` fixture when the server's programs are installed (Debian: `apt-get install
postgresql`; they live in /usr/lib/postgresql/<version>/bin); otherwise the PostgreSQL tests are skipped, saying so.
As root (CI, containers) the server runs as the `postgres` user, which PostgreSQL insists on.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL = "apt-get install -y postgresql"


def server_programs() -> Path | None:
    """The folder of initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(f.split("/")[-2]))
    return Path(folders[-1]) if folders and Path(folders[-1], "initdb").exists() else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database (database `bard`), for this test session."""
    programs = server_programs()
    if programs is None:
        pytest.skip(f"no PostgreSQL server installed ({INSTALL})")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no `postgres` user to run the server as")
    folder = Path(tempfile.mkdtemp(prefix="bard-pg-"))
    data, socket = folder / "data", folder
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o755)
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_server_user([str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "bard"]), **run)
    options = f"-k {socket} -c listen_addresses='' -c fsync=off"
    start = [str(programs / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
    subprocess.run(_as_server_user(start), **run)
    try:
        subprocess.run(_as_server_user([str(programs / "createdb"), "-h", str(socket), "-U", "bard", "bard"]), **run)
        yield f"postgresql://bard@/bard?host={socket}"
    finally:
        subprocess.run(_as_server_user([str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), **run)
        shutil.rmtree(folder, ignore_errors=True)
