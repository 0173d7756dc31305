"""F32GateLSTM: Keras's LSTM (its equations, initialisers and weights) laid out for a CPU, with its own gradient.

Keras's LSTM layer runs each time step as a small graph in a tf.while_loop, and differentiates it step by step:
every step casts both kernels to bfloat16 (under mixed_bfloat16), does its gate arithmetic in bfloat16 (which
TensorFlow's CPU kernels compute more slowly than float32, benchmarks/matmul_precision.py), and adds a
full-size gradient of each kernel into a sum. Here, as cuDNN does it, the time loops hold only what must be
sequential: forward, the state times the recurrent kernel and the gates; backward, the gates' gradient times
that kernel's transpose. Everything else is one large matrix product over the whole sequence: the input
projection before the loop, and the three weight gradients after it. The gate arithmetic and the cell state
stay float32 whatever the matrix products compute in.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _lstm_bias(shape: tuple[int, ...], dtype: str | None = None) -> tf.Tensor:
    """Keras's unit_forget_bias: 1 for the forget gate, 0 elsewhere (gates in Keras's order i, f, c, o)."""
    units = shape[0] // 4
    return tf.concat([tf.zeros(units), tf.ones(units), tf.zeros(2 * units)], axis=0)


def _shift_in_zeros(steps: tf.Tensor) -> tf.Tensor:
    """[x0, x1, ..., x(T-1)] -> [0, x0, ..., x(T-2)] along the time axis: each step's previous value."""
    return tf.concat([tf.zeros_like(steps[:1]), steps[:-1]], axis=0)


@tf.custom_gradient
def lstm_sequence(
    inputs: tf.Tensor, kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor
) -> tuple[tf.Tensor, object]:
    """The outputs [batch, time, units] of an LSTM over inputs [batch, time, features] from a zero state.

    The matrix products compute in the inputs' dtype (the layer's compute dtype); the gates, the cell state and
    the outputs before their final cast are float32."""
    dtype = inputs.dtype
    units = recurrent_kernel.shape[0]
    time_major = tf.transpose(inputs, (1, 0, 2))
    projected = tf.cast(tf.matmul(time_major, kernel) + bias, tf.float32)
    zeros = tf.zeros((tf.shape(inputs)[0], units), tf.float32)

    def step(carry: tuple[tf.Tensor, ...], z_in: tf.Tensor) -> tuple[tf.Tensor, ...]:
        h, c, _ = carry
        z = z_in + tf.cast(tf.matmul(tf.cast(h, dtype), recurrent_kernel), tf.float32)
        zi, zf, zg, zo = tf.split(z, 4, axis=-1)
        i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
        c = f * c + i * g
        return o * tf.tanh(c), c, tf.concat([i, f, g, o], axis=-1)

    hs, cs, gates = tf.scan(step, projected, initializer=(zeros, zeros, tf.zeros_like(projected[0])))

    def grad(d_outputs: tf.Tensor) -> tuple[tf.Tensor, ...]:
        d_hs = tf.transpose(tf.cast(d_outputs, tf.float32), (1, 0, 2))
        tanh_cs = tf.tanh(cs)

        def back(carry: tuple[tf.Tensor, ...], step_in: tuple[tf.Tensor, ...]) -> tuple[tf.Tensor, ...]:
            d_h_next, d_c_next, _ = carry
            d_h_out, gate, tanh_c, c_prev = step_in
            i, f, g, o = tf.split(gate, 4, axis=-1)
            d_h = d_h_out + d_h_next
            d_c = d_c_next + d_h * o * (1 - tanh_c * tanh_c)
            d_z = tf.concat(
                [d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g * g), d_h * tanh_c * o * (1 - o)],
                axis=-1,
            )
            d_h_prev = tf.cast(tf.matmul(tf.cast(d_z, dtype), recurrent_kernel, transpose_b=True), tf.float32)
            return d_h_prev, d_c * f, d_z

        steps_in = (d_hs, gates, tanh_cs, _shift_in_zeros(cs))
        _, _, d_zs = tf.scan(back, steps_in, initializer=(zeros, zeros, tf.zeros_like(gates[0])), reverse=True)
        flat_dz = tf.reshape(tf.cast(d_zs, dtype), (-1, 4 * units))
        h_prev = tf.reshape(tf.cast(_shift_in_zeros(hs), dtype), (-1, units))
        d_recurrent = tf.matmul(h_prev, flat_dz, transpose_a=True)
        d_kernel = tf.matmul(tf.reshape(time_major, (-1, time_major.shape[-1])), flat_dz, transpose_a=True)
        d_bias = tf.cast(tf.reduce_sum(d_zs, axis=(0, 1)), dtype)
        d_inputs = tf.transpose(tf.matmul(tf.cast(d_zs, dtype), kernel, transpose_b=True), (1, 0, 2))
        return d_inputs, d_kernel, d_recurrent, d_bias

    return tf.transpose(tf.cast(hs, dtype), (1, 0, 2)), grad


@keras.saving.register_keras_serializable(package="bard")
class F32GateLSTM(keras.layers.Layer):
    """An LSTM layer with Keras's equations, initialisers and weights (kernel, recurrent_kernel, bias; gates i, f,
    c, o) that fits faster on a CPU (see the module's docstring). Returns every time step's output, from a zero
    state; no masking.

    weight_drop is AWD-LSTM's DropConnect of the recurrent kernel, in training only: each batch drops that
    fraction of its entries (one mask for every step and sequence of the batch, the rest scaled up to keep the
    expected product), which regularises the recurrence itself, where dropout between layers cannot reach, at
    the cost of one elementwise product a batch."""

    def __init__(self, units: int, weight_drop: float = 0.0, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= weight_drop < 1:
            raise ValueError(f"weight_drop must be in [0, 1), not {weight_drop!r}")
        self.units = units
        self.weight_drop = weight_drop
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if weight_drop else None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        gates = 4 * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], gates), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, gates), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(gates,), initializer=_lstm_bias, name="bias")

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        recurrent_kernel = self.recurrent_kernel
        if training and self.weight_drop:
            # Outside lstm_sequence, so autodiff carries its gradient through the mask to the variable.
            recurrent_kernel = keras.random.dropout(recurrent_kernel, self.weight_drop, seed=self.seed_generator)
        dtype = self.compute_dtype  # the weights are read once per sequence, cast to it
        weights = (tf.cast(w, dtype) for w in (self.kernel, recurrent_kernel, self.bias))
        return lstm_sequence(tf.cast(inputs, dtype), *weights)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "weight_drop": self.weight_drop, "seed": self.seed}
