"""What the bard says: the layout and wording of every reply. Pure functions, no I/O.

Every reply fits in one Discord message and every piece of user or model text is escaped (bot/markdown.py),
so nothing a user types (or the model writes) can break the layout or reach someone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.limits import MAX_LENGTH, MAX_SEED_CHARS, MESSAGE_LIMIT
from bot.markdown import escape_markdown, fit, fit_lines
from model_store.limits import MAX_TEMPERATURE
from model_store.playscript import SPEAKER_LINE

if TYPE_CHECKING:
    from bot.scene import Said
    from bot.service import ReloadReport


@dataclass(frozen=True)
class Reply:
    text: str
    ok: bool = True  # False for refusals and errors (sent ephemeral to a slash command)
    said: Said | None = None  # a monologue: what its buttons need (bot/scene.py)


# --------------------------------------------------------------------------- monologues


def split_speaker(full: str) -> tuple[str | None, str]:
    """(speaker, verse) when free text opens with a play-script speaker line ("HAMLET:"), else (None, text)."""
    body = full.lstrip("\n")
    first, newline, rest = body.partition("\n")
    if newline and SPEAKER_LINE.fullmatch(first.strip()):
        return first.strip()[:-1], rest
    return None, full


def _ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("'\")]").endswith((".", "!", "?"))


def format_monologue(
    seed: str,
    text: str,
    *,
    seed_changes: tuple[str, ...] = (),
    stop_reason: str = "",
    speaker: str | None = None,
    note: str = "",
    sonnet: bool = False,
    limit: int = MESSAGE_LIMIT,
) -> str:
    """The reply for a generation: who speaks, then the speech (seed + continuation) in a block quote.

    A monologue names its speaker; free text from an empty seed shows the speaker line it opened with, if any; a
    sonnet is no speech: it says so instead. A note (e.g. whose message the seed came from) goes in small print
    under the header.
    """
    from bot.scene import SONNET_HEADER  # scene reads the replies this writes

    verse = seed + text
    if speaker is None and not seed.strip() and not sonnet:
        # Free text from nothing opens with its speaker line; after a seed, a line ending in a colon is the seed's.
        speaker, verse = split_speaker(text)
    if sonnet:
        header = SONNET_HEADER
    elif speaker is not None:
        header = f"**{escape_markdown(speaker, inline=True)}**"
    else:
        header = "*The bard continues:*" if seed.strip() else "*The bard begins:*"
    lines = [header]
    if note:
        lines.append("-# " + escape_markdown(note if len(note) <= 200 else note[:199] + "…", inline=True))
    if seed_changes:
        notes = "; ".join(seed_changes)
        lines.append(
            "-# seed adjusted: " + escape_markdown(notes if len(notes) <= 200 else notes[:199] + "…", inline=True)
        )
    head = "\n".join(lines) + "\n>>> "  # '>>> ' quotes everything after it, blank lines included
    verse = verse.strip()
    if not verse:
        return head + "…"
    # An ellipsis says the text stopped short: not where a cut at the length limit fell on a sentence's end.
    unfinished = stop_reason == "length" and not _ends_sentence(verse)
    return head + (fit(verse, limit - len(head), unfinished=unfinished) or "…")


def format_continuation(text: str, *, speaker: str | None, stop_reason: str = "", limit: int = MESSAGE_LIMIT) -> str:
    """The reply for Continue: the same speaker goes on (only the new text; the message before holds the rest)."""
    name = f"**{escape_markdown(speaker, inline=True)}**" if speaker is not None else "*The bard"
    head = (f"{name} *goes on:*" if speaker is not None else f"{name} goes on:*") + "\n>>> "
    verse = text.strip()
    if not verse:
        return head + "…"
    unfinished = stop_reason == "length" and not _ends_sentence(verse)
    return head + (fit(verse, limit - len(head), unfinished=unfinished) or "…")


# --------------------------------------------------------------------------- other replies


def format_speakers(found: list[tuple[str, int]], total: int, contains: str) -> str:
    """`!bard speakers [filter]`: the speakers the model knows best, with their numbers of speeches."""
    if total == 0:
        return "This model was exported without its speakers, so it writes free text (see docs/generating.md)."
    what = f" matching “{escape_markdown(contains, inline=True)}”" if contains else ""
    if not found:
        return f"No speaker{what} among the model's {total:,}."
    names = " · ".join(f"{escape_markdown(name, inline=True)} ({n:,})" for name, n in found)
    return fit_lines([f"**Speakers{what}**, by speeches (of {total:,}; name one: `Hamlet: To be`):", names])


def unknown_model(name: str, names: list[str]) -> str:
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"no model named “{escape_markdown(name, inline=True)}” (models: {escape_markdown(shown, inline=True)})"


def validation_text(validation: Mapping[str, Any] | None, *, names: bool) -> str:
    """What a validation loss was measured on: "the last 10% of 38 texts (499,837 characters)", naming one text (or
    with names, the first three) so that losses measured on different texts are not compared unawares."""
    if not validation:
        return ""
    texts = [str(t).replace("\\", "/").rsplit("/", 1)[-1] for t in validation.get("texts", [])]
    chars, fraction = validation.get("chars"), validation.get("fraction")
    size = f"{chars:,} characters" if isinstance(chars, int) else "characters unknown"
    part = f"the last {fraction:.0%} of " if isinstance(fraction, int | float) else ""
    if len(texts) == 1:
        return f"{part}{texts[0]} ({size})"
    listed = f": {', '.join(texts[:3])}" + (f" and {len(texts) - 3} more" if len(texts) > 3 else "") if names else ""
    return f"{part}{len(texts)} texts ({size}{listed})"


def origin_text(card: Mapping[str, Any]) -> str:
    """ "fine-tuned from shakespeare, 7.5 minutes", "trained from scratch, 121 minutes", or what of it is known."""
    if card.get("base"):
        origin = f"fine-tuned from {card['base']}"
    else:
        origin = "trained from scratch" if card.get("from_scratch") else ""
    minutes = card.get("train_minutes")
    spent = f"{minutes:g} minutes" if isinstance(minutes, int | float) else ""
    return ", ".join(f for f in (origin, spent) if f)


def format_models(cards: list[tuple[str, Mapping[str, Any]]], default: str) -> str:
    """`!bard models`: each model by name (the one `-m` takes), with a line from its card: its validation loss and
    what that was measured on, its base and its training minutes (the corpus where the texts are not known)."""

    def line(name: str, card: Mapping[str, Any]) -> str:
        loss, measured = card.get("val_loss"), validation_text(card.get("validation"), names=False)
        facts = [
            f"validation loss {loss:.3f}" + (f" on {measured}" if measured else "")
            if isinstance(loss, int | float)
            else "",
            origin_text(card),
            "" if measured else str(card.get("corpus", "")),
        ]
        summary = " · ".join(f for f in facts if f)
        summary = summary if len(summary) <= 150 else summary[:149] + "…"
        mark = " (default)" if name == default else ""
        return f"**{escape_markdown(name, inline=True)}**{mark}: {escape_markdown(summary, inline=True)}"

    head = f"**Models** ({len(cards)}; pick one with `-m NAME`, e.g. `-m {escape_markdown(default, inline=True)}`):"
    return fit_lines([head, *(line(name, card) for name, card in cards)])


def format_model_card(card: Mapping[str, Any], stats: Mapping[str, int] | None = None) -> str:
    """`!bard info`: the model card, then the serving counters."""

    def number(value: Any, spec: str) -> str:
        return format(value, spec) if isinstance(value, int | float) else "unknown"

    created = str(card.get("created") or "unknown")
    epochs = card.get("epochs")
    measured = validation_text(card.get("validation"), names=True)
    origin = origin_text(card)
    run = [f"{epochs} epochs"] if isinstance(epochs, int) else []
    run += [origin] if origin else []
    lines = [
        f"**{escape_markdown(str(card.get('name', 'unknown')), inline=True)}** · model card",
        f"Corpus: {escape_markdown(str(card.get('corpus', 'unknown')), inline=True)}",
        f"Size: {number(card.get('parameters'), ',')} parameters "
        f"({number(card.get('layers'), 'd')} LSTM layers × {number(card.get('units'), 'd')} units)",
        f"Loss: validation {number(card.get('val_loss'), '.3f')}"
        + (f" on {escape_markdown(measured, inline=True)}" if measured else "")
        + f", training {number(card.get('train_loss'), '.3f')} (cross-entropy per character)",
        f"Trained: {escape_markdown(created, inline=True)}"
        + (f" ({escape_markdown('; '.join(run), inline=True)})" if run else ""),
    ]
    if stats:
        lines.append("-# " + " · ".join(f"{k} {v}" for k, v in stats.items()))
    return fit_lines(lines)


def format_stats(stats: Mapping[str, Any], transport: Mapping[str, Any]) -> str:
    """`!bard stats`: request counters, generation-time percentiles, uptime, the model, and transport facts."""

    def ms(value: Any) -> str:
        return f"{value:,.0f} ms" if isinstance(value, int | float) else "–"

    s = stats
    now = [f"{s['pending']} pending"] + [f"{k} {v}" for k, v in transport.items()]
    return fit_lines(
        [
            f"**bard stats** · up {duration(s['uptime_s'])} · serving "
            f"**{escape_markdown(str(s['model']), inline=True)}**",
            f"Requests: {s['requests']:,} · answered {s['ok']:,} · errors {s['error']:,} · timed out {s['timeout']:,}"
            f" · busy {s['busy']:,} · cooldown {s['cooldown']:,} · bad options {s['bad_options']:,}",
            f"Generation time: p50 {ms(s['gen_p50_ms'])} · p95 {ms(s['gen_p95_ms'])} (last {s['window']:,})"
            f" · queue wait p95 {ms(s['queue_wait_p95_ms'])}",
            "Now: " + " · ".join(escape_markdown(part, inline=True) for part in now),
        ]
    )


def duration(seconds: float) -> str:
    """3 h 12 min, 5 min 3 s, 42 s: the two largest units."""
    s = int(seconds)
    units = [("d", s // 86400), ("h", s // 3600 % 24), ("min", s // 60 % 60), ("s", s % 60)]
    while len(units) > 1 and units[0][1] == 0:
        units.pop(0)
    return " ".join(f"{n} {unit}" for unit, n in units[:2])


def help_text(prefix: str, *, temperature: float, length: int) -> str:
    """`!bard help`: commands, options with their ranges and defaults, examples."""
    p = prefix.replace("`", "'")
    return fit_lines(
        [
            "**The bard** writes Shakespearean monologues in blank verse (iambic pentameter), one character at a time.",
            f"`{p}bard <seed>` continues your line as one speech, e.g. `{p}bard To be, or not to be`"
            f" (a seed of {MAX_SEED_CHARS} characters at most)",
            f"`{p}bard Hamlet: <seed>` has Hamlet speak it (any name: `{p}bard speakers ham` lists the known ones)",
            f"`{p}bard` starts a speech from nothing · `{p}bard info` the model card · `{p}bard help` this",
            f"`{p}bard models` the bards served here; `-m NAME` before the seed picks one",
            f"`{p}bard sonnet <seed>` a sonnet: 14 rhymed lines, the seed opening the first (`/bard form: sonnet`)",
            f"`{p}bard settings` this server's settings; `{p}bard set KEY VALUE` changes one (Manage Server)",
            f"Options go before the seed: `{p}bard -t 0.5 -n 300 To be`",
            f"`-t`, `--temperature` 0–{MAX_TEMPERATURE:g}, default {temperature:g}: "
            "0 picks the likeliest letter, higher is wilder",
            f"`-n`, `--length` 1–{MAX_LENGTH} characters to add, default {length}",
            "`-k`, `--top-k` sample only from the k likeliest letters (0 = off, the default)",
            "`-p`, `--top-p` sample from the likeliest letters that together make up p (0–1; 1 = off)",
            "`-r`, `--prose` a monologue in prose: lines of any length, no metre",
            "`-c`, `--no-couplet` a verse monologue that does not close on a rhyming couplet",
            "`-f`, `--free` free text: any speaker may follow, and the bard may invent words",
            "`--` ends the options, for a seed that starts with -",
            "The same as a slash command: `/bard write seed: -t 0.5 To be`",
        ]
    )


def bad_options(problem: str, prefix: str) -> Reply:
    return Reply(f"⚠️ {problem}. See `{prefix.replace('`', chr(39))}bard help`.", ok=False)


def cooldown(seconds: float) -> Reply:
    return Reply(f"⏳ Patience, good friend: you may ask again in {math.ceil(seconds)} s.", ok=False)


BUSY = Reply("🎭 The bard is busy with other verses; ask again in a moment.", ok=False)


def busy_for(seconds: float) -> Reply:
    """The bard has more verses ahead than it could answer in time: ask again in about `seconds`."""
    return Reply(f"🎭 The bard is busy with other verses; ask again in about {max(math.ceil(seconds), 1)} s.", ok=False)


FAILED = Reply("🥀 Alas, the bard stumbled over that one. Try again.", ok=False)
LEAVING = Reply("🚪 The bard is leaving the stage; try again shortly.", ok=False)
NOT_OWNER = Reply("🔒 Only the bard's owners may do that.", ok=False)
WRONG_CHANNEL = Reply("🔇 The bard does not perform in this channel.", ok=False)
NOT_A_MONOLOGUE = Reply("📜 The bard cannot read that message as one of its monologues.", ok=False)
NO_SPEAKER = Reply("📜 Free text has no speaker to answer: ask for a monologue (without `-f`).", ok=False)
TOO_OLD = Reply("🕰️ These buttons are too old; ask the bard anew.", ok=False)
COMPONENTS_OFF = Reply("🔕 The bard's buttons are switched off here; ask with the command instead.", ok=False)
SONNET_COMPLETE = Reply("📜 A sonnet is complete at fourteen lines: ask for Another instead.", ok=False)
NOTHING_TO_CONTINUE = Reply("📜 That message has no text for the bard to continue.", ok=False)


def no_monologue(prefix: str) -> Reply:
    """The console's `continue`, `another` or `answer` before any monologue: the command that makes one."""
    p = prefix.replace("`", "'")
    return Reply(f"📜 There is no monologue to go on from yet: ask for one first (`{p}bard To be`).", ok=False)


