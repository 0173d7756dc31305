"""Self-hosting files: the Dockerfile installs what the README's setup installs (from pyproject.toml, not a copied
list), runs as non-root with the bundled model and a health check; compose and the systemd unit fit the
bot's shutdown; and, where a Docker engine answers, the image builds and runs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.settings import DEFAULT_SECRETS_DIR, ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = Settings()
sys.path.insert(0, str(REPO / "deploy"))
import requirements as deploy_requirements  # noqa: E402 (deploy/ is not a package; the Dockerfile runs it)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            current = ""
    return instructions


def arguments(keyword: str) -> list[str]:
    return [rest for k, rest in dockerfile() if k == keyword]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def makefile_install_extras() -> list[str]:
    """The extras the Makefile's one `pip install -e '.[...]'` installs (what `make run` and `make test` set up)."""
    makefile = (REPO / "Makefile").read_text()
    installs = re.findall(r"pip install\b[^\n]*?-e\s+['\"]?\.\[([^\]]*)\]", makefile)
    assert len(installs) == 1, installs
    assert re.search(r"^run:.*\$\(VENV\)/\.installed", makefile, re.M), "make run no longer installs first"
    return [e.strip() for e in installs[0].split(",")]


def seconds(value: str) -> float:
    """Docker and systemd durations: 15s, 1m30s, 20 (seconds)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?", value)
    assert parts and "".join(n + (u or "") for n, u in parts) == value.replace(" ", ""), value
    scale = {"ms": 0.001, "": 1, "s": 1, "m": 60, "min": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


# --------------------------------------------------------------------------- the image's install steps


def test_the_image_installs_what_the_readme_setup_installs_less_the_dev_tools() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme  # the README's setup; the Makefile says what it installs
    make_extras = makefile_install_extras()
    assert make_extras == ["dev"]

    (extras_arg,) = [a for a in arguments("ARG") if a.startswith("EXTRAS")]
    image_extras = extras_arg.partition("=")[2].split(",")
    assert image_extras == ["train"]

    # The image's requirements come from running deploy/requirements.py on pyproject.toml, as the Dockerfile does.
    (run,) = [r for r in arguments("RUN") if "deploy/requirements.py" in r]
    command = shlex.split(run.split("&&")[0].split(">")[0])
    assert command[:3] == ["python", "/src/deploy/requirements.py", "/src/pyproject.toml"]
    assert command[3:] == ["$EXTRAS"]
    assert "pip install -r /tmp/requirements.txt" in run
    printed = subprocess.run(
        [sys.executable, str(REPO / "deploy/requirements.py"), str(REPO / "pyproject.toml"), *image_extras],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    project = pyproject()["project"]
    make_installs = deploy_requirements.requirements(pyproject(), make_extras)
    dev_tools = [r for r in project["optional-dependencies"]["dev"] if not r.startswith(project["name"] + "[")]
    assert sorted(printed) == sorted(set(make_installs) - set(dev_tools))
    assert set(project["dependencies"]) | set(project["optional-dependencies"]["train"]) == set(printed)

    # The project itself on top, without resolving again; and no requirement written into the Dockerfile by hand.
    assert any(r.startswith("pip install --no-deps /src") for r in arguments("RUN"))
    text = (REPO / "Dockerfile").read_text().lower()
    for requirement in printed:
        name = re.split(r"[<>=!~\[; ]", requirement)[0].lower()
        assert not re.search(rf"pip install[^\n]*\b{re.escape(name)}\b", text), f"{name} is installed by hand"


def test_the_code_copied_into_the_image_is_every_package_setuptools_installs() -> None:
    copied = {shlex.split(a)[0] for a in arguments("COPY") if not a.startswith("--")}
    assert {"pyproject.toml", "deploy/requirements.py", "bot", "training", "model_store/*.py"} <= copied
    packages = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert set(packages) == {"bot*", "model_store*", "training*"}
    # model_store is copied as *.py (its model gets a layer of its own): a subpackage would be left out.
    assert not [p for p in (REPO / "model_store").glob("*/__init__.py")]
    for source in copied - {"model_store/*.py", "model_store/shakespeare"}:
        assert (REPO / source).exists(), source


def test_the_image_runs_as_non_root_with_the_bundled_model_and_a_health_check() -> None:
    (user,) = arguments("USER")
    assert user not in ("root", "0") and any("useradd" in r and user in r for r in arguments("RUN"))
    assert arguments("FROM") == ["python:3.11-slim"]
    copies = [shlex.split(a) for a in arguments("COPY")]
    (model_copy,) = [c for c in copies if c[0] == "model_store/shakespeare"]
    env = " ".join(arguments("ENV"))
    assert f"BARD_MODEL_DIR={model_copy[1]}" in env
    assert (REPO / "model_store/shakespeare").resolve() == Path(DEFAULTS.model_dir)  # the bundled model is that one
    assert re.search(r"BARD_HEALTH_PORT=[1-9]\d*", env) and "OPENBLAS_NUM_THREADS=1" in env
    assert "TOKEN" not in env and not [a for a in arguments("ARG") if "TOKEN" in a]  # never baked into the image

    (healthcheck,) = arguments("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD")
    assert command.strip() == '["bard-bot", "--health"]'
    timeout = re.search(r"--timeout=(\S+)", options)
    assert timeout and seconds(timeout.group(1)) > DEFAULTS.health_deadline  # the check's own deadline fits
    assert arguments("STOPSIGNAL") == ["SIGTERM"]
    assert arguments("CMD") == ['["bard-bot"]']


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", "runs", ".env", "secrets", "**/__pycache__", "model_store/.*"} <= ignored


# --------------------------------------------------------------------------- compose and systemd


def test_compose_passes_the_token_as_a_secret_keeps_models_on_a_volume_and_waits_for_the_shutdown() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    (service,) = compose["services"].values()
    assert service["restart"] == "unless-stopped"
    assert service["secrets"] == ["bard_token"] and compose["secrets"]["bard_token"]["file"] == "./secrets/bard_token"
    # Compose mounts it at /run/secrets/bard_token: the file the settings read as BARD_TOKEN by default.
    assert DEFAULT_SECRETS_DIR / (ENV_PREFIX + "token").lower() == Path("/run/secrets/bard_token")
    assert "models:/data/models" in service["volumes"] and "models" in compose["volumes"]
    assert [e["path"] for e in service["env_file"]] == [".env"] and service["env_file"][0]["required"] is False
    assert "environment" not in service or not any("TOKEN" in str(e) for e in service["environment"])
    assert seconds(service["stop_grace_period"]) >= DEFAULTS.shutdown_grace + 5


def unit() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (REPO / "deploy/bard.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_the_systemd_unit_restarts_on_failure_and_outwaits_the_graceful_shutdown() -> None:
    u = unit()
    assert u["Restart"] == ["on-failure"] and u["RestartPreventExitStatus"] == ["2"]
    assert seconds(u["TimeoutStopSec"][0]) >= DEFAULTS.shutdown_grace + 5
    assert u["User"] == ["bard"] and u["EnvironmentFile"] == ["/etc/bard/bard.env"]
    assert u["StandardOutput"] == u["StandardError"] == ["journal"]
    assert u["NoNewPrivileges"] == ["true"] and u["ProtectSystem"] == ["strict"]
    assert u["ReadWritePaths"] == ["/var/lib/bard"] and u["ExecStart"][0].endswith("/bin/bard-bot")


# --------------------------------------------------------------------------- a real build, where Docker runs


def docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on this machine"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return "the docker CLI is here but no Docker engine answers (docker info failed)"
    if not (REPO / "model_store/shakespeare/manifest.json").is_file():
        return "the bundled model (model_store/shakespeare) is not exported yet; the image copies it"
    return None


@pytest.mark.slow
def test_the_image_builds_and_its_bot_starts() -> None:
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    tag = "bard:test-serve"
    # The serving-only variant: every step of the Dockerfile, without downloading TensorFlow.
    build = ["docker", "build", "--build-arg", "EXTRAS=", "-t", tag, str(REPO)]
    subprocess.run(build, check=True, timeout=1800)
    run = ["docker", "run", "--rm", "-e", "BARD_TOKEN=", tag]
    who = subprocess.run([*run, "id", "-u"], capture_output=True, text=True, check=True, timeout=120)
    assert who.stdout.strip() != "0"
    console_run = [*run[:-1], "-i", tag, "bard-bot", "--console"]
    console = subprocess.run(console_run, input="!bard info\n", capture_output=True, text=True, timeout=120)
    assert console.returncode == 0 and "model card" in console.stdout, console.stderr
    health = subprocess.run([*run, "bard-bot", "--health"], capture_output=True, text=True, timeout=120)
    assert health.returncode == 1 and health.stdout.startswith("unhealthy: nothing is listening")
