"""The network: Embedding -> stacked LSTMs with dropout -> Dense logits. Built-in Keras layers, no I/O."""

from __future__ import annotations

import keras
import numpy as np

from model_store.store import DENSE_BIAS, DENSE_KERNEL, EMBEDDING, lstm_weight_names


def build_model(vocab_size: int, *, embedding_dim: int, layers: int, units: int, dropout: float) -> keras.Model:
    """Predicts the next character at every position of a sequence of character ids."""
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(chars)
    for i in range(layers):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(chars, logits, name="bard_lstm")


def numpy_weights(model: keras.Model) -> dict[str, np.ndarray]:
    """The model's weights as float32 numpy arrays, under the names model_store exports them by."""
    out = {EMBEDDING: model.get_layer("embedding").get_weights()[0]}
    i = 0
    while any(layer.name == f"lstm{i}" for layer in model.layers):
        out |= dict(zip(lstm_weight_names(i), model.get_layer(f"lstm{i}").get_weights(), strict=True))
        i += 1
    out[DENSE_KERNEL], out[DENSE_BIAS] = model.get_layer("logits").get_weights()
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def architecture(model: keras.Model) -> dict[str, int]:
    """vocab_size, embedding_dim, layers and units, read back from a built model."""
    emb = model.get_layer("embedding")
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    return {
        "vocab_size": int(emb.input_dim),
        "embedding_dim": int(emb.output_dim),
        "layers": len(lstms),
        "units": int(lstms[0].units),
    }