def model_gone(name: str) -> Reply:
    name = escape_markdown(name, inline=True)
    return Reply(f"🥀 The model “{name}” is no longer served here; ask the bard anew.", ok=False)


def same_speaker(name: str) -> Reply:
    return Reply(f"🎭 {escape_markdown(name, inline=True)} spoke last; pick someone else to answer.", ok=False)


def timed_out(seconds: float) -> Reply:
    return Reply(f"⌛ The muse took too long (over {seconds:g} s). Try a shorter `-n`.", ok=False)


def reloaded(name: str, val_loss: Any) -> Reply:
    loss = f"{val_loss:.3f}" if isinstance(val_loss, int | float) else "unknown"
    return Reply(f"🔁 Now serving **{escape_markdown(name, inline=True)}** (validation loss {loss}).")


def reloaded_folder(report: ReloadReport) -> Reply:
    """`!bard reload` of a models folder: what is served now, and what changed or failed."""

    def names(items: Sequence[str]) -> str:
        return escape_markdown(", ".join(items), inline=True)

    lines = [
        f"🔁 Now serving {len(report.serving)} model(s): {names(report.serving)} (default {names([report.default])})."
    ]
    for label, items in (("Added", report.added), ("Reloaded", report.replaced), ("Removed", report.removed)):
        if items:
            lines.append(f"{label}: {names(items)}.")
    for name, why in report.failed.items():
        short = why if len(why) <= 200 else why[:199] + "…"
        lines.append(f"⚠️ Refused {names([name])}: {escape_markdown(short, inline=True)}")
    return Reply(fit_lines(lines), ok=not report.failed)


def reload_refused(problem: str) -> Reply:
    short = problem if len(problem) <= 300 else problem[:299] + "…"
    return Reply(f"⚠️ The new model was refused; the old one stays. {escape_markdown(short, inline=True)}", ok=False)
