"""The bard on Discord: settings, command handling, the batched inference service, and the bot itself.

Imports point one way: bot uses model_store (numpy), never training, TensorFlow or Keras.
"""

from model_store import hold_blas_to_one_thread

# Inference runs in one dedicated thread, and its matrix products are small (one row per request): BLAS threads
# only spin against that thread, the event loop and anything else on the machine (measured with a 2x448 model on
# 2 busy cores: 16 ms per generated character with OpenBLAS's default threads, 0.6 ms with one).
hold_blas_to_one_thread()
