"""The bard's command handling, shared by the Discord cog and the console: a command in, a Reply out.

Everything a user can get wrong (options, cooldown, a busy queue, a timeout, a failing model)
becomes a short friendly Reply here, so every transport answers the same way and keeps serving.
A command's free text is read once, here (its options, then a seed that may name its speaker); from then on its
parts travel as fields (Request) to the service and the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from bot import replies, scene, server_commands
from bot.cooldown import Cooldowns
from bot.markdown import quote
from bot.metrics import BardMetrics
from bot.model_names import served_spelling
from bot.options import OptionError, Options, model_name, parse_options
from bot.replies import Reply
from bot.request import Caller, Request, showing
from bot.scene import Said, Session, Spoken
from bot.server_settings import ServerSettings, ServerSettingsStore, Where
from bot.service import Busy, GenerationService, GenerationTimeout, PendingGeneration, ServiceClosed, UnknownModel
from bot.settings import Settings
from bot.stats import Outcome, RequestStats
from model_store.card import model_card
from model_store.engine import Generation
from model_store.store import ModelError

log = logging.getLogger(__name__)

SPEAKERS_LISTED = 30  # `bard speakers` lists this many at most
ANSWERERS = 25  # Answer's menu offers this many speakers at most (Discord's limit on a select's options)
# Replies being sent at once: a burst of commands refused together would otherwise all send in one turn of the event
# loop and lag it (measured: 168 busy replies at once, 91-122 ms); the rest wait their turn, a few ms each.
REPLIES_AT_ONCE = 8
_FIRST_WORD = re.compile(r"\s*(\S+)")
CLEAN_NOT_FREE = "clean mode is on here, and free text (`-f`) cannot be kept clean: ask without `-f`"


class Bard:
    """Turns `bard` commands into replies, with per-user cooldown and in-flight tracking for shutdown. It borrows
    its service: whoever opened the service closes it."""

    def __init__(
        self,
        settings: Settings,
        service: GenerationService,
        *,
        servers: ServerSettingsStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics: BardMetrics | None = None,
    ):
        """metrics: where requests are counted for /metrics (the bot's; None: metrics of its own, on this service)."""
        self.settings = settings
        self.service = service
        self._clock = clock
        if metrics is None:
            metrics = BardMetrics()
            metrics.watch_service(service)
        self.metrics = metrics
        salt = settings.log_salt.get_secret_value().encode() if settings.log_salt else None
        self.requests = RequestStats(salt=salt, metrics=metrics)
        self.servers = servers  # each server's settings (None: the host's everywhere, nothing can be changed)
        if servers is not None:
            servers.describe_user = self.requests.user_hash  # a change's log names its maker as the logs do
        self.defaults = servers.defaults if servers is not None else ServerSettings.of(settings)
        self.cooldowns = Cooldowns()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.accepting = True
        self.sending = asyncio.Semaphore(REPLIES_AT_ONCE)  # a transport sends each reply inside it

    # ------------------------------------------------------------------ commands

    async def write(
        self,
        caller: Caller,
        text: str,
        *,
        model: str | None = None,
        speaker: str | None = None,
        sonnet: bool = False,
    ) -> Reply:
        """`bard [options] <seed>`: a monologue, or a one-line reason why not; each request is logged and counted.

        model and speaker: the slash command's options (the text's own `-m` has the last word; without a speaker,
        `Name:` may open the seed). sonnet: `bard sonnet [options] <seed>` (or the slash command's form), a sonnet
        whose first line the seed opens, no speaker's."""
        if not self.accepting:
            self.requests.record(caller.author_id, "closed")
            return replies.LEAVING
        try:
            options = self._options(text, self.server(caller))
            if model and options.model is None:
                options = replace(options, model=model_name("-m", model.strip()))
        except OptionError as exc:
            self.requests.record(caller.author_id, "bad_options")
            return replies.bad_options(str(exc), caller.prefix)
        if sonnet:
            return await self._perform(caller, Request(replace(options, sonnet=True)))
        return await self._write(caller, options, speaker)

    async def write_message(self, caller: Caller, text: str, *, note: str) -> Reply:
        """The context menu: a message's text continued, all of it seed (it may open with `Name:`), with a note."""
        if not self.accepting:
            self.requests.record(caller.author_id, "closed")
            return replies.LEAVING
        s = self.server(caller)
        return await self._write(
            caller, Options(seed=text.strip(), temperature=s.temperature, length=s.length), None, note
        )

    async def _write(self, caller: Caller, options: Options, speaker: str | None, note: str = "") -> Reply:
        """The speaker named (checked), or read from the start of a monologue's seed, once; then the generation."""
        if speaker is not None and speaker.strip():
            name = scene.speaker_name(speaker)
            if name is None:
                self.requests.record(caller.author_id, "bad_options")
                return replies.bad_options(f"{quote(speaker)} is not a speaker's name", caller.prefix)
            return await self._perform(caller, Request(options, name, note=note))
        named, server = None, self.server(caller)
        if options.model is None and (model := self._server_model(server)) is not None:
            options = replace(options, model=model)  # the server's bard, named in the buttons too
        if options.free and server.clean:
            self.requests.record(caller.author_id, "bad_options")
            return replies.bad_options(CLEAN_NOT_FREE, caller.prefix)
        if self.settings.monologue and not options.free:
            named, speech = self.service.split_seed(options.seed, options.model)
            options = replace(options, seed=speech)
        return await self._perform(caller, Request(options, named, note=note))

    async def act(
        self,
        caller: Caller,
        action: str,
        said: Said,
        earlier: Sequence[Spoken] = (),
        *,
        speaker: str | None = None,
    ) -> Reply:
        """A monologue's buttons (and the console's `bard continue|another|answer`): `said` is the monologue,
        `earlier` the speeches before it (oldest first; Discord: the replies it answers).

        continue: the same speaker goes on from where the speech ended (primed with the speech so far);
        another: a new monologue from the same seed, speaker and options (after the same exchange, if any);
        answer: another speaker (`speaker`, or one the model chooses) answers, primed with the whole exchange."""
        if not self.accepting:
            self.requests.record(caller.author_id, "closed")
            return replies.LEAVING
        spoken, options = said.spoken, said.options
        if action == "another" and spoken.goes_on:  # another continuation of the speech it went on with
            before = scene.exchange(earlier)
            if before and before[-1].speaker == spoken.speaker:
                action, earlier, spoken = "continue", (), before[-1]
        if action == "continue":
            if options.sonnet:
                return replies.SONNET_COMPLETE
            if not spoken.text and spoken.speaker is None:
                return replies.NOTHING_TO_CONTINUE
            whole = scene.exchange([*earlier, spoken]) if spoken.speaker is not None else [spoken]
            last, history = whole[-1], scene.playscript(whole[:-1])
            goes_on = Request(replace(options, seed=scene.tail(last.text)), last.speaker, history, goes_on=True)
            return await self._perform(caller, goes_on)
        if action == "another":
            history = scene.playscript(scene.exchange(earlier)) if spoken.speaker is not None else ""
            return await self._perform(caller, Request(options, spoken.speaker, history))
        if action != "answer":
            raise ValueError(f"unknown action {action!r}")
        return await self._answer(caller, said, earlier, speaker)

    async def _answer(self, caller: Caller, said: Said, earlier: Sequence[Spoken], speaker: str | None) -> Reply:
        """Answer: another speaker (`speaker`, or one the model chooses) answers, primed with the whole exchange."""
        spoken = said.spoken
        if spoken.speaker is None:
            return replies.NO_SPEAKER
        name = None
        if speaker is not None and speaker.strip():
            name = scene.speaker_name(speaker)
            if name is None:
                return replies.bad_options(f"{quote(speaker)} is not a speaker's name", caller.prefix)
            if name.lower() == spoken.speaker.lower():
                return replies.same_speaker(spoken.speaker)
        history = scene.playscript(scene.exchange([*earlier, spoken]))
        return await self._perform(caller, Request(replace(said.options, seed="", free=False), name, history))

    def answerers(self, said: Said, earlier: Sequence[Spoken] = ()) -> list[str]:
        """Who may answer a monologue, for Answer's menu: the scene's other speakers, then the model's best known
        (the speakers with most speeches), never the one who just spoke; 25 at most (Discord's limit)."""
        speaker = said.spoken.speaker
        if speaker is None:
            return []
        try:
            known, _ = self.service.speakers(ANSWERERS, model=said.options.model)
        except UnknownModel:
            return []
        names = [s.speaker for s in earlier if s.speaker is not None] + [name for name, _ in known]
        return [n for n in dict.fromkeys(names) if n.lower() != speaker.lower()][:ANSWERERS]

    async def _perform(self, caller: Caller, request: Request) -> Reply:
        """Generate what `request` asks for, after the cooldown and through the service's queue; the reply carries
        the monologue's facts for its buttons."""
        now, server = self._clock(), self.server(caller)
        wait = self.cooldowns.left(caller.author_id, now, server.cooldown)
        if wait > 0 and not caller.is_owner:
            self.requests.record(caller.author_id, "cooldown", seed_chars=len(request.options.seed))
            return replies.cooldown(wait)
        # Named in the buttons as the service spells it: a later default changes nothing.
        model = self._served(request.options.model)
        pending = self._submit(caller, request, model)
        if isinstance(pending, Reply):
            return pending
        self.cooldowns.remember(caller.author_id, now, server.cooldown)
        generation = await self._result(caller, request, pending, model)
        if isinstance(generation, Reply):
            return generation
        return self._reply(request, generation, model)

    def _server_model(self, server: ServerSettings) -> str | None:
        """The server's model, if it is still served (a reload may have removed it: then the service's default)."""
        if server.model is None or served_spelling(self.service.names, server.model) is None:
            return None
        return server.model

    def _served(self, name: str | None) -> str:
        """The served model's own spelling of a name given in any case (None: the default's); a name not served
        stays as given, for submit to refuse."""
        try:
            return self.service.served_name(name)
        except UnknownModel:
            return name or self.service.default

    def _submit(self, caller: Caller, request: Request, model: str) -> PendingGeneration | Reply:
        """The request queued, or the reply that says why not."""
        s, options, server = self.settings, request.options, self.server(caller)

        def refused(outcome: Outcome, reply: Reply) -> Reply:
            self.requests.record(caller.author_id, outcome, seed_chars=len(options.seed))
            return reply

        try:
            return self.service.submit(
                options.seed,
                temperature=options.temperature,
                max_chars=options.length,
                top_k=options.top_k,
                top_p=options.top_p,
                monologue=(s.monologue or server.clean) and not options.free,
                model=model,
                verse=server.verse and not options.prose,
                clean=server.clean,
                history=request.history,
                speaker=request.speaker,
                couplet=server.couplet and not options.no_couplet,
                sonnet=options.sonnet,
            )
        except UnknownModel:
            unknown = replies.unknown_model(options.model or "", self.service.names)
            return refused("bad_options", replies.bad_options(unknown, caller.prefix))
        except Busy as busy:
            wait = busy.retry_after
            return refused("busy", replies.BUSY if wait is None else replies.busy_for(wait))
        except ServiceClosed:
            return refused("closed", replies.LEAVING)
        except ValueError as exc:  # the engine's own checks, should the parser ever let a value through
            return refused("bad_options", replies.bad_options(str(exc), caller.prefix))

    async def _result(
        self, caller: Caller, request: Request, pending: PendingGeneration, model: str
    ) -> Generation | Reply:
        """The generation, or the reply that says what went wrong; either way the request is logged and counted."""
        author_id = caller.author_id

        def done(outcome: Outcome, chars: int | None = None) -> None:
            queue_wait, gen_time = pending.timings()
            seed_chars = len(request.options.seed)
            self.requests.record(
                author_id, outcome, seed_chars=seed_chars, chars=chars, queue_wait=queue_wait, gen_time=gen_time
            )

        try:
            async with showing(caller.while_generating):
                generation = await pending.result()
        except GenerationTimeout:
            done("timeout")
            log.warning("generation for user %s timed out after %g s", self._user(author_id), self.service.timeout)
            return replies.timed_out(self.service.timeout)
        except ServiceClosed:
            done("closed")
            return replies.LEAVING
        except UnknownModel:  # removed by a reload while this one waited
            done("error")
            return replies.model_gone(model)
        except Exception:
            done("error")
            log.exception(
                "generation failed for user %s (options %s)", self._user(author_id), _describe(request.options)
            )
            return replies.FAILED
        done("ok", len(generation.text))
        return generation

    def _reply(self, request: Request, generation: Generation, model: str) -> Reply:
        """The reply for a generation, with what its buttons need."""
        facts = replace(request.options, model=model)
        if request.goes_on:
            text = replies.format_continuation(
                generation.text, speaker=generation.speaker, stop_reason=generation.stop_reason
            )
            spoken = Spoken(generation.speaker, generation.text.strip(), goes_on=True)
            return Reply(text, said=Said(spoken, replace(facts, seed="")))
        text = replies.format_monologue(
            generation.seed,
            generation.text,
            seed_changes=generation.seed_changes,
            stop_reason=generation.stop_reason,
            speaker=generation.speaker,
            note=request.note,
            sonnet=request.options.sonnet,
        )
        shown = scene.read_reply(text)  # the speech as the buttons will read it back from the message
        if shown is None:
            return Reply(text)
        seed_shown = generation.seed.lstrip()[: len(shown.text)]  # the reply shows (seed + text).strip()
        return Reply(text, said=Said(shown, replace(facts, seed=seed_shown)))

    def help(self, prefix: str, server: ServerSettings | None = None) -> Reply:
        """`bard help`, with the server's defaults."""
        server = server or self.defaults
        return Reply(replies.help_text(prefix, temperature=server.temperature, length=server.length))

    def speakers(self, text: str = "", prefix: str = "!") -> Reply:
        """`bard speakers [-m MODEL] [filter]`: the speakers a model knows best."""
        try:
            options = self._options(text)
            found, total = self.service.speakers(SPEAKERS_LISTED, options.seed, model=options.model)
        except OptionError as exc:
            return replies.bad_options(str(exc), prefix)
        except UnknownModel:
            return replies.bad_options(replies.unknown_model(options.model or "", self.service.names), prefix)
        return Reply(replies.format_speakers(found, total, options.seed))

    def models(self) -> Reply:
        """`bard models`: the models served, each with a line from its card."""
        cards = [(name, model_card(self.service.model_named(name))) for name in self.service.names]
        return Reply(replies.format_models(cards, self.service.default))

    def info(self, text: str = "", prefix: str = "!", *, model: str | None = None) -> Reply:
        """`bard info [-m MODEL]`: a model's card and the counters (model: the slash command's option)."""
        try:
            options = self._options(text)
            if model and options.model is None:
                options = replace(options, model=model_name("-m", model.strip()))
            card = model_card(self.service.model_named(options.model))
        except OptionError as exc:
            return replies.bad_options(str(exc), prefix)
        except UnknownModel:
            return replies.bad_options(replies.unknown_model(options.model or "", self.service.names), prefix)
        return Reply(replies.format_model_card(card, self.service.stats()))

    def stats(self, *, is_owner: bool, transport: dict[str, Any] | None = None) -> Reply:
        """`bard stats` (owners only): request counters, generation times, uptime, the model; plus what the
        transport adds (Discord: guilds and shards)."""
        if not is_owner:
            return replies.NOT_OWNER
        snapshot = self.requests.snapshot() | {"pending": self.service.pending, "model": self.service.model.name}
        return Reply(replies.format_stats(snapshot, transport or {}))

    async def reload(self, *, is_owner: bool) -> Reply:
        """`bard reload` (owners only): serve the model now in the model directory, or the models now in the models
        folder; a bad one is refused and what served before goes on serving."""
        if not is_owner:
            return replies.NOT_OWNER
        if not self.accepting:
            return replies.LEAVING
        try:
            if self.settings.models_dir is not None:
                report = await self.service.reload_folder(self.settings.models_dir, self.settings.default_model)
                return replies.reloaded_folder(report)
            loaded = await self.service.reload(self.settings.model_dir)
        except ModelError as exc:
            log.warning("reload refused: %s", exc)
            return replies.reload_refused(str(exc))
        except Exception as exc:
            log.exception("reload failed")
            return replies.reload_refused(f"{type(exc).__name__}: {exc}")
        card = model_card(loaded)
        return replies.reloaded(card["name"], card["val_loss"])

    async def dispatch(
        self,
        text: str,
        *,
        author_id: int,
        prefix: str,
        is_owner: bool = False,
        session: Session | None = None,
        server_id: int | None = None,
    ) -> Reply:
        """Route the text after `bard` as discord.py routes the command group (for the console, one server:
        `server_id`). With a session, `continue`, `another` and `answer [speaker]` act on its last monologue
        (Discord's buttons), and each monologue is recorded in it."""
        match = _FIRST_WORD.match(text)
        word = match.group(1).lower() if match else ""
        caller = Caller(author_id, prefix, is_owner, server_id=server_id)
        if word == "help":
            return self.help(prefix, self.server(caller))
        rest = text.strip()[len(word) :]
        if session is not None:
            if word in ("continue", "another", "answer"):
                if session.last is None:
                    return replies.no_monologue(prefix)
                reply = await self.act(caller, word, session.last, session.earlier, speaker=rest.strip() or None)
            else:
                reply = await self._dispatch(word, rest, text, caller)
                word = "write"
            if reply.said is not None:
                session.record(word, reply.said)
            return reply
        return await self._dispatch(word, rest, text, caller)

    async def _dispatch(self, word: str, rest: str, text: str, caller: Caller) -> Reply:
        if word == "info":
            return self.info(rest, caller.prefix)
        if word == "speakers":
            return self.speakers(rest, caller.prefix)
        if word == "models":
            return self.models()
        if word == "sonnet":
            return await self.write(caller, rest.strip(), sonnet=True)
        if word == "reload":
            return await self.reload(is_owner=caller.is_owner)
        if word == "stats":
            return self.stats(is_owner=caller.is_owner)
        if word in ("settings", "set"):  # the owner at the console manages its one server
            where = Where(self.service.names)
            return await server_commands.run(self, caller, word, rest, may_change=caller.is_owner, where=where)
        return await self.write(caller, text.strip())

    def _options(self, text: str, server: ServerSettings | None = None) -> Options:
        """A command's options, with the server's defaults; raises OptionError."""
        server = server or self.defaults
        return parse_options(text, temperature=server.temperature, length=server.length)

    def server(self, caller: Caller) -> ServerSettings:
        """The settings of the caller's server (the host's where there is none)."""
        return self.server_of(caller.server_id)

    def server_of(self, server_id: int | None) -> ServerSettings:
        """A server's settings (None: the host's)."""
        return self.servers.of(server_id) if self.servers is not None else self.defaults

    def _user(self, author_id: int) -> str:
        return self.requests.user_hash(author_id)  # logs name users by pseudonym only

    async def forget_user(self, user_id: int) -> None:
        """Drop what is kept about a user: the time of their last request (the cooldown's) and their id in the record
        of settings changes they made."""
        self.cooldowns.forget(user_id)
        if self.servers is not None:
            await self.servers.forget_user(user_id)

    # ------------------------------------------------------------------ shutdown

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Wrap the whole handling of one command, reply included, so that close() waits for it."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def close(self, grace: float) -> None:
        """Stop taking commands and give those in flight up to `grace` seconds (the service is its owner's to
        close)."""
        self.accepting = False
        if self._in_flight:
            log.info("finishing %d command(s) in flight (up to %g s)", self._in_flight, grace)
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("%d command(s) still in flight after %g s; closing anyway", self._in_flight, grace)


def _describe(options: Options) -> str:
    return f"-t {options.temperature:g} -n {options.length} -k {options.top_k} -p {options.top_p:g}"
