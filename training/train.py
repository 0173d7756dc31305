"""Fitting and exporting: the steps of a run, in train() (the run directory and its state: training/run_dir.py; the
callbacks that write its files: training/callbacks.py; the processes it fits on, one or a cluster of machines with
--strategy multi-worker: training/cluster.py; the manifest: training/manifest.py)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from model_store import export, store
from model_store.lexicon import Lexicon
from model_store.lstm import LSTMNetwork
from model_store.metre import Metre
from model_store.names import NameRecord
from model_store.rhymes import Rhymes
from model_store.speakers import Speakers
from model_store.store import LoadedModel, ModelError
from model_store.topics import TopicRecord
from model_store.vocab import Vocab
from training import subject
from training.callbacks import (
    Checkpoints,
    EarlyStopping,
    EpochHistory,
    LearningRateSchedule,
    SampleText,
    StepCounter,
    TimeBudget,
)
from training.cluster import Workers
from training.config import TrainConfig
from training.corpus import Corpus
from training.data import make_dataset
from training.errors import TrainError
from training.hardware import bf16_supported, choose_precision
from training.manifest import CorpusFacts, FitSetup, Results, export_manifest, summary
from training.model import (
    architecture,
    build_architecture,
    build_model,
    compile_for_fit,
    from_numpy_weights,
    model_lstm_impl,
    model_precision,
    numpy_weights,
)
from training.run_dir import RunPaths, RunState, open_run
from training.speech_data import speech_data


class ExportWriteError(TrainError):
    """The export could not be written (a full disk, say); the run's checkpoints are intact."""

    def __init__(self, out: Path, run_dir: Path, reason: str) -> None:
        super().__init__(f"cannot write the export to {out}: {reason}; the run's checkpoints are kept in {run_dir}")
        self.run_dir = run_dir


def load_init_from(init_from: Path | None) -> LoadedModel | None:
    """The exported model to fine-tune, verified, or None."""
    if init_from is None:
        return None
    try:
        return store.load(init_from)
    except ModelError as exc:
        raise TrainError(f"--init-from: {exc}") from None


def choose_vocabulary(corpus: Corpus, base: LoadedModel | None) -> Vocab:
    """The training text's characters, or, when fine-tuning, the base model's (saying what it lacks)."""
    if base is None:
        return Vocab.from_text(corpus.train_text)
    text = corpus.train_text + corpus.val_text
    unknown = base.vocab.count_unknown(text)
    if unknown:
        missing = sorted(set(c for c in text if c not in base.vocab))
        print(
            f"fine-tuning: {unknown} characters of the corpus ({len(missing)} distinct: "
            f"{''.join(missing)[:40]!r}) are not in the model's vocabulary and map to the unknown id"
        )
    return base.vocab


