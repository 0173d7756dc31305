"""The health check and the metrics: a loopback HTTP endpoint in the running bot (and in console mode), for the
`bard-bot --health` client and for Prometheus.

GET http://127.0.0.1:<BARD_HEALTH_PORT>/health answers 200 when every check passes and 503 otherwise, with
the checks as JSON:

    {"healthy": true, "checks": {
        "gateway": {"ok": true, "detail": "ready, 3 guild(s)"},
        "model": {"ok": true, "detail": "serving shakespeare"},
        "generation": {"ok": true, "detail": "4 chars in 12 ms"}}}

gateway: connected and ready (every shard of this process), not closing. model: loaded, warmed up, not
shutting down. generation: a tiny generation through the real queue and inference thread finished within
BARD_HEALTH_DEADLINE. The route asks the service; it never runs the model itself. In console mode there is no
gateway, and no gateway check.

GET /metrics on the same port is the bot's Prometheus metrics (bot/metrics.py, docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import discord
from aiohttp import web

from bot.health_client import HOST, PATH, summary
from bot.metrics import BardMetrics
from bot.service import PROBE_CHARS, GenerationService

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


class HealthCheck:
    """Runs the checks against the live bot (None: console mode, no gateway) and service; concurrent callers share
    one generation probe."""

    def __init__(self, bot: discord.Client | None, service: GenerationService, *, deadline: float) -> None:
        self.bot = bot
        self.service = service
        self.deadline = deadline
        self._probe: asyncio.Task[Check] | None = None

    async def run(self) -> dict[str, Check]:
        checks = {"gateway": self.gateway()} if self.bot is not None else {}
        checks["model"] = self.model()
        if checks["model"].ok:
            checks["generation"] = await self.generation()
        else:
            checks["generation"] = Check(False, "not tried: no model is serving")
        return checks

    def gateway(self) -> Check:
        bot = self.bot
        assert bot is not None
        if bot.is_closed():
            return Check(False, "closed (shutting down)")
        if not bot.is_ready():
            return Check(False, "not ready (connecting, or waiting for the guilds)")
        if isinstance(bot, discord.AutoShardedClient):
            ids = bot.shard_ids or range(bot.shard_count or 0)
            down = sorted(i for i in ids if (shard := bot.get_shard(i)) is None or shard.is_closed())
            if down:
                return Check(False, f"shard(s) {','.join(map(str, down))} disconnected (reconnecting)")
        elif bot.ws is None or not bot.ws.open:
            return Check(False, "disconnected (reconnecting)")
        return Check(True, f"ready, {len(bot.guilds)} guild(s)")

    def model(self) -> Check:
        if not self.service.serving:
            return Check(False, "not serving (not started yet, or shutting down)")
        return Check(True, f"serving {self.service.describe()}")

    async def generation(self) -> Check:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._generate())
        return await asyncio.shield(self._probe)  # a caller that gives up does not cancel the others' probe

    async def _generate(self) -> Check:
        try:
            seconds = await self.service.probe(self.deadline)
        except Exception as exc:
            return Check(False, f"{type(exc).__name__}: {exc}")
        return Check(True, f"{PROBE_CHARS} chars in {seconds * 1000:.0f} ms")


class HealthServer:
    """Serves GET /health, and GET /metrics when given metrics, on 127.0.0.1 (loopback only: nothing outside the
    machine or container reaches it) at `port` (0: any free port, for tests; see .port once started)."""

    def __init__(self, check: HealthCheck, port: int, metrics: BardMetrics | None = None) -> None:
        self.check = check
        self.port = port
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        if self.metrics is not None:
            app.router.add_get(METRICS_PATH, self._metrics)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, HOST, self.port).start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]
        log.info("health check on http://%s:%d%s", HOST, self.port, PATH)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        checks = await self.check.run()
        healthy = all(c.ok for c in checks.values())
        body = {"healthy": healthy, "checks": {name: vars(c) for name, c in checks.items()}}
        if not healthy:
            log.warning("health check failed: %s", summary(body))
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.metrics is not None
        page, content_type = self.metrics.render(request.headers.get("Accept"))
        return web.Response(body=page, headers={"Content-Type": content_type})


async def start_server(check: HealthCheck, port: int, metrics: BardMetrics) -> HealthServer | None:
    """The health and metrics endpoint, listening; None (and the reason logged) when the port cannot be had."""
    server = HealthServer(check, port, metrics)
    try:
        await server.start()
    except OSError as exc:  # fail at start, not with a container that is never healthy
        log.error("cannot serve the health check on port %d: %s (set another BARD_HEALTH_PORT)", port, exc)
        return None
    return server
