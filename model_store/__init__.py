"""Exported bard models: verified loading, and the numpy sampling engine that serves them."""

import os
import sys
from pathlib import Path

# The model the generator and the bot use when none is configured.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "shakespeare"


def hold_blas_to_one_thread() -> None:
    """Hold numpy's BLAS to one thread, unless the user set it: call before numpy is first imported.

    Generation's matrix products are small (one row per stream): BLAS threads only spin against the thread that
    samples and anything else on the machine. A 2x576 model beside two busy processes wrote one reply in 12-22 s
    with OpenBLAS's default threads, 2.3 s with one. Every entry point that serves (bard-generate, bard-bot, the
    console) calls this; it does nothing once numpy is imported. (OpenBLAS for pip's numpy, MKL for conda's;
    OMP_NUM_THREADS is left to whoever else shares the process, TensorFlow included.)
    """
    if "numpy" not in sys.modules:
        for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