def encode_corpus(corpus: Corpus, vocab: Vocab, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation text as ids; each must hold at least one sequence."""
    train_ids, val_ids = vocab.encode(corpus.train_text), vocab.encode(corpus.val_text)
    for label, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < seq_len + 1:
            raise TrainError(
                f"the {label} text has {len(ids)} characters, fewer than one sequence "
                f"(--seq-len {seq_len} + 1); add text or lower --seq-len"
            )
    return train_ids, val_ids


def make_datasets(
    train_ids: np.ndarray, val_ids: np.ndarray, config: TrainConfig, epochs_done: int
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Shuffled training batches (a resumed run does not replay the first epoch's order) and validation batches.

    Batches are global: on a cluster every worker makes the same ones (the same text and seed) and trains on its
    share of each (DATA sharding; the AUTO policy's first choice, FILE, does not apply to arrays in memory, and OFF
    would train every worker on every sequence)."""
    epoch_seed = config.seed + epochs_done
    train_ds = make_dataset(train_ids, config.seq_len, config.batch_size, shuffle=True, seed=epoch_seed)
    val_ds = make_dataset(val_ids, config.seq_len, config.batch_size, shuffle=False, seed=config.seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return train_ds.with_options(options), val_ds.with_options(options)


def training_precision(config: TrainConfig) -> str:
    """The dtype policy this machine trains with: config.precision, with auto decided by the hardware."""
    gpus = len(tf.config.list_physical_devices("GPU"))
    return choose_precision(config.precision, cpu_bf16=bf16_supported(), gpus=gpus)


def new_model(config: TrainConfig, vocab: Vocab, base: LoadedModel | None) -> keras.Model:
    """A compiled model to fit: freshly initialised, or built from the arrays of the export being fine-tuned
    (its architecture, this run's dropout and precision)."""
    precision = training_precision(config)
    if base is not None:
        model = from_numpy_weights(
            base.weights,
            base.arch,
            **config.regularisers(),
            precision=precision,
            lstm_impl=config.lstm_impl,
        )
    else:
        model = build_model(
            vocab.size,
            embedding_dim=config.embedding_dim,
            layers=config.layers,
            units=config.units,
            **config.regularisers(),
            precision=precision,
            lstm_impl=config.lstm_impl,
        )
    compile_for_fit(model, config)
    return model


def first_model(
    config: TrainConfig, state: RunState, continuing: bool, paths: RunPaths, vocab: Vocab, base: LoadedModel | None
) -> keras.Model:
    """The model the run starts from, seeded by its epoch: its last checkpoint (compiled as the run started it), or
    a new one."""
    keras.utils.set_random_seed(config.seed + state.epoch)
    return keras.saving.load_model(paths.last, safe_mode=True) if continuing else new_model(config, vocab, base)


def fit_setup(
    config: TrainConfig,
    model: keras.Model,
    workers: Workers,
    *,
    strategy: str,
    init_from: Path | None,
    base: LoadedModel | None,
    command: str,
) -> FitSetup:
    """How the run's model is set up and fitted, read from the model it starts from (and the model fine-tuned)."""
    return FitSetup(
        config=config,
        arch=architecture(model),
        precision=model_precision(model),
        lstm_impl=model_lstm_impl(model),
        strategy=strategy,
        replicas=workers.replicas,
        workers=workers.count,
        init_from=init_from,
        command=command,
        base_name=base.manifest.get("name", base.path.name) if base is not None else None,
    )


def opening_line(
    *, export_only: bool, continuing: bool, leads: bool, paths: RunPaths, state: RunState, base: LoadedModel | None
) -> str | None:
    """What the run does, when it does more than fit a new model: export, resume or fine-tune."""
    if export_only:
        return f"exporting the best checkpoint of {paths.root} (epoch {state.best_epoch})"
    if continuing:
        run = paths.root if leads else "worker 0's run"
        return f"resuming {run} after epoch {state.epoch} (best val loss {state.best_val_loss:.4f})"
    if base is not None:
        return f"fine-tuning {base.path} ({base.manifest.get('parameter_count')} parameters)"
    return None


def describe(setup: FitSetup, facts: CorpusFacts, vocab: Vocab, model: keras.Model, steps: int, place: str) -> str:
    """The run in a few lines: corpus, network, regularisation, batches, devices and precision."""
    c, arch = setup.config, setup.arch
    return (
        f"corpus: {facts.corpus.description}\n"
        f"  {facts.train_chars:,} training and {facts.val_chars:,} validation characters, vocabulary {vocab.size}\n"
        f"model: {arch['layers']}x{arch['units']} LSTM, {model.count_params():,} parameters, "
        f"dropout {c.dropout:g}"
        f"{f', embedding dropout {c.embedding_dropout:g}' if c.embedding_dropout else ''}"
        f"{f', weight drop {c.weight_drop:g}' if c.weight_drop else ''}"
        f"{f', weight decay {c.weight_decay:g}' if c.weight_decay else ''}; "
        f"{steps} steps of {c.batch_size}x{c.seq_len} per epoch; "
        f"strategy {setup.strategy} ({setup.replicas} replicas{place}); precision {setup.precision}, "
        f"LSTM {setup.lstm_impl}"
        f"{', XLA' if c.jit_compile else ''}"
    )


def fit_model(
    model: keras.Model,
    datasets: tuple[tf.data.Dataset, tf.data.Dataset],
    *,
    config: TrainConfig,
    paths: RunPaths,
    state: RunState,
    vocab: Vocab,
    resumed: bool,
    verbose: int,
    workers: Workers,
) -> None:
    """Fit until the epoch limit, early stopping or the time budget; every epoch leaves a checkpoint to resume."""
    spent = config.max_minutes > 0 and state.train_seconds >= config.max_minutes * 60
    if spent:
        print(f"the run's time budget of {config.max_minutes:g} minutes is spent (a larger --max-minutes extends it)")
    if state.epoch >= config.epoch_limit() or state.wait >= config.patience or spent:
        return
    train_ds, val_ds = datasets
    clock = workers.fit_clock(state.train_seconds, config.max_minutes)
    schedule = LearningRateSchedule(config, state, config.epoch_limit() * int(train_ds.cardinality()), clock)
    budget = TimeBudget(config.max_minutes, clock)
    callbacks: list[keras.callbacks.Callback] = [
        schedule,
        StepCounter(state),
        budget,
        EpochHistory(state, schedule, clock),
        EarlyStopping(state, config.patience),
        Checkpoints(paths, state, clock),
        keras.callbacks.CSVLogger(str(paths.csv), append=resumed),
        keras.callbacks.TensorBoard(log_dir=str(paths.tensorboard), write_graph=False),
    ]
    if config.sample_chars:
        callbacks.append(SampleText(vocab, architecture(model), config.sample_chars, config.seed))
    try:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epoch_limit(),
            initial_epoch=state.epoch,
            callbacks=workers.fit_callbacks(callbacks, clock),
            verbose=verbose,
            shuffle=False,
        )
    except KeyboardInterrupt:
        raise TrainError(f"interrupted; continue with {workers.how_to_continue(state.epoch, paths)}") from None
    if budget.reached:
        print(f"time budget of {config.max_minutes:g} minutes reached")
    workers.fitted(int(train_ds.cardinality()), config.batch_size)


def best_model(paths: RunPaths, arch: dict[str, int], dropout: float, lstm_impl: str, workers: Workers) -> keras.Model:
    """A fresh model (no optimizer state, Keras's own LSTM layers) holding the run's best weights, compiled to
    evaluate, in the strategy's scope; on a cluster, the chief's, on every worker. lstm_impl is the layer the run
    fitted, whose checkpoint holds them."""
    with workers.distribution.scope():
        with workers.together():
            if workers.leads and not paths.best.exists():
                raise TrainError("no epoch finished, so there is nothing to export")
        model = build_architecture(arch, dropout=dropout, lstm_impl=lstm_impl)
        if workers.leads:
            model.load_weights(str(paths.best))
        workers.take_chief_weights(model)
        if lstm_impl != "keras":
            model = from_numpy_weights(numpy_weights(model), arch, dropout=dropout)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return workers.ready(model)


def stream_loss(model: keras.Model, vocab: Vocab, arch: dict[str, int], val_ids: np.ndarray) -> float:
    """The validation text's loss read as the engine reads it: by the exported arrays, state carried throughout."""
    network = LSTMNetwork(store.in_memory(numpy_weights(model), vocab, arch, name="validation"))
    return network.stream_loss(val_ids, streams=min(8, len(val_ids) - 1))


def export_model(
    out: Path,
    model: keras.Model,
    vocab: Vocab,
    manifest: dict[str, Any],
    *,
    speech: tuple[Lexicon, Speakers, Metre, NameRecord | None, Rhymes, TopicRecord | None],
    force: bool,
    paths: RunPaths,
    weights_only: bool = False,
) -> Path:
    """Write the export through model_store, with the lexicon, speakers, metre, name record, rhymes and topic record
    monologues need; a failed write (a full disk) leaves any old export as it was. weights_only leaves out
    model.keras."""
    lexicon, speakers, metre, names, rhymes, topics = speech
    try:
        return export.write(
            out,
            keras_model=None if weights_only else model,
            weights=numpy_weights(model),
            vocab=vocab,
            manifest=manifest,
            lexicon=lexicon,
            speakers=speakers,
            metre=metre,
            names=names,
            rhymes=rhymes,
            topics=topics,
            force=force,
        )
    except ModelError as exc:
        raise TrainError(str(exc)) from None
    except OSError as exc:
        raise ExportWriteError(out, paths.root, exc.strerror or str(exc)) from None


def train(
    config: TrainConfig,
    corpus: Corpus,
    *,
    out: Path,
    run_dir: Path,
    force: bool = False,
    resume: bool = False,
    export_only: bool = False,
    init_from: Path | None = None,
    weights_only: bool = False,
    command: str = "bard-train",
    verbose: int = 2,
    strategy: str = "default",
) -> Path:
    """Fit a model on the corpus and export its best weights to `out`. Returns the export path.

    resume continues the run in run_dir from its last checkpoint; export_only exports that run's best
    checkpoint without fitting (after an export that failed, say). On a cluster (--strategy multi-worker) only
    the chief writes run_dir and out; the other workers write to a scratch directory, removed when they stop, and
    a failure of the cluster (a worker lost) is a TrainError.
    """
    workers = Workers.join("default" if export_only else strategy)  # exporting a checkpoint is one process's work
    with workers.files(Path(out), RunPaths(Path(run_dir)), force) as (out, paths, force):
        continuing, state = resume or export_only, None
        with workers.together():  # on a cluster, one worker's problem here stops them all
            if out.exists() and not force:
                raise TrainError(f"output directory {out} already exists (use --force to replace it)")
            base = load_init_from(init_from)
            vocab = choose_vocabulary(corpus, base)
            train_ids, val_ids = encode_corpus(corpus, vocab, config.seq_len)
            if workers.leads:  # on a cluster, worker 0 decides the run and the others follow
                config, state = open_run(paths, config, corpus, resume=resume, export_only=export_only, force=force)
        make = functools.partial(first_model, config, state, continuing, paths, vocab, base)
        config, state, continuing, model = workers.start_model(
            make, config, state, continuing, corpus=corpus, vocab=vocab, paths=paths
        )
        # A resumed run keeps the layer it started with, even one older than --lstm-impl.
        config = dataclasses.replace(config, lstm_impl=model_lstm_impl(model))
        datasets = make_datasets(train_ids, val_ids, config, state.epoch)
        facts = CorpusFacts(corpus, len(train_ids), len(val_ids))
        setup = fit_setup(config, model, workers, strategy=strategy, init_from=init_from, base=base, command=command)
        opening = opening_line(
            export_only=export_only, continuing=continuing, leads=workers.leads, paths=paths, state=state, base=base
        )
        if opening:
            print(opening)
        print(describe(setup, facts, vocab, model, int(datasets[0].cardinality()), workers.place), flush=True)

        with workers.fit_scope():
            if not export_only:
                fit_model(
                    model,
                    datasets,
                    config=config,
                    paths=paths,
                    state=state,
                    vocab=vocab,
                    resumed=resume,
                    verbose=verbose,
                    workers=workers,
                )
            final = best_model(paths, setup.arch, config.dropout, config.lstm_impl, workers)
            val_loss = float(final.evaluate(datasets[1], verbose=0))
        results = Results(state, val_loss, stream_loss(final, vocab, setup.arch, val_ids), int(final.count_params()))
        manifest = export_manifest(out.name, facts, setup, results)
        # A fine-tuned model's speech data extends its base's.
        speech = speech_data(corpus.train_text, base, corpus.sources, config.val_fraction)
        export_model(out, final, vocab, manifest, speech=speech, force=force, paths=paths, weights_only=weights_only)
        print(workers.finished(out, val_loss, results.val_stream_loss, state.best_epoch))
        if workers.leads:
            if config.subject_minutes and len(train_ids) >= subject.MIN_TRAIN_CHARS:
                fitted = subject.add_to_export(out, corpus.train_text, corpus.val_text, config.subject_minutes, base)
                print(fitted, flush=True)
            print(summary(manifest))
        return out
