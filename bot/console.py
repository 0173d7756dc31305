"""Console mode: the bard's command handling in a terminal. Type `!bard To be`, get the channel's reply.

Lines come from stdin (a terminal, a pipe or a file) until end of input; replies go to stdout,
everything else (the banner, hints) to stderr, so `echo '!bard To be' | bard-bot --console` prints
exactly the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from typing import TextIO

from bot.bard import Bard
from bot.scene import Session
from bot.server_settings import CONSOLE_SERVER_ID, open_servers
from bot.service import open_service
from bot.settings import Settings

log = logging.getLogger(__name__)

CONSOLE_USER_ID = 0  # the person at the terminal runs the bot: an owner


def _start_reader(stream: TextIO | None, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Read lines in a daemon thread (a blocked read must not keep the process alive); None = end of input."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            if stream is not None:  # None: stdin was closed before we started
                for line in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError) as exc:  # closed or unreadable: the same as the end of input
            log.debug("stdin: %s", exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="bard-console-stdin", daemon=True).start()
    return queue


def command_text(line: str, prefix: str) -> str | None:
    """The text after `<prefix>bard`, or None when the line is not a bard command."""
    stripped = line.strip()
    if not stripped.startswith(prefix):
        return None
    words = stripped[len(prefix) :].split(maxsplit=1)
    if not words or words[0].lower() != "bard":
        return None
    return words[1] if len(words) > 1 else ""


async def serve_console(settings: Settings) -> int:
    """Console mode on the configured model(s): the service is opened for it (store.ModelError if it cannot be) and
    closed after the end of input; with BARD_HEALTH_PORT, /health and /metrics are served meanwhile. The console is
    one server, its settings kept in the database (bot.database.DatabaseError if it cannot be opened). Returns the
    exit status."""
    async with open_servers(settings) as servers, open_service(settings) as service:
        bard = Bard(settings, service, servers=servers)
        if not settings.health_port:
            return await run_console(bard)
        from bot import health  # aiohttp and discord.py: only when asked for

        check = health.HealthCheck(None, service, deadline=settings.health_deadline)
        server = await health.start_server(check, settings.health_port, bard.metrics)
        if server is None:
            return 1
        try:
            return await run_console(bard)
        finally:
            await server.close()


async def run_console(
    bard: Bard,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    banner: bool = True,
) -> int:
    """Answer bard commands from stdin until its end, with a bard on a service its caller opened (and closes);
    returns the exit status (0)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    prefix = bard.settings.prefix
    await bard.service.start()
    if banner:
        print(
            f"bard console: serving {bard.service.describe()}. Type `{prefix}bard To be` or `{prefix}bard help`;"
            " end of input (Ctrl-D) quits.",
            file=stderr,
            flush=True,
        )
    server = CONSOLE_SERVER_ID if bard.servers is not None else None  # the console is one server
    session = Session()  # the last monologue and the scene before it: `bard continue|another|answer` act on it
    lines = _start_reader(stdin if stdin is not None else sys.stdin, asyncio.get_running_loop())
    try:
        while (line := await lines.get()) is not None:
            if not line.strip():
                continue
            text = command_text(line, prefix)
            if text is None:
                print(f"(not a bard command: try `{prefix}bard To be` or `{prefix}bard help`)", file=stderr, flush=True)
                continue
            with bard.in_flight():
                reply = await bard.dispatch(
                    text, author_id=CONSOLE_USER_ID, prefix=prefix, is_owner=True, session=session, server_id=server
                )
            print(reply.text + "\n", file=stdout, flush=True)
    finally:
        await bard.close(bard.settings.shutdown_grace)
    return 0
