"""Starting, following, cancelling and replaying runs.

A run belongs to the process that executes it, not to the socket that asked for it: a live run
keeps going when its socket drops, and a reconnecting client resumes from a sequence number
(from memory while the run is live here, from the database afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from django.db import DataError, connection, transaction
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from apps.config.db import bound_cursor, in_db_thread, insert_parts
from apps.config.errors import Forbidden, InvalidInput, NotFound, TrellisError
from apps.runs import remote
from apps.runs.adapters import ports_for
from apps.runs.models import ChatMessage, ChatSession, Run, RunEvent
from apps.runs.recorder import Final, recorder
from apps.runs.selectors import run_start_snapshot
from apps.serving.accounting import Meter, month_start
from apps.serving.gateway import EndpointSnapshot, GatewayModels
from apps.tenancy.access import Actor, access_org_by_id, actor_role
from apps.tenancy.models import Role, role_at_least
from flows.compiler import CompiledFlow, compile_flow
from flows.events import TERMINAL, Event, EventType
from flows.values import to_text

logger = logging.getLogger(__name__)

LIVE_GRACE_SECONDS = 10.0  # how long a finished run stays in memory for resuming sockets


@dataclass
class RunRequest:
    flow: UUID
    version: int | str = "published"
    inputs: dict[str, Any] = field(default_factory=dict)
    session: UUID | None = None
    source: str = Run.Source.PLAYGROUND
    ref: str | None = None


@dataclass
class PreparedRun:
    run: Run
    compiled: CompiledFlow
    prices: dict[str, tuple[Decimal, Decimal]]
    ref: str | None
    # When set, the rows are still being written while the run starts (run_prepare(early=True)):
    # run_execute waits for it before the first event is recorded or sent.
    saving: asyncio.Future[Run] | None = None


@dataclass
class _Loaded:
    run: Run
    graph: dict[str, Any]
    models: GatewayModels
    history: list[BaseMessage]


def _prepare_rows(actor: Actor, request: RunRequest, organization_id: UUID | None) -> _Loaded:
    """All the reads before a run, in one statement: access, graph, session, models, history."""
    number = request.version if isinstance(request.version, int) else None
    snapshot = run_start_snapshot(
        flow_id=request.flow,
        organization_id=organization_id,
        user_id=actor.user.pk if actor.user is not None and actor.api_key is None else None,
        version_number=number,
        session_id=request.session,
        month_start=month_start(),
    )
    role = None if snapshot is None else actor_role(actor, snapshot.organization_id, snapshot.role)
    if snapshot is None or role is None:  # another tenant's flow is not found either
        raise NotFound("Flow not found.", code="flow_not_found")
    org = snapshot.organization_id
    version_id = None
    if request.version == "draft":
        if not role_at_least(role, Role.EDITOR):
            raise Forbidden("Running the draft needs the editor role; run a published version instead.")
        graph = snapshot.draft
    elif request.version == "published":
        if snapshot.published_graph is None:
            raise InvalidInput("This flow has no published version yet.", code="not_published")
        version_id, graph = snapshot.published_version_id, snapshot.published_graph
    else:
        if snapshot.version_graph is None:
            raise NotFound(f"Version {request.version} not found.", code="version_not_found")
        version_id, graph = snapshot.version_id, snapshot.version_graph
    if request.session is not None:
        if not snapshot.session_found:
            raise NotFound("Chat session not found.", code="session_not_found")
        session = ChatSession(pk=request.session, organization_id=org, flow_id=snapshot.flow_id)
        session._state.adding = False  # an existing row, known by id
    else:  # a new session, its id known before its row is written
        session = ChatSession(organization_id=org, flow_id=snapshot.flow_id, user=actor.user)
    run = Run(
        organization_id=org,
        flow_id=snapshot.flow_id,
        version_id=version_id,
        source=request.source,
        session=session,
        created_by=actor.user,
        api_key=actor.api_key,
        inputs=request.inputs,
    )
    meter = Meter.of_quota(
        org,
        budget=snapshot.budget,
        requests_per_minute=snapshot.requests_per_minute,
        used=snapshot.used_this_month,
        recent_calls=snapshot.calls_last_minute,
        run_id=run.pk,
        flow_id=snapshot.flow_id,
        user_id=run.created_by_id,
    )
    models = GatewayModels(map(EndpointSnapshot.from_row, snapshot.endpoints), meter=meter)
    history: list[BaseMessage] = [
        HumanMessage(content=c) if r == ChatMessage.Role.USER else AIMessage(content=c) for r, c in snapshot.history
    ]
    return _Loaded(run=run, graph=graph, models=models, history=history)


def _save_rows(run: Run, message: str) -> Run:
    try:
        return _insert_rows(run, message)
    except (DataError, psycopg.DataError) as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
        raise InvalidInput(f"The input cannot be stored: {str(exc).splitlines()[0]}", code="invalid_input") from None


def _insert_rows(run: Run, message: str) -> Run:
    """The new session (if any), the run and the user's message: one statement (data-modifying
    CTEs; the foreign keys are checked at its end), so one round trip and one implicit
    transaction (no BEGIN/COMMIT trips)."""
    parts: list[tuple[str, list[Any]]] = []
    session = run.session
    if session is not None and session._state.adding:
        session.title = message[:80]
        parts.append(insert_parts(session))
    parts.append(insert_parts(run))
    if message and session is not None:
        parts.append(insert_parts(ChatMessage(session=session, role=ChatMessage.Role.USER, content=message, run=run)))
    # One statement: the inserts as data-modifying CTEs (all run, whatever the main query reads),
    # and the main query marks its own implicit transaction's commit as not waiting for the WAL
    # flush (the recorder writes events the same way): a crash in the next few ms could lose the
    # row of a run that died with the process anyway, and every run start saves the flush wait
    # (docs/adr/0005).
    sql = "WITH " + ", ".join(f"w{i} AS ({part})" for i, (part, _) in enumerate(parts))
    sql += " SELECT set_config('synchronous_commit', 'off', true)"
    params = [value for _, values in parts for value in values]
    # Inside a transaction already (tests): a savepoint, so a refused row leaves it usable.
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, bound_cursor() as cursor:
        cursor.execute(sql, params)
    if session is not None:
        session._state.adding = False
    run._state.adding = False
    return run


def _prepare_compiled(actor: Actor, request: RunRequest, organization_id: UUID | None) -> PreparedRun:
    """Reads and compile, nothing written (one trip to a database thread)."""
    loaded = _prepare_rows(actor, request, organization_id)
    run, models = loaded.run, loaded.models
    ports = ports_for(organization_id=run.organization_id, models=models, history=loaded.history)
    compiled = compile_flow(loaded.graph, ports)  # FlowInvalid: no row was written
    return PreparedRun(run=run, compiled=compiled, prices=models.prices(), ref=request.ref)


def _prepare(actor: Actor, request: RunRequest, organization_id: UUID | None) -> PreparedRun:
    """Reads, compile, then the rows: one trip to a database thread per run start."""
    prepared = _prepare_compiled(actor, request, organization_id)
    _save_rows(prepared.run, to_text(request.inputs.get("message", "")))
    return prepared


async def run_prepare(
    *, actor: Actor, request: RunRequest, organization_id: UUID | None = None, early: bool = False
) -> PreparedRun:
    """Resolve and validate everything; raises TrellisError or FlowInvalid and creates nothing then.

    `early`: return once the flow is compiled and write the rows meanwhile, so the model call
    starts while the run's row is being committed (the live socket's time to first token); the
    run's first event still waits for the row (a run is a row before its first token).
    """
    await remote.listening()  # a cancel sent through another worker reaches the runs started here
    if not early:
        return await in_db_thread(_prepare)(actor, request, organization_id)
    # One trip to a database thread: it hands the compiled run back to the loop as soon as it has
    # it (the model call starts), then writes the rows and settles `saving` (no second thread hop
    # on the way to the first token).
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[PreparedRun] = loop.create_future()
    saving: asyncio.Future[Run] = loop.create_future()
    message = to_text(request.inputs.get("message", ""))

    def work() -> None:
        prepared = _prepare_compiled(actor, request, organization_id)
        prepared.saving = saving
        loop.call_soon_threadsafe(_settle, ready, prepared, None)
        try:
            run = _save_rows(prepared.run, message)
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, saving, None, exc)
            return
        loop.call_soon_threadsafe(_settle, saving, run, None)

    job = asyncio.ensure_future(in_db_thread(work)())
    first: set[asyncio.Future[Any]] = {ready, job}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        return ready.result()
    ready.cancel()
    job.result()  # the reads or the compile failed: raises their error (nothing was written)
    raise RuntimeError("run_prepare: the database thread ended without a run")  # not reached


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
    (run_prepare(early=True)) its events are held: a run is a row before its first event. The
    terminal event is published only after the run's last write has committed.
    """

    def __init__(self, prepared: PreparedRun) -> None:
        self.run_id = str(prepared.run.pk)
        self.organization_id = prepared.run.organization_id
        self.buffer: list[dict[str, Any]] = []
        self.followers: set[Follower] = set()
        self.loop = asyncio.get_running_loop()
        self._prepared = prepared
        self._recorder = recorder()
        self._text: list[str] = []
        self._terminal: Event | None = None
        self._last_seq = 0
        self._ending = False
        self._held: list[Event] | None = None
        if prepared.saving is not None and not prepared.saving.done():
            self._held = []
            prepared.saving.add_done_callback(self._rows_saved)
        self.task = asyncio.create_task(self._drive(), name=f"run-{self.run_id}")

    # --- the engine's sink (runs in self.task) ---

    def _on_event(self, event: Event) -> None:
        self._last_seq = event.seq
        if event.type in TERMINAL:
            self._terminal = event  # recorded, committed, then published by _drive
        elif self._held is not None:
            self._held.append(event)
        else:
            self._accept(event)

    def _accept(self, event: Event) -> None:
        if event.type == EventType.TOKEN:
            self._text.append(event.data["text"])
        self._recorder.record(event)
        wire = event.to_wire()
        if event.type == EventType.RUN_STARTED and self._prepared.ref:
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
            await asyncio.shield(self._recorder.finish(self.run_id, final))
        self._publish(terminal.to_wire())

    def _failure_event(self, exc: BaseException) -> Event:
        code, message = "internal_error", "The run stopped on a server error."
        if isinstance(exc, TrellisError):
            code, message = exc.code, exc.message
        else:
            logger.error("run %s crashed", self.run_id, exc_info=exc)
        data = {"code": code, "message": message, "node": None}
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


