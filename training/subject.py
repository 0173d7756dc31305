"""Train an export's subject adapter (model_store/subject.py) on top of its network, and add it to the export.

    python -m training.subject model_store/shakespeare --minutes 30

The network's weights stay frozen; only the adapter learns: each training window of the model's own training text
is given the bag of content words of the passage it ends in (a speech, or PIECE content words of a long one), a
fraction of them dropped at random so that a few words must do, and learns what that subject does to the next
character. An empty bag adds nothing. The result is measured on the held-out text: the loss given each passage's
own bag against the network alone (whose loss it is with an empty bag).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

import numpy as np

from model_store import export, store
from model_store.playscript import is_heading, is_speaker_line, is_stage_direction
from model_store.store import ModelError
from model_store.subject import SubjectAdapter
from model_store.topics import PIECE, TopicRecord, content_matches
from training.corpus import CorpusError, build_corpus
from training.speech_data import sources_of

DIM = 32  # a subject vector's size
RANK = 64  # the subject head's: how many ways a subject and the network's state meet
MAX_BAG = 64  # content words given per window (a passage's distinct ones; more are sampled)
WORD_DROPOUT = 0.3  # of a training bag's words, dropped at random each time it is seen
LEARNING_RATE = 3e-3
BATCH_SIZE = 128
SEQ_LEN = 128
PASSES = 8  # over the training windows, at most (a time budget may end it sooner); the best held-out kept
MIN_TRAIN_CHARS = 50_000  # bard-train fits an adapter on this much training text or more (a play is 100,000 or so)
CHUNK_STEPS = 50  # steps between looks at the clock and the validation loss
VAL_WINDOWS = 512  # validation windows looked at while fitting (the final figures use them all)
SEED = 1337


# --------------------------------------------------------------------------- data


def passages(text: str, words: TopicRecord | SubjectAdapter) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Every passage of a play-script text, as (start offsets, end offsets, bags): a passage is a speech's body (its
    speaker line, stage directions and headings left out), or PIECE content words of a long one; its bag is the ids
    (index + 1 in `words`) of its distinct content words."""
    index = {w: i + 1 for i, w in enumerate(words.words)}
    starts, ends, bags = [], [], []
    for block in re.finditer(r"[^\n](?:.|\n(?![ \t]*\n))*", text):
        offset, found = block.start(), []
        for line in re.finditer(r"[^\n]+", block.group()):
            if is_speaker_line(line.group()) or is_stage_direction(line.group()) or is_heading(line.group()):
                continue
            for at, word in content_matches(line.group()):
                if word in index:
                    found.append((offset + line.start() + at, index[word]))
        for i in range(0, len(found), PIECE):
            piece = found[i : i + PIECE]
            starts.append(block.start() if i == 0 else piece[0][0])
            ends.append(block.end() if i + PIECE >= len(found) else found[i + PIECE][0])
            bags.append(np.unique([w for _, w in piece]))
    return np.array(starts, np.int64), np.array(ends, np.int64), bags


def window_bags(
    length: int, spans: tuple[np.ndarray, np.ndarray, list[np.ndarray]], rng: np.random.Generator
) -> np.ndarray:
    """(windows, MAX_BAG) bags, zero-padded, of data.windows's non-overlapping windows of a text of `length`
    characters: each window's is the passage holding its last character (none: an empty bag)."""
    starts, ends, bags = spans
    n = (length - 1) // SEQ_LEN
    out = np.zeros((n, MAX_BAG), np.int32)
    last = np.arange(1, n + 1) * SEQ_LEN - 1
    at = np.searchsorted(starts, last, side="right") - 1
    for row, (p, pos) in enumerate(zip(at.tolist(), last.tolist(), strict=True)):
        if p >= 0 and pos < ends[p]:
            bag = bags[p] if len(bags[p]) <= MAX_BAG else rng.choice(bags[p], MAX_BAG, replace=False)
            out[row, : len(bag)] = bag
    return out


def windows_with_bags(
    loaded: store.LoadedModel, text: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, bags, targets) of a text's non-overlapping windows (training/data.py), each with its bag."""
    from training.data import windows

    assert loaded.topics is not None
    ids = loaded.vocab.encode(text)
    x, y = windows(ids, SEQ_LEN)
    return x, window_bags(len(ids), passages(text, loaded.topics), rng), y


# --------------------------------------------------------------------------- the network with its adapter


