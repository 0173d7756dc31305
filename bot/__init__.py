"""The bard on Discord: settings, command handling, the batched inference service, and the bot itself.

Imports point one way: bot uses model_store (numpy), never training, TensorFlow or Keras.
"""

import os
import sys

# Inference runs in one dedicated thread, and its matrix products are small (one row per request): BLAS
# threads only spin against that thread, the event loop and anything else on the machine. Measured with a
# 2x448 model on 2 busy cores: 16 ms per generated character with OpenBLAS's default threads, 0.6 ms with
# one. These only take effect before numpy is first imported, and an explicit setting is left alone.
# (OpenBLAS for pip's numpy, MKL for conda's; OMP_NUM_THREADS is left to whoever else shares the process.)
if "numpy" not in sys.modules:
    for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")