def _run_for_actor(actor: Actor, run_id: UUID) -> Run:
    """The run, if the actor may see its organization (the one access helper decides)."""
    not_found = NotFound("Run not found.", code="run_not_found")
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise not_found
    try:
        access_org_by_id(actor=actor, org_id=run.organization_id)
    except NotFound:
        raise not_found from None
    return run


async def run_cancel(*, actor: Actor, run_id: UUID) -> bool:
    """Cancel a run this actor may see, here or in the worker holding it; False when it is not running."""
    run = await in_db_thread(_run_for_actor)(actor, run_id)
    return await in_db_thread(run_cancel_request)(run)


def run_cancel_request(run: Run) -> bool:
    """Cancel `run` (already access-checked) where it executes: this process, or another worker
    through NOTIFY (apps.runs.remote). False when it is not running. Database thread."""
    live = LIVE.get(str(run.pk))
    if live is not None:
        if live.task.done():
            return False
        live.cancel()
        return True
    if run.status != Run.Status.RUNNING:
        return False
    remote.notify_cancel(str(run.pk))
    return True


def stored_events(run_id: str, after: int) -> list[dict[str, Any]]:
    """Events from the database, token batches expanded back to one event per token."""
    out: list[dict[str, Any]] = []
    for row in RunEvent.objects.filter(run_id=run_id, seq_end__gt=after).order_by("seq"):
        if row.type == "token":
            for offset, text in enumerate(row.data["texts"]):
                seq = row.seq + offset
                if seq > after:
                    out.append(
                        {
                            "run": run_id,
                            "seq": seq,
                            "type": "token",
                            "node": row.node or None,
                            "data": {"text": text},
                            "at": row.at,
                        }
                    )
        else:
            out.append(
                {
                    "run": run_id,
                    "seq": row.seq,
                    "type": row.type,
                    "node": row.node or None,
                    "data": row.data,
                    "at": row.at,
                }
            )
    return out


async def run_resume(*, actor: Actor, run_id: UUID, after: int) -> AsyncIterator[dict[str, Any]]:
    """Everything after `after` to the terminal event, wherever the run executes."""
    run = await in_db_thread(_run_for_actor)(actor, run_id)
    async for wire in events_after(str(run.pk), after):
        yield wire


async def events_after(run_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
    """A run's events after `after` to its terminal event: from memory while it is live in this
    process, else from the database as another worker (or, earlier, anyone) stored them."""
    live = LIVE.get(run_id)
    if live is not None:
        queue = live.subscribe(after)
        try:
            async for wire in follow(queue):
                yield wire
        finally:
            live.unsubscribe(queue)
        return
    async for wire in remote.follow_stored(run_id, after):
        yield wire


async def run_collect(prepared: PreparedRun) -> list[dict[str, Any]]:
    """Run to the end without a socket (the synchronous REST call)."""
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
    return events
