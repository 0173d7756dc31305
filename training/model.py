"""The network: Embedding (with dropout) -> stacked LSTMs with dropout -> Dense logits, and how it is compiled to
fit. Keras layers, with Keras's own LSTM or training/lstm_layer.py's (the same equations and weights, faster to fit
on a CPU); no I/O."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from model_store.store import DENSE_BIAS, DENSE_KERNEL, EMBEDDING, lstm_weight_names
from training.config import LSTM_IMPL_CHOICES, TrainConfig
from training.lstm_layer import F32GateLSTM

PRECISIONS = ("float32", "mixed_bfloat16")


def build_model(
    vocab_size: int,
    *,
    embedding_dim: int,
    layers: int,
    units: int,
    dropout: float,
    embedding_dropout: float = 0.0,
    weight_drop: float = 0.0,
    precision: str = "float32",
    lstm_impl: str = "keras",
) -> keras.Model:
    """Predicts the next character at every position of a sequence of character ids.

    dropout follows each LSTM layer; embedding_dropout (if any) the embedding, so the first layer's input is
    regularised too; weight_drop (F32GateLSTM only) drops entries of each LSTM's recurrent kernel. All act in
    training only: the exported arrays and the engine know nothing of them.

    precision is the Keras dtype policy of the embedding, LSTM and dropout layers: under mixed_bfloat16 they
    compute in bfloat16 but keep float32 weights. The logits layer always computes in float32, so the softmax
    and the loss keep their precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if lstm_impl not in LSTM_IMPL_CHOICES:
        raise ValueError(f"lstm_impl must be one of {', '.join(LSTM_IMPL_CHOICES)}, not {lstm_impl!r}")
    if lstm_impl == "keras":
        if weight_drop:
            raise ValueError("weight_drop needs lstm_impl f32-gates: Keras's LSTM has no DropConnect")
        lstm, lstm_options = keras.layers.LSTM, {"return_sequences": True}
    else:
        lstm, lstm_options = F32GateLSTM, {"weight_drop": weight_drop}  # always returns the whole sequence
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding", dtype=precision)(chars)
    if embedding_dropout:
        x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout", dtype=precision)(x)
    for i in range(layers):
        x = lstm(units, name=f"lstm{i}", dtype=precision, **lstm_options)(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{i}", dtype=precision)(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
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


def build_architecture(
    arch: dict[str, int],
    *,
    dropout: float,
    embedding_dropout: float = 0.0,
    weight_drop: float = 0.0,
    precision: str = "float32",
    lstm_impl: str = "keras",
) -> keras.Model:
    """An untrained network of the architecture that architecture() reads back and an export's manifest records."""
    return build_model(
        arch["vocab_size"],
        embedding_dim=arch["embedding_dim"],
        layers=arch["layers"],
        units=arch["units"],
        dropout=dropout,
        embedding_dropout=embedding_dropout,
        weight_drop=weight_drop,
        precision=precision,
        lstm_impl=lstm_impl,
    )


def from_numpy_weights(weights: dict[str, np.ndarray], arch: dict[str, int], **options: Any) -> keras.Model:
    """The Keras model of an export's arrays (the inverse of numpy_weights): what fine-tuning starts from, so an
    export needs no model.keras to be fine-tuned, and what an export's model.keras is made of (by default Keras's
    own LSTM, which loads without this module). options are build_architecture's: dropout, embedding_dropout,
    weight_drop, precision, lstm_impl."""
    model = build_architecture(arch, **options)
    model.get_layer("embedding").set_weights([weights[EMBEDDING]])
    for i in range(arch["layers"]):
        model.get_layer(f"lstm{i}").set_weights([weights[name] for name in lstm_weight_names(i)])
    model.get_layer("logits").set_weights([weights[DENSE_KERNEL], weights[DENSE_BIAS]])
    return model


def architecture(model: keras.Model) -> dict[str, int]:
    """vocab_size, embedding_dim, layers and units, read back from a built model."""
    emb = model.get_layer("embedding")
    lstms = [layer for layer in model.layers if isinstance(layer, (keras.layers.LSTM, F32GateLSTM))]
    return {
        "vocab_size": int(emb.input_dim),
        "embedding_dim": int(emb.output_dim),
        "layers": len(lstms),
        "units": int(lstms[0].units),
    }


def model_precision(model: keras.Model) -> str:
    """The dtype policy a (perhaps resumed) model computes its LSTMs in."""
    return model.get_layer("lstm0").dtype_policy.name


def model_lstm_impl(model: keras.Model) -> str:
    """Which LSTM layer a (perhaps resumed) model is made of: one of LSTM_IMPL_CHOICES."""
    return "f32-gates" if isinstance(model.get_layer("lstm0"), F32GateLSTM) else "keras"


def compile_for_fit(model: keras.Model, config: TrainConfig) -> None:
    """Adam with the run's learning rate, gradient clipping and weight decay, the loss on logits, XLA or not."""
    optimizer = keras.optimizers.Adam(
        learning_rate=config.learning_rate,
        clipnorm=config.clipnorm,
        weight_decay=config.weight_decay or None,
    )
    # Decay pulls weights toward 0; a bias has no scale to regularise, and the LSTMs' forget-gate bias of 1 is
    # what lets them remember.
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=config.jit_compile,
    )
