"""Print the requirements pyproject.toml declares, one a line: [project].dependencies plus the given extras.

    python deploy/requirements.py pyproject.toml train      # what the image installs by default
    python deploy/requirements.py pyproject.toml            # serving only (no TensorFlow)

The Dockerfile installs these in a layer of their own, rebuilt only when pyproject.toml changes, before the
source is copied in; pyproject.toml stays the one list. An extra that names the project itself (dev =
["bard[train]", ...]) brings in that extra's requirements. Standard library only: it runs before any install.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(pyproject: dict, extras: Iterable[str]) -> list[str]:
    """The dependencies, then each extra's (self-references expanded), without repeats, in order."""
    project = pyproject["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    self_reference = re.compile(rf"\s*{re.escape(project['name'])}\s*\[([^\]]*)\]\s*", re.IGNORECASE)
    found = list(project.get("dependencies", []))
    todo, done = [e for e in extras if e], set()
    while todo:
        extra = _normal(todo.pop(0))
        if extra in done:
            continue
        if extra not in {_normal(e) for e in optional}:
            raise SystemExit(f"requirements.py: pyproject.toml has no extra {extra!r} (it has {', '.join(optional)})")
        done.add(extra)
        for requirement in next(v for k, v in optional.items() if _normal(k) == extra):
            if match := self_reference.fullmatch(requirement):
                todo.extend(e.strip() for e in match.group(1).split(","))
            elif requirement not in found:
                found.append(requirement)
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    pyproject = tomllib.loads(Path(argv[0]).read_text(encoding="utf-8"))
    extras = [e for arg in argv[1:] for e in re.split(r"[,\s]+", arg)]  # "train", "train,x" or "train x"
    print("\n".join(requirements(pyproject, extras)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
