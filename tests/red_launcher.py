"""Red-DiscordBot's own command line (`redbot INSTANCE ...`), run by tests/test_red.py with the Red venv's python
against the tests' fake Discord. discord.py is pointed at the fake's REST and gateway (FAKE_DISCORD_API_URL and
FAKE_DISCORD_GATEWAY_URL: not BARD_*, which the bard reads) as bot.app.point_at points the stand-alone bot, and Red's
start-up look at PyPI for a newer Red is answered here with its own version: the run talks to loopback only."""

import os
import sys

from redbot import __main__ as red
from redbot.core import _events, version_info

from bot.app import point_at


async def this_version() -> tuple[object, None]:
    """What Red's start-up asks PyPI (the latest Red and its Python requirement): this Red, so nothing is newer."""
    return version_info, None


if __name__ == "__main__":
    point_at(os.environ["FAKE_DISCORD_API_URL"], os.environ["FAKE_DISCORD_GATEWAY_URL"])
    _events.fetch_latest_red_version_info = this_version
    sys.argv[0] = "redbot"
    red.main()
