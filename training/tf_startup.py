"""Importing TensorFlow once, its start-up lines shown once each.

TensorFlow's C++ libraries write their start-up lines (oneDNN, CUDA drivers) to the process's stderr before its
logging is set up, so TF_CPP_MIN_LOG_LEVEL does not reach them, and each library that loads writes them again: a
user saw the same six lines twice. The import runs with stderr captured; what it wrote is then passed on, each
message once, without absl's notice that messages precede its set-up. Nothing is lost: an error written during
the import is passed on too.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

ABSL_LINE = re.compile(
    r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] (?P<message>.*)$"
)  # "I0000 00:00:17.5 26999 port.cc:153] ..."
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def startup_lines(captured: str) -> list[str]:
    """The lines to show of what the import wrote: each message once, absl's notice left out."""
    shown, seen = [], set()
    for line in captured.splitlines():
        match = ABSL_LINE.match(line)
        key = match.group("message") if match else line
        if line.strip() == ABSL_NOTICE or key in seen or not line.strip():
            continue
        seen.add(key)
        shown.append(line)
    return shown


def import_tensorflow() -> None:
    """Import TensorFlow and Keras (once per process), passing on what they write at start-up once per message."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the C++ lines that do honour it
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = startup_lines(captured.read().decode("utf-8", errors="replace"))
    if lines:
        print("\n".join(lines), file=sys.stderr, flush=True)
