"""bard-train: fit the character LSTM on Shakespeare (or your own plays) and export it."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from pathlib import Path

from model_store import store
from training import recipe
from training.config import TrainConfig
from training.corpus import Corpus
from training.errors import TrainError
from training.importers import FORMATS
from training.run_dir import RunPaths, reopen_run
from training.tf_startup import import_tensorflow

EXAMPLES = """examples:
  bard-train --text pg4081.txt --text volpone.xml --preview --write-converted converted/
  bard-train --play othello --epochs 20 --out model_store/othello
  bard-train --group tragedies --max-minutes 60 --out model_store/tragedies
  bard-train --text my_plays/ --init-from model_store/shakespeare --out model_store/mine
  # about a million characters: the recipe measured there (batch 64, weight drop and decay, 40 epochs);
  # tinyshakespeare.txt is char-rnn's data/tinyshakespeare/input.txt (github.com/karpathy/char-rnn)
  bard-train --text tinyshakespeare.txt --val-fraction 0.1 --max-minutes 60 --out model_store/tiny
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bard-train", description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _corpus_options(p)
    _output_options(p)
    _hyperparameters(p)
    return p


def _corpus_options(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("corpus (default: all bundled plays, unless --text is given)")
    src.add_argument(
        "--play", action="append", default=[], metavar="NAME", help="a bundled play, e.g. othello (repeatable)"
    )
    src.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="GROUP",
        help="a group of bundled plays: comedies, histories, problems, roman, romances, tragedies",
    )
    src.add_argument("--all-plays", action="store_true", help="every bundled play")
    src.add_argument(
        "--text",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a play of your own (play script, Project Gutenberg text, TEI XML, Markdown) or a folder of them "
        "(repeatable)",
    )
    src.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="the format of the --text files: auto (chosen by content, the default), script, gutenberg, tei, markdown",
    )
    src.add_argument(
        "--preview",
        action="store_true",
        help="convert the --text files and report what each became (speeches, speakers, what was dropped); no training",
    )
    src.add_argument(
        "--write-converted", type=Path, metavar="DIR", help="also save each --text file's play-script text in DIR"
    )
    src.add_argument("--list-plays", action="store_true", help="list the bundled plays and exit")


def _output_options(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        type=Path,
        help="export directory, e.g. model_store/othello (required to train or export; not with --preview or "
        "--list-plays)",
    )
    out.add_argument("--run-dir", type=Path, help="checkpoints, logs and TensorBoard runs (default runs/<out name>)")
    out.add_argument("--force", action="store_true", help="replace an existing export or run directory")
    out.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    out.add_argument(
        "--export-only",
        action="store_true",
        help="export the best checkpoint of --run-dir without fitting (give the run's corpus options again)",
    )
    out.add_argument("--init-from", type=Path, metavar="MODEL_DIR", help="fine-tune this exported model")
    out.add_argument(
        "--weights-only",
        action="store_true",
        help="export weights.npz without model.keras: half the size (serving and --init-from need only the arrays)",
    )
    out.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    out.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multi-worker"),
        default="default",
        help="tf.distribute strategy: one device, all local GPUs, or a TF_CONFIG cluster",
    )


def _hyperparameters(p: argparse.ArgumentParser) -> None:
    hp = p.add_argument_group(
        "hyperparameters",
        "Where not given, the size, batch, regularisation, epochs and patience follow the corpus's size: the bundled "
        "plays' recipe at 4.5M training characters or more, tiny-shakespeare's measured one at 1.0M or fewer "
        "(training/recipe.py; the run's first line says what it chose).",
    )
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        default = getattr(defaults, f.name)
        flag = f"--{f.name.replace('_', '-')}"
        doc = f"{f.metadata['help']} (default {default}){recipe.help_text(f.name)}"
        # None: not given, so the recipe decides (an explicit flag always wins)
        chosen = None if f.name in recipe.SMALL or f.name in recipe.SIZE else default
        if isinstance(default, bool):  # --jit-compile / --no-jit-compile
            hp.add_argument(flag, action=argparse.BooleanOptionalAction, default=chosen, help=doc)
        else:
            hp.add_argument(flag, type=type(default), default=chosen, help=doc)


def export_again(argv: list[str], run_dir: Path) -> str:
    """The command that exports the best checkpoint of run_dir: the same corpus and options, no fitting."""
    args = [a for a in argv if a not in ("--resume", "--export-only")]
    if not any(a == "--run-dir" or a.startswith("--run-dir=") for a in args):
        args += ["--run-dir", str(run_dir)]
    return shlex.join(["bard-train", *args, "--export-only"])


