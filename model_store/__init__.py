"""Exported bard models: verified loading, and the numpy sampling engine that serves them."""

from pathlib import Path

# The model the generator and the bot use when none is configured.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "shakespeare"