def build(weights: dict[str, np.ndarray], arch: dict[str, int], words: int, precision: str):
    """The exported network, frozen, with a trainable adapter: inputs (chars, bag), logits out."""
    import keras

    from training.lstm_layer import F32GateLSTM

    class BagMean(keras.layers.Layer):
        """The mean of a bag's word vectors (id 0 is padding); zero for an empty bag."""

        def build(self, input_shape: tuple) -> None:
            init = keras.initializers.RandomNormal(stddev=0.1, seed=SEED)
            self.vectors = self.add_weight(shape=(words + 1, DIM), initializer=init, name="vectors")
            self.seed_generator = keras.random.SeedGenerator(SEED)

        def call(self, bag, training=None):
            present = keras.ops.cast(bag > 0, "float32")
            if training:
                draw = keras.random.uniform(keras.ops.shape(present), seed=self.seed_generator)
                present = present * keras.ops.cast(draw >= WORD_DROPOUT, "float32")
            summed = keras.ops.einsum("bw,bwd->bd", present, keras.ops.take(self.vectors, bag, axis=0))
            return summed / keras.ops.maximum(keras.ops.sum(present, axis=1, keepdims=True), 1.0)

    vocab, units = arch["vocab_size"], arch["units"]
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    bag = keras.Input(shape=(MAX_BAG,), dtype="int32", name="bag")
    subject = BagMean(name="subject")(bag)
    x = keras.layers.Embedding(vocab, arch["embedding_dim"], name="embedding", dtype=precision, trainable=False)(chars)
    for i in range(arch["layers"]):
        x = F32GateLSTM(units, name=f"lstm{i}", dtype=precision, trainable=False)(x)
    logits = keras.layers.Dense(vocab, name="logits", dtype="float32", trainable=False)(x)
    shift = keras.layers.Dense(vocab, use_bias=False, kernel_initializer="zeros", name="subject_logits")(subject)
    # The head: the top layer's output and the subject, each projected to RANK, their product to the logits.
    state_side = keras.layers.Dense(RANK, use_bias=False, name="head_in")(keras.ops.cast(x, "float32"))
    subject_side = keras.layers.Dense(RANK, use_bias=False, name="head_subject")(subject)
    met = keras.ops.multiply(state_side, keras.ops.expand_dims(subject_side, 1))
    head = keras.layers.Dense(vocab, use_bias=False, kernel_initializer="zeros", name="head_out")(met)
    model = keras.Model([chars, bag], logits + keras.ops.expand_dims(shift, 1) + head, name="bard_subject")
    model.get_layer("embedding").set_weights([weights[store.EMBEDDING]])
    for i in range(arch["layers"]):
        model.get_layer(f"lstm{i}").set_weights([weights[n] for n in store.lstm_weight_names(i)])
    model.get_layer("logits").set_weights([weights[store.DENSE_KERNEL], weights[store.DENSE_BIAS]])
    return model


def adapter_of(model, words: tuple[str, ...], base: str) -> SubjectAdapter:
    def weights(name: str) -> np.ndarray:
        return np.asarray(model.get_layer(name).get_weights()[0], np.float32)

    heads = {name: weights(name) for name in ("head_in", "head_subject", "head_out")}
    return SubjectAdapter(words, weights("subject")[1:], weights("subject_logits"), **heads, base=base)


def carried_over(adapter: SubjectAdapter, words: tuple[str, ...], base: str) -> SubjectAdapter:
    """An adapter's vectors for another list of words (zero for a word it lacks), for a network of sha256 `base`."""
    vectors = np.zeros((len(words), adapter.vectors.shape[1]), np.float32)
    known = [(i, adapter.index[w]) for i, w in enumerate(words) if w in adapter.index]
    if known:
        mine, theirs = zip(*known, strict=True)
        vectors[list(mine)] = adapter.vectors[list(theirs)]
    return dataclasses.replace(adapter, words=words, vectors=vectors, base=base)


def set_adapter(model, adapter: SubjectAdapter) -> None:
    model.get_layer("subject").set_weights([np.concatenate([np.zeros((1, DIM), np.float32), adapter.vectors])])
    for name in ("subject_logits", "head_in", "head_subject", "head_out"):
        model.get_layer(name).set_weights([getattr(adapter, {"subject_logits": "logits"}.get(name, name))])


# --------------------------------------------------------------------------- fitting