def preview(paths: list[Path], fmt: str, write_to: Path | None, init_from: Path | None) -> int:
    """Report what each file becomes; write the converted texts only when every file converts."""
    from model_store import DEFAULT_MODEL_DIR, store
    from training.corpus import CorpusError, files_of
    from training.importers import PlayImportError, convert
    from training.preview import report, write_converted

    if not paths:
        print("bard-train: error: --preview needs --text files to convert", file=sys.stderr)
        return 2
    try:
        files = files_of(paths)
    except CorpusError as exc:
        print(f"bard-train: error: {exc}", file=sys.stderr)
        return 2
    try:  # the vocabulary the report checks against: --init-from's, or the bundled model's when it is there
        vocab = store.load(init_from or DEFAULT_MODEL_DIR).vocab
    except store.ModelError as exc:
        if init_from is not None:
            print(f"bard-train: error: --init-from: {exc}", file=sys.stderr)
            return 2
        vocab = None
    converted, failed = [], 0
    for f in files:
        try:
            converted.append(convert(f, fmt))
        except PlayImportError as exc:
            print(f"bard-train: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(report(converted[-1], vocab), end="\n\n")
    if failed:
        print(f"bard-train: {failed} of {len(files)} files cannot be used; nothing was written", file=sys.stderr)
        return 2
    if write_to is not None:
        for path in write_converted(converted, write_to):
            print(f"wrote {path}")
    return 0


def refuse_before_tensorflow(args: argparse.Namespace, config: TrainConfig, corpus: Corpus) -> None:
    """The refusals that need no TensorFlow, made before it is imported (seconds): an existing --out, a run
    directory that holds a run (or none to resume). train() makes them again;
    on a cluster only there, where each worker's --out and run directory are its own."""
    if args.strategy == "multi-worker":
        return
    if args.out.exists() and not args.force:
        raise TrainError(f"output directory {args.out} already exists (use --force to replace it)")
    paths = RunPaths(run_dir_of(args))
    if args.resume or args.export_only:
        reopen_run(paths, config, corpus, "--export-only" if args.export_only else "--resume")
    elif paths.state.exists() and not args.force:
        raise TrainError(f"run directory {paths.root} already holds a run (use --resume, or --force to restart)")


def base_arch_of(init_from: Path | None) -> dict[str, int] | None:
    """The size of the model to fine-tune (which the run keeps), or None; an --init-from that is not a model is
    refused here, before TensorFlow."""
    if init_from is None:
        return None
    try:
        return store.load(init_from).arch
    except store.ModelError as exc:
        raise TrainError(f"--init-from: {exc}") from None


def run_dir_of(args: argparse.Namespace) -> Path:
    return args.run_dir or Path("runs") / args.out.name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    from training.corpus import CorpusError, Source, build_corpus, bundled_plays, convert_files, select_plays
    from training.preview import write_converted

    if args.preview:
        return preview(args.text, args.format, args.write_converted, args.init_from)
    try:
        if args.list_plays:
            print("\n".join(bundled_plays()))
            return 0
        if args.out is None:
            raise ValueError("--out is required (the export directory, e.g. model_store/othello)")
        if args.export_only and args.resume:
            raise ValueError("--export-only and --resume cannot be combined (--export-only does not fit)")
        given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
        TrainConfig(**given)  # an invalid value is refused before the corpus is read
        use_plays = args.all_plays or args.play or args.group or not args.text
        every_play = args.all_plays or not (args.play or args.group)
        sources = select_plays(args.play, args.group, every_play) if use_plays else []
        converted = convert_files(args.text, args.format)
        for c in converted:
            for warning in c.warnings:
                print(f"bard-train: warning: {warning}", file=sys.stderr)
        sources += [Source(str(c.path), c.text) for c in converted]
        corpus = build_corpus(sources, args.val_fraction)
        chosen = recipe.choose(given, len(corpus.train_text), base_arch_of(args.init_from))
        config = chosen.config
        refuse_before_tensorflow(args, config, corpus)
        if args.write_converted is not None:
            for path in write_converted(converted, args.write_converted):
                print(f"wrote {path}")
    except (CorpusError, ValueError, TrainError) as exc:
        print(f"bard-train: error: {exc}", file=sys.stderr)
        return 2

    if not (args.resume or args.export_only):  # those keep the run's own recipe
        print(chosen.line, flush=True)
    import_tensorflow()  # only once the request is valid; its start-up lines once
    from training.train import ExportWriteError, train

    run_dir = run_dir_of(args)
    # The manifest records the command that trained the model, also when the export is made by --export-only or
    # the run was resumed (a resumed run is the same run: the same command, interrupted).
    command = shlex.join(["bard-train", *(a for a in argv if a not in ("--export-only", "--resume"))])
    try:
        train(
            config,
            corpus,
            out=args.out,
            run_dir=run_dir,
            force=args.force,
            resume=args.resume,
            export_only=args.export_only,
            init_from=args.init_from,
            weights_only=args.weights_only,
            command=command,
            verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
            strategy=args.strategy,
        )
    except ExportWriteError as exc:
        print(f"bard-train: error: {exc}; export them again with: {export_again(argv, run_dir)}", file=sys.stderr)
        return 2
    except TrainError as exc:
        print(f"bard-train: error: {exc}", file=sys.stderr)
        return 130 if "interrupted" in str(exc) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
