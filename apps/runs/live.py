"""Live runs: a run executing in this process, and the followers (sockets, SSE, REST) it feeds.

A run belongs to the process that executes it, not to the socket that asked for it: a live run
keeps going when its socket drops, and a reconnecting client resumes from a sequence number
(apps.runs.replay: from memory while the run is live here, from the database afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.config.errors import TrellisError
from apps.config.wire_errors import run_failed_data
from apps.runs.models import Run
from apps.runs.observers import run_ended
from apps.runs.recorder import Final, final_fields, recorder
from flows.compiler import CompiledFlow
from flows.events import TERMINAL, TOKEN, Event, EventType
from flows.secrets import Redactor
from flows.values import to_text

logger = logging.getLogger(__name__)
_FINISHING: set[asyncio.Future[None]] = set()  # runs' last writes still in flight

LIVE_GRACE_SECONDS = 10.0  # how long a finished run stays in memory for resuming sockets


# A factory of wire transforms (event -> event shown, or None to drop it).
Reveal = Callable[[], Callable[[dict[str, Any]], dict[str, Any] | None]]


@dataclass
class PreparedRun:
    run: Run
    compiled: CompiledFlow
    prices: dict[str, tuple[Decimal, Decimal]]
    ref: str | None
    # When set, the rows are still being written while the run starts (run_start(early=True)):
    # the live run holds its events until it settles (a run is a row before its first event).
    saving: asyncio.Future[Run] | None = None
    # What the run start read besides the run (the REST answer's flow name and version number).
    flow_name: str = ""
    version_number: int | None = None
    # Set by a run-start hook (guardrails' reversible redaction): a wire transform for the socket
    # that started the run only, one per follower; what is recorded never passes through it.
    reveal: Reveal | None = None
    # The run's secret values (apps.integrations): every event is redacted before it is stored or sent.
    redactor: Redactor | None = None


def _cost(usage: dict[str, Any], prices: dict[str, tuple[Decimal, Decimal]]) -> Decimal:
    total = Decimal(0)
    for alias, counts in (usage.get("by_model") or {}).items():
        price_in, price_out = prices.get(alias, (Decimal(0), Decimal(0)))
        total += price_in * counts["input_tokens"] / 1000 + price_out * counts["output_tokens"] / 1000
    return total.quantize(Decimal("0.000001"))


def _failure_of(future: asyncio.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError("the run's rows were not written")
    return future.exception()


def _final(event: Event, text: str, prepared: PreparedRun) -> Final:
    usage = event.data.get("usage") or {}
    answer = None
    if event.type == EventType.RUN_FINISHED:
        outputs = event.data.get("outputs") or {}
        first = next(iter(outputs.values()), None)
        answer = to_text(first.get("value")) if isinstance(first, dict) else text
    session = prepared.run.session_id
    return Final(
        output_text=text,
        cost=_cost(usage, prepared.prices),
        assistant_message=answer,
        session_id=str(session) if session is not None else None,
    )


Follower = Callable[[dict[str, Any]], None]


class LiveRun:
    """A run executing in this process: a replay buffer and the followers (sockets) it feeds.

    The engine calls `_on_event` in the run's own task for every event; recording and handing
    the event to each follower happen right there, so a streamed token costs no queue and no
    task switch between the model's chunk and the socket's write. Until the run's rows are in
    (run_start(early=True)) its events are held: a run is a row before its first event. The
    terminal event is published only after the run's last write has committed.
    """

    def __init__(self, prepared: PreparedRun) -> None:
        self.run_id = str(prepared.run.pk)
        self.organization_id = prepared.run.organization_id
        self.buffer: list[dict[str, Any]] = []
        self.followers: set[Follower] = set()
        self.loop = asyncio.get_running_loop()
        self._prepared = prepared
        self.reveal = prepared.reveal  # for the starting socket's follower only
        self._recorder = recorder()
        self._text: list[str] = []
        self._terminal: Event | None = None
        self._last_seq = 0
        self._ending = False
        self._held: list[Event] | None = None
        self.stored: tuple[Event, Final] | None = None  # the terminal event and last write, once committed
        if prepared.saving is not None and not prepared.saving.done():
            self._held = []
            prepared.saving.add_done_callback(self._rows_saved)
        self.task = asyncio.create_task(self._drive(), name=f"run-{self.run_id}")

    # --- the engine's sink (runs in self.task) ---

    def _on_event(self, event: Event) -> None:
        self._last_seq = event.seq
        if (redactor := self._prepared.redactor) is not None:
            event = dataclasses.replace(event, data=redactor.data(event.data))
        if event.type in TERMINAL:
            self._terminal = event  # recorded, committed, then published by _drive
        elif self._held is not None:
            self._held.append(event)
        else:
            self._accept(event)

    def _accept(self, event: Event) -> None:
        token = event.type == TOKEN  # most events are tokens: the checks below stop here for them
        if token:
            self._text.append(event.data["text"])
        self._recorder.record(event)
        wire = event.to_wire()
        if not token and event.type == EventType.RUN_STARTED and self._prepared.ref:
            wire["ref"] = self._prepared.ref
        self._publish(wire)

    def _rows_saved(self, saving: asyncio.Future[Run]) -> None:
        held, self._held = self._held or [], None
        if _failure_of(saving) is not None:
            self.task.cancel()  # no row: the run cannot go on (_drive reports why)
            return
        for event in held:
            self._accept(event)

    def _rows_error(self) -> BaseException | None:
        """Why the run's rows could not be written, once that is known."""
        saving = self._prepared.saving
        return None if saving is None or not saving.done() else _failure_of(saving)

    # --- the run ---

    async def _drive(self) -> None:
        prepared = self._prepared
        run = prepared.run
        try:
            if (error := self._rows_error()) is not None:
                raise error
            await prepared.compiled.execute(
                run.inputs,
                sink=self._on_event,
                run_id=self.run_id,
                session=str(run.session_id) if run.session_id else None,
            )
            if prepared.saving is not None:  # a run faster than its rows: wait for them
                await asyncio.shield(prepared.saving)
            terminal = self._terminal
            if terminal is None:  # the engine always ends with one; never leave followers waiting
                raise RuntimeError("the flow ended without a terminal event")
            await self._end(terminal, _final(terminal, "".join(self._text), prepared))
        except asyncio.CancelledError:
            if (error := self._rows_error()) is not None:  # cancelled by _rows_saved: no row
                self._publish(self._failure_event(error).to_wire())
                return
            terminal = self._terminal
            if terminal is None or terminal.type != EventType.RUN_CANCELLED:
                terminal = Event(self._last_seq + 1, EventType.RUN_CANCELLED, self.run_id, None, {"usage": {}})
            await self._end(terminal, Final(output_text="".join(self._text), cost=Decimal(0)))
            raise
        except Exception as exc:
            # A server error: end on run.failed, recorded unless the error was in the recording.
            failure = self._failure_event(exc)
            if not self._ending:
                try:
                    await self._end(failure, _final(failure, "".join(self._text), prepared))
                    return
                except Exception:
                    logger.exception("recording the failure of run %s failed", self.run_id)
            self._publish(failure.to_wire())
        finally:
            self.loop.call_later(LIVE_GRACE_SECONDS, LIVE.pop, self.run_id, None)

    async def _end(self, terminal: Event, final: Final) -> None:
        """Record the terminal event and the run's last write once its rows are in (nothing to
        record without them), then publish it: followers end on it, never on silence."""
        self._ending = True
        saving = self._prepared.saving
        if saving is not None and not saving.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(saving)
        if self._rows_error() is None:
            self._recorder.record(terminal)
            # The last write goes on when this task is cancelled (a client hanging up): a task
            # held here until it ends, since the loop keeps only weak references to tasks.
            finishing = asyncio.ensure_future(self._recorder.finish(self.run_id, final))
            _FINISHING.add(finishing)
            finishing.add_done_callback(_FINISHING.discard)
            await asyncio.shield(finishing)
            self.stored = (terminal, final)
            # Before the terminal event is published: whoever sees the run end (a REST answer
            # read on another thread) also sees its metrics.
            run_ended(self._prepared.run, terminal, final)  # metrics, trace export (apps.observability)
        self._publish(terminal.to_wire())

    def _failure_event(self, exc: BaseException) -> Event:
        if not isinstance(exc, TrellisError):
            logger.error("run %s crashed", self.run_id, exc_info=exc)
        data = run_failed_data(exc)
        if (redactor := self._prepared.redactor) is not None:
            data = redactor.data(data)
        return Event(self._last_seq + 1, EventType.RUN_FAILED, self.run_id, None, data)

    # --- followers ---

    def _publish(self, wire: dict[str, Any]) -> None:
        self.buffer.append(wire)
        for follower in tuple(self.followers):  # a follower may detach itself
            follower(wire)

    def attach(self, follower: Follower, after: int = 0) -> None:
        """Hand `follower` every event after seq `after`: the buffered ones now, the rest as they
        happen (synchronously, in the run's task: a follower must not block or raise)."""
        for wire in self.buffer:
            if wire["seq"] > after:
                follower(wire)
        self.followers.add(follower)

    def detach(self, follower: Follower) -> None:
        self.followers.discard(follower)

    def subscribe(self, after: int = 0) -> asyncio.Queue[dict[str, Any]]:
        """The events as a queue (for `follow`)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.attach(queue.put_nowait, after)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.detach(queue.put_nowait)

    def cancel(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)


LIVE: dict[str, LiveRun] = {}


def run_start_live(prepared: PreparedRun) -> LiveRun:
    live = LiveRun(prepared)
    LIVE[live.run_id] = live
    return live


async def follow(queue: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    while True:
        wire = await queue.get()
        yield wire
        if wire["type"] in {str(t) for t in TERMINAL}:
            return


async def run_collect(prepared: PreparedRun) -> list[dict[str, Any]]:
    """Run to the end without a socket (the synchronous REST call)."""
    return (await _collect(prepared))[1]


async def run_to_end(prepared: PreparedRun) -> tuple[list[dict[str, Any]], Run | None]:
    """Run to the end without a socket: its events, and the run as its last write stored it,
    without reading it back (its flow and version cached for a serializer: `flow.name`,
    `version.number`); None when that write is not known to be stored (read the row then)."""
    live, events = await _collect(prepared)
    if live.stored is None:
        return events, None
    terminal, final = live.stored
    run = prepared.run
    for name, value in final_fields(terminal, final).items():
        setattr(run, name, value)
    run.last_seq = terminal.seq
    flow_field, version_field = Run._meta.get_field("flow"), Run._meta.get_field("version")
    flow_field.set_cached_value(run, flow_field.related_model(id=run.flow_id, name=prepared.flow_name))
    version = None
    if run.version_id is not None:
        version = version_field.related_model(id=run.version_id, flow_id=run.flow_id, number=prepared.version_number)
    version_field.set_cached_value(run, version)
    return events, run


async def _collect(prepared: PreparedRun) -> tuple[LiveRun, list[dict[str, Any]]]:
    live = run_start_live(prepared)
    queue = live.subscribe()
    events: list[dict[str, Any]] = []
    try:
        async for wire in follow(queue):
            events.append(wire)
    finally:
        live.unsubscribe(queue)
        if not live.task.done():
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live.task
    return live, events
