"""Self-hosting files: the default image serves only (no TensorFlow) and the train image installs what the README's
setup installs, both from uv.lock (not a copied list); the image runs as non-root with the bundled model and
a health check; compose builds the train image only on request, and it and the systemd unit fit the bot's shutdown;
and, when asked for (BARD_TEST_DOCKER=1) where a Docker engine answers, the image builds and runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from lockfile import closure, expand_extras, lock

from bot.settings import DEFAULT_SECRETS_DIR, ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent
SELF_HOSTING = REPO / "docs/self-hosting.md"  # Docker, systemd and operations, out of the README
DEFAULTS = Settings()


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


def makefile_sync_extras() -> dict[str, list[str]]:
    """The extras each of the Makefile's environments installs from the lock, by its variable (VENV: make test's)."""
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^SYNC = \$\(UV\) sync --locked\b", makefile, re.M), "make no longer installs from the lock"
    assert re.search(r"^run: \$\(SERVE_VENV\)/\.synced$", makefile, re.M), "make run no longer installs first"
    assert re.search(r"^test: \$\(VENV\)/\.synced$", makefile, re.M), "make test no longer installs first"
    syncs = re.findall(r"UV_PROJECT_ENVIRONMENT=\$\((\w+)\) \$\(SYNC\)([^|\n]*)", makefile)
    return {venv: re.findall(r"--extra (\S+)", options) for venv, options in syncs}


def seconds(value: str) -> float:
    """Docker and systemd durations: 15s, 1m30s, 20 (seconds)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?", value)
    assert parts and "".join(n + (u or "") for n, u in parts) == value.replace(" ", ""), value
    scale = {"ms": 0.001, "": 1, "s": 1, "m": 60, "min": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


# --------------------------------------------------------------------------- the image's install steps


def image_sync(extras: str) -> list[str]:
    """The Dockerfile's `uv sync` command for a value of EXTRAS, its words as the build's shell expands them."""
    (run,) = [r for r in arguments("RUN") if "uv sync" in r]
    command = run[run.index("uv sync") :]
    assert "&&" not in command and ";" not in command, run
    environment = {"EXTRAS": extras, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    printed = subprocess.run(
        ["sh", "-c", f"printf '%s\\n' {command}"], env=environment, capture_output=True, text=True, check=True
    )
    return printed.stdout.split()


def test_the_default_image_serves_only_and_the_train_image_installs_what_the_readme_setup_does() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme  # the README's setup; the Makefile says what it installs
    make_extras = makefile_sync_extras()
    assert make_extras["VENV"] == ["dev"]
    assert make_extras["SERVE_VENV"] == []  # make run: serving only
    project = pyproject()["project"]

    # `docker build -t bard .`: the dependencies alone, from the lock, no TensorFlow.
    (extras_arg,) = [a for a in arguments("ARG") if a.startswith("EXTRAS")]
    assert extras_arg == "EXTRAS="
    serving = image_sync("")
    assert serving[:3] == ["uv", "sync", "--locked"] and "--no-install-project" in serving
    assert "--extra" not in serving and "--all-extras" not in serving
    assert not closure(lock(), []) & {"tensorflow", "keras"}

    # `docker build --build-arg EXTRAS=train -t bard:train .`: what `make test` installs, less the test tools and
    # the PostgreSQL driver (the tests' own).
    assert "docker build --build-arg EXTRAS=train -t bard:train ." in SELF_HOSTING.read_text()
    assert image_sync("train") == [*serving, "--extra", "train"]
    training = expand_extras(project, ["train"])
    make_installs = expand_extras(project, make_extras["VENV"])
    optional = project["optional-dependencies"]
    dev_tools = [r for e in ("dev", "test", "postgres") for r in optional[e] if not r.startswith(project["name"] + "[")]
    assert sorted(training) == sorted(set(make_installs) - set(dev_tools))
    assert set(project["dependencies"]) | set(project["optional-dependencies"]["train"]) == set(training)

    # The project itself on top, without resolving again; and no requirement written into the Dockerfile by hand.
    assert any(r.startswith("pip --python /opt/bard/venv/bin/python install --no-deps /src") for r in arguments("RUN"))
    text = (REPO / "Dockerfile").read_text().lower()
    for requirement in make_installs:
        name = re.split(r"[<>=!~\[; ]", requirement)[0].lower()
        by_hand = re.search(rf"(pip|uv) (install|add)[^\n]*\b{re.escape(name)}\b", text)
        assert not by_hand, f"{name} is installed by hand"


def test_the_code_copied_into_the_image_is_every_package_setuptools_installs() -> None:
    copied = {source for a in arguments("COPY") if not a.startswith("--") for source in shlex.split(a)[:-1]}
    assert {"pyproject.toml", "uv.lock", "deploy/uv-requirements.txt", "bot", "training", "model_store/*.py"} <= copied
    packages = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert set(packages) == {"bot*", "model_store*", "training*"}
    # model_store is copied as *.py (its model gets a layer of its own): each subpackage needs a COPY of its own.
    subpackages = [p.parent for p in (REPO / "model_store").glob("*/__init__.py")]
    assert subpackages, "model_store/rules is a subpackage"
    assert {f"model_store/{p.name}" for p in subpackages} <= copied
    for source in copied - {"model_store/*.py", "model_store/shakespeare"}:
        assert (REPO / source).exists(), source


def test_the_image_runs_as_non_root_with_the_bundled_model_and_a_health_check() -> None:
    (user,) = arguments("USER")
    assert user not in ("root", "0") and any("useradd" in r and user in r for r in arguments("RUN"))
    assert arguments("FROM") == ["python:3.11-slim AS dependencies", "python:3.11-slim"]  # uv stays in the first
    copies = [shlex.split(a) for a in arguments("COPY")]
    (model_copy,) = [c for c in copies if c[0] == "model_store/shakespeare"]
    env = " ".join(arguments("ENV"))
    assert f"BARD_MODEL_DIR={model_copy[1]}" in env
    # The bundled model is that one: model_store/shakespeare, wherever model_store is installed.
    assert Path(DEFAULTS.model_dir).parts[-2:] == Path(model_copy[0]).parts == ("model_store", "shakespeare")
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
    assert set(compose["services"]) == {"bard", "train", "prometheus"}
    service = compose["services"]["bard"]
    assert service["build"] == "." and service["image"] == "bard:latest"  # the Dockerfile's default: serving only
    assert service["restart"] == "unless-stopped"
    assert service["secrets"] == ["bard_token"] and compose["secrets"]["bard_token"]["file"] == "./secrets/bard_token"
    # Compose mounts it at /run/secrets/bard_token: the file the settings read as BARD_TOKEN by default.
    assert DEFAULT_SECRETS_DIR / (ENV_PREFIX + "token").lower() == Path("/run/secrets/bard_token")
    assert "models:/data/models" in service["volumes"] and "models" in compose["volumes"]
    assert [e["path"] for e in service["env_file"]] == [".env"] and service["env_file"][0]["required"] is False
    assert "environment" not in service or not any("TOKEN" in str(e) for e in service["environment"])
    assert seconds(service["stop_grace_period"]) >= DEFAULTS.shutdown_grace + 5


def test_the_servers_settings_live_on_a_volume_of_their_own() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "settings:/data/settings" in compose["services"]["bard"]["volumes"] and "settings" in compose["volumes"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "BARD_DATABASE_URL=sqlite:////data/settings/bard.sqlite3" in dockerfile
    assert "mkdir -p /data/models /data/settings" in dockerfile  # made by the image, so the volume is the bard's


def test_compose_builds_the_train_image_only_on_request_on_the_bots_models_volume() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    train, bot = compose["services"]["train"], compose["services"]["bard"]
    assert train["build"] == {"context": ".", "args": {"EXTRAS": "train"}} and train["image"] == "bard:train"
    assert train["profiles"] == ["train"]  # `docker compose up` neither builds nor starts it
    assert "models:/data/models" in train["volumes"] and "secrets" not in train  # no token needed to train
    assert train["security_opt"] == bot["security_opt"] and train["cap_drop"] == bot["cap_drop"]
    # The docs' retraining commands run in this service, never in the bot's image (which has no TensorFlow).
    docs = SELF_HOSTING.read_text()
    assert "docker compose run --rm train bard-train --help" in docs
    assert not re.search(r"docker compose run[^\n`]* bard bard-train", docs)
    assert 'docker compose run --rm -v "$PWD/plays:/data/plays:ro" train' in docs


def test_compose_runs_prometheus_only_on_request_scraping_the_bards_loopback_metrics() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    prometheus, bot = compose["services"]["prometheus"], compose["services"]["bard"]
    assert prometheus["profiles"] == ["metrics"]  # `docker compose up` does not start it
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])  # a version, not :latest
    assert prometheus["network_mode"] == "service:bard"  # the bard's health port listens on its loopback only
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert prometheus["security_opt"] == bot["security_opt"] and prometheus["cap_drop"] == bot["cap_drop"]
    config = yaml.safe_load((REPO / "deploy/prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    port = re.search(r"BARD_HEALTH_PORT=(\d+)", (REPO / "Dockerfile").read_text())
    assert port is not None and job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": [f"127.0.0.1:{port.group(1)}"]}]


def unit() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (REPO / "deploy/bard.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_the_unit_file_and_the_docs_make_etc_bard_root_only_alike() -> None:
    """/etc/bard holds the token's file: root only (700), in the unit's install notes as in the docs' steps."""
    modes = {
        name: re.findall(r"install -d -m (\d+) /etc/bard\b", path.read_text())
        for name, path in (("unit", REPO / "deploy/bard.service"), ("docs", SELF_HOSTING))
    }
    assert modes == {"unit": ["700"], "docs": ["700"]}
    assert "Documentation=file:///opt/bard/docs/self-hosting.md" in (REPO / "deploy/bard.service").read_text()


def test_the_systemd_unit_restarts_on_failure_and_outwaits_the_graceful_shutdown() -> None:
    u = unit()
    assert u["Restart"] == ["on-failure"] and u["RestartPreventExitStatus"] == ["2"]
    assert seconds(u["TimeoutStopSec"][0]) >= DEFAULTS.shutdown_grace + 5
    assert u["User"] == ["bard"] and u["EnvironmentFile"] == ["/etc/bard/bard.env"]
    assert u["StandardOutput"] == u["StandardError"] == ["journal"]
    assert u["NoNewPrivileges"] == ["true"] and u["ProtectSystem"] == ["strict"]
    assert u["ReadWritePaths"] == ["/var/lib/bard"] and u["ExecStart"][0].endswith("/bin/bard-bot")


# --------------------------------------------------------------------------- a real build, where Docker runs


DOCKER_TEST = "BARD_TEST_DOCKER"  # set to 1 to build the image and run it (minutes; it downloads the dependencies)
BASE_IMAGE = "python:3.11-slim"


def docker_unavailable() -> str | None:
    """Why the image cannot be built here, or None."""
    if os.environ.get(DOCKER_TEST) != "1":
        return f"builds the image: set {DOCKER_TEST}=1 to run it"
    if shutil.which("docker") is None:
        return "no docker CLI on this machine"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return "the docker CLI is here but no Docker engine answers (docker info failed)"
    if not (REPO / "model_store/shakespeare/manifest.json").is_file():
        return "the bundled model (model_store/shakespeare) is not exported yet; the image copies it"
    have = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=30)
    if have.returncode != 0:
        pull = subprocess.run(["docker", "pull", BASE_IMAGE], capture_output=True, text=True, timeout=600)
        if pull.returncode != 0:
            lines = (pull.stderr.strip() or pull.stdout.strip() or "no output").splitlines()
            return f"the Docker engine cannot get the base image {BASE_IMAGE}: {lines[-1]}"
    return None


@pytest.mark.slow
def test_the_image_builds_and_its_bot_starts() -> None:
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)
    tag = "bard:test-serve"
    # The default image, the bot's. The host network: it works whether or not the engine has a bridge network.
    subprocess.run(["docker", "build", "--network", "host", "-t", tag, str(REPO)], check=True, timeout=1800)
    run = ["docker", "run", "--rm", "--network", "host", "-e", "BARD_TOKEN=", tag]
    who = subprocess.run([*run, "id", "-u"], capture_output=True, text=True, check=True, timeout=120)
    assert who.stdout.strip() != "0"
    no_tf = subprocess.run([*run, "python", "-c", "import tensorflow"], capture_output=True, text=True, timeout=120)
    assert no_tf.returncode == 1 and "No module named 'tensorflow'" in no_tf.stderr
    console_run = [*run[:-1], "-i", tag, "bard-bot", "--console"]
    console = subprocess.run(console_run, input="!bard info\n", capture_output=True, text=True, timeout=120)
    assert console.returncode == 0 and "model card" in console.stdout, console.stderr
    health = subprocess.run([*run, "bard-bot", "--health"], capture_output=True, text=True, timeout=120)
    assert health.returncode == 1 and health.stdout.startswith("unhealthy: nothing is listening")