def fit(
    loaded: store.LoadedModel,
    train_text: str,
    val_text: str,
    *,
    minutes: float,
    max_steps: int | None = None,
    start: SubjectAdapter | None = None,
    log=print,
) -> tuple[SubjectAdapter, dict[str, float]]:
    """Train the adapter of a loaded export (with its topic record) on the text it was trained on, for PASSES over
    it, `minutes` or max_steps, whichever ends first; start: an adapter to go on from (a fine-tune's base's: its
    words keep their vectors, new ones start at zero). Returns the adapter with its held-out losses."""
    from training.tf_startup import import_tensorflow

    assert loaded.topics is not None
    manifest = loaded.manifest
    import_tensorflow()
    import keras
    import tensorflow as tf

    from training.hardware import bf16_supported, choose_precision

    rng = np.random.default_rng(SEED)
    words = loaded.topics.words
    x, bags, y = windows_with_bags(loaded, train_text, rng)
    log(f"{len(x):,} training windows ({(bags > 0).any(axis=1).mean():.0%} with a subject), {len(words):,} words")
    precision = choose_precision("auto", cpu_bf16=bf16_supported(), gpus=0)
    model = build(loaded.weights, loaded.arch, len(words), precision)
    if start is not None:
        set_adapter(model, carried_over(start, words, base=""))
    batch = min(BATCH_SIZE, len(x))
    max_steps = min(max_steps or PASSES * len(x) // batch, PASSES * len(x) // batch)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    train = (
        tf.data.Dataset.from_tensor_slices(((x, bags), y))
        .shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(2)
    )
    vx, vbags, vy = windows_with_bags(loaded, val_text, rng)
    look = rng.choice(len(vx), min(VAL_WINDOWS, len(vx)), replace=False)
    base_sha = manifest["files"][store.WEIGHTS_FILE]
    started = time.monotonic()

    class Watch(keras.callbacks.Callback):
        """Every CHUNK_STEPS steps: the held-out loss (the best adapter kept) and the clock."""

        best: SubjectAdapter | None = None
        best_loss = float("inf")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            loss = float(model.evaluate((vx[look], vbags[look]), vy[look], batch_size=BATCH_SIZE, verbose=0))
            if loss < self.best_loss:
                self.best, self.best_loss = adapter_of(model, words, base_sha), loss
            steps, spent = (epoch + 1) * chunk, (time.monotonic() - started) / 60
            log(f"step {steps}: train {logs['loss']:.4f}, held-out {loss:.4f} ({spent:.1f} min)")
            model.stop_training = spent >= minutes or steps >= max_steps

    watch = Watch()
    chunk = min(CHUNK_STEPS, max_steps)
    history = model.fit(
        train, steps_per_epoch=chunk, epochs=-(-max_steps // chunk), verbose=0, callbacks=[watch], shuffle=False
    )
    assert watch.best is not None
    best = watch.best
    set_adapter(model, best)
    figures = {
        "with_subject": float(model.evaluate((vx, vbags), vy, batch_size=BATCH_SIZE, verbose=0)),
        "without": float(model.evaluate((vx, np.zeros_like(vbags)), vy, batch_size=BATCH_SIZE, verbose=0)),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "steps": len(history.history["loss"]) * chunk,
    }
    return best, figures


def add_to_export(out: Path, train_text: str, val_text: str, minutes: float, base: store.LoadedModel | None) -> str:
    """Fit an export's adapter on its training text (going on from a fine-tune's base's) and add it: bard-train's
    last step. Returns the line that reports it."""
    loaded = store.load(out)
    if loaded.topics is None:
        return f"{out}: no subject adapter: the export has no topic record"
    start = base.subject if base is not None else None
    adapter, figures = fit(loaded, train_text, val_text, minutes=minutes, start=start, log=lambda _: None)
    export.add_subject(out, adapter, figures)
    return report(out, adapter, figures)


def report(out: Path, adapter: SubjectAdapter, figures: dict[str, float]) -> str:
    return (
        f"{out}: subject adapter of {len(adapter.words):,} words, {figures['steps']} steps in {figures['minutes']}"
        f" min; validation loss {figures['with_subject']:.4f} nats/char given each passage's subject,"
        f" {figures['without']:.4f} without"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.subject", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="an exported model directory with its topic record")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to train (default 30)")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be positive (got {args.minutes:g})")
    try:
        loaded = store.load(args.model)  # refused in one line before TensorFlow starts
        if loaded.topics is None:
            raise ModelError("it has no topic record (add it first: python -m training.speech_data MODEL)")
        val_fraction = float(loaded.manifest["hyperparameters"]["val_fraction"])
        corpus = build_corpus(sources_of(loaded.manifest), val_fraction)
        if corpus.sha256 != loaded.manifest["corpus"].get("sha256"):
            raise CorpusError("its training text differs from the one the model was trained on (sha256)")
        adapter, figures = fit(loaded, corpus.train_text, corpus.val_text, minutes=args.minutes)
        export.add_subject(args.model, adapter, figures)
    except (ModelError, CorpusError, KeyError, OSError, ValueError) as exc:  # ValueError: a text shorter than a window
        print(f"subject: error: {args.model}: {exc}", file=sys.stderr)
        return 2
    print(report(args.model, adapter, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
