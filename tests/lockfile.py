"""Reading uv.lock and pyproject.toml for the tests: the lock's record of pyproject's requirements, and which
packages an install of some extras brings in. Standard library and packaging (pytest's own dependency) only."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@functools.cache
def lock() -> dict:
    """uv.lock, read once (callers do not change it)."""
    return tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))


def project_entry(locked: dict) -> dict:
    """The lock's entry for the project itself (the editable root)."""
    name = pyproject()["project"]["name"]
    (entry,) = [p for p in locked["package"] if p["name"] == name and "editable" in p.get("source", {})]
    return entry


def expand_extras(project: dict, extras: Iterable[str]) -> list[str]:
    """The dependencies, then each extra's, an extra that names the project itself (dev = ["bard[train]", ...])
    expanded into that extra's; without repeats, in order."""
    optional = {canonicalize_name(k): v for k, v in project.get("optional-dependencies", {}).items()}
    found = list(project.get("dependencies", []))
    todo, done = [canonicalize_name(e) for e in extras], set()
    while todo:
        extra = todo.pop(0)
        if extra in done:
            continue
        done.add(extra)
        for text in optional[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                todo.extend(canonicalize_name(e) for e in requirement.extras)
            elif text not in found:
                found.append(text)
    return found


def closure(locked: dict, extras: Iterable[str]) -> set[str]:
    """The names of every package that installing the project with these extras can bring in (markers ignored:
    a package needed on any platform or Python counts)."""
    by_name: dict[str, list[dict]] = {}
    for package in locked["package"]:
        by_name.setdefault(package["name"], []).append(package)
    root = project_entry(locked)
    wanted = list(root.get("dependencies", []))
    for extra in extras:
        wanted += root.get("optional-dependencies", {})[canonicalize_name(extra)]
    found: set[str] = set()
    while wanted:
        dependency = wanted.pop()
        for package in by_name[dependency["name"]]:
            if package is root:
                continue
            if package["name"] not in found:
                found.add(package["name"])
                wanted += package.get("dependencies", [])
            for extra in dependency.get("extra", []):
                wanted += package.get("optional-dependencies", {}).get(extra, [])
    return found


# Environments on which two markers must agree to be the same marker: uv rewrites some (python_version < '3.12'
# becomes python_full_version < '3.12'), so they are compared by what they select, not as text.
_PYTHONS = ("3.11.0", "3.11.9", "3.12.0", "3.13.0", "3.14.0", "3.15.0")
_PLATFORMS = (("linux", "Linux", "x86_64"), ("linux", "Linux", "aarch64"), ("darwin", "Darwin", "arm64"))
_PLATFORMS += (("win32", "Windows", "AMD64"),)


def _selects(text: str, extras: Iterable[str]) -> frozenset[tuple]:
    marker, chosen = Marker(text), set()
    for python in _PYTHONS:
        for sys_platform, system, machine in _PLATFORMS:
            for extra in extras:
                environment = {
                    "python_full_version": python,
                    "python_version": ".".join(python.split(".")[:2]),
                    "sys_platform": sys_platform,
                    "platform_system": system,
                    "platform_machine": machine,
                    "os_name": "nt" if system == "Windows" else "posix",
                    "implementation_name": "cpython",
                    "platform_python_implementation": "CPython",
                    "extra": extra,
                }
                if marker.evaluate(environment):
                    chosen.add((python, sys_platform, machine, extra))
    return frozenset(chosen)


def requirement_key(name: str, extras: Iterable[str], specifier: str, marker: str | None, all_extras: list[str]):
    """What a requirement asks for, comparable between pyproject.toml's text and the lock's record of it."""
    selects = _selects(marker, ["", *all_extras]) if marker else "always"
    specifiers = frozenset(str(s) for s in SpecifierSet(specifier))
    return canonicalize_name(name), frozenset(canonicalize_name(e) for e in extras), specifiers, selects


def declared_requirements(project: dict) -> set:
    """pyproject.toml's requirements as requirement_key()s, each extra's with its `extra == ...` marker."""
    extras = [canonicalize_name(e) for e in project.get("optional-dependencies", {})]
    keyed = set()
    groups = [(None, project.get("dependencies", []))]
    groups += [(canonicalize_name(k), v) for k, v in project.get("optional-dependencies", {}).items()]
    for extra, texts in groups:
        for text in texts:
            requirement = Requirement(text)
            markers = [f"({requirement.marker})"] if requirement.marker else []
            markers += [f"extra == '{extra}'"] if extra else []
            marker = " and ".join(markers) or None
            keyed.add(requirement_key(requirement.name, requirement.extras, str(requirement.specifier), marker, extras))
    return keyed


def locked_extras(locked: dict) -> list[str]:
    """The extras the lock was resolved for."""
    return [canonicalize_name(e) for e in project_entry(locked)["metadata"].get("provides-extras", [])]


def locked_requirements(locked: dict) -> set:
    """The lock's record of the requirements it was resolved for, as requirement_key()s."""
    extras = locked_extras(locked)
    return {
        requirement_key(r["name"], r.get("extras", []), r.get("specifier", ""), r.get("marker"), extras)
        for r in project_entry(locked)["metadata"].get("requires-dist", [])
    }
