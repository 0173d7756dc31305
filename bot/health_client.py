"""`bard-bot --health`: ask the running bot's loopback health endpoint (bot/health.py) and say why, in one line.

Kept apart from the server, and light (the standard library only): a container runs it every 30 seconds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

HOST = "127.0.0.1"  # the endpoint listens on loopback only
PATH = "/health"


def summary(body: dict[str, Any]) -> str:
    """One line: the failing checks (all of them when healthy), as `name: detail`."""
    checks = body.get("checks", {})
    failing = {n: c for n, c in checks.items() if not c.get("ok")}
    return "; ".join(f"{name}: {c.get('detail', '?')}" for name, c in (failing or checks).items())


def query(port: int, timeout: float) -> tuple[bool, str]:
    """Ask the bot on 127.0.0.1:port: (healthy, a one-line reason). Blocking."""
    url = f"http://{HOST}:{port}{PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 503 and the like still carry the checks
        try:
            body = json.load(exc)
        except ValueError:
            return False, f"unhealthy: HTTP {exc.code} from {url}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return False, f"unhealthy: no answer from {url} within {timeout:g} s"
        if isinstance(reason, ConnectionRefusedError):
            return False, f"unhealthy: nothing is listening on {url} (is bard-bot running, with this BARD_HEALTH_PORT?)"
        return False, f"unhealthy: cannot reach {url}: {reason}"
    except TimeoutError:
        return False, f"unhealthy: no answer from {url} within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return False, f"unhealthy: bad answer from {url}: {exc}"
    healthy = bool(body.get("healthy")) if isinstance(body, dict) else False
    return healthy, ("healthy: " if healthy else "unhealthy: ") + (summary(body) if isinstance(body, dict) else "?")
