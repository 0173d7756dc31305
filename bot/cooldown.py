"""The per-user cooldown between monologues: how long a user still waits, given the seconds their server asks."""

from __future__ import annotations

from bot.server_settings import MAX_COOLDOWN

FORGET_PAST = 10_000  # users remembered; past it, those whose longest possible cooldown is over are forgotten


class Cooldowns:
    """When each user's last generation was accepted (one clock for every server: a server sets only the length)."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}  # user id -> when

    def left(self, author_id: int, now: float, seconds: float) -> float:
        """Seconds the user still waits under a cooldown of `seconds` (0 or less: none)."""
        last = self._last.get(author_id)
        if last is None or seconds <= 0:
            return 0.0
        return last + seconds - now

    def remember(self, author_id: int, now: float, seconds: float) -> None:
        """Note an accepted generation (nothing to note where the cooldown is off)."""
        if seconds <= 0:
            return
        self._last[author_id] = now
        if len(self._last) > FORGET_PAST:  # so this cannot grow for ever
            horizon = now - MAX_COOLDOWN  # the longest any server's may be
            self._last = {u: t for u, t in self._last.items() if t > horizon}

    def forget(self, author_id: int) -> None:
        """Drop what is kept about a user (their last accepted generation), as a data deletion request asks."""
        self._last.pop(author_id, None)
