"""Starting a run: the one place every entry point starts one (DESIGN invariant 9).

`run_start(principal, request)` is one trip to a database thread: the principal's own checks
(apps.runs.principals), then every read in one SQL statement (`run_start_snapshot`: access, the
graph asked for, the session and its history, the quota, the models), then the compile
(FlowInvalid: nothing written), then the rows (the session, the run, the user's message and the
principal's own rows) in one statement. With `early=True` the compiled run is handed to the
event loop before the rows are written, so the model call starts meanwhile (apps.runs.live holds
the run's events until its rows are in).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from django.db import DataError, connection, transaction
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from apps.config.db import bound_cursor, in_db_thread, insert_parts
from apps.config.errors import Forbidden, InvalidInput, NotFound
from apps.guardrails.hook import GuardrailsHook
from apps.runs import remote
from apps.runs.adapters import IntegrationsHook, ports_for
from apps.runs.live import PreparedRun, Reveal
from apps.runs.models import ChatMessage, ChatSession, Run
from apps.runs.principals import Principal, RunRequest
from apps.runs.selectors import run_start_snapshot
from apps.runs.subflows import SubflowsHook
from apps.serving.accounting import Meter, budget_limits, month_start
from apps.serving.gateway import EndpointSnapshot, GatewayModels
from apps.tenancy.models import Role, role_at_least
from flows.compiler import compile_flow
from flows.secrets import Redactor
from flows.values import to_text

if TYPE_CHECKING:
    from django.db.models import Model

    from flows.ports import Ports

HISTORY_LIMIT = 100


@dataclass
class _Loaded:
    run: Run
    graph: dict[str, Any]
    models: GatewayModels
    history: list[BaseMessage]
    rows: list[Model]
    flow_name: str = ""
    version_number: int | None = None


def _read(principal: Principal, request: RunRequest) -> _Loaded:
    """All the reads before a run, in one statement: access, graph, session, models, history."""
    if request.flow is None:
        raise NotFound("Flow not found.", code="flow_not_found")
    number = request.version if isinstance(request.version, int) else None
    user = principal.user
    snapshot = run_start_snapshot(
        flow_id=request.flow,
        organization_id=request.organization,
        user_id=user.pk if user is not None else None,
        version_number=number,
        session_id=request.session,
        month_start=month_start(),
        history_limit=HISTORY_LIMIT if principal.policy.memory else 0,
        widget_id=principal.widget_id,
    )
    role = None if snapshot is None else principal.role_in(snapshot.organization_id, snapshot.role)
    if snapshot is None or role is None:  # another tenant's flow is not found either
        raise NotFound("Flow not found.", code="flow_not_found")
    org = snapshot.organization_id
    version_id, version_number = None, None
    if request.version == "draft":
        if not role_at_least(role, Role.EDITOR):
            raise Forbidden("Running the draft needs the editor role; run a published version instead.")
        graph = snapshot.draft
    elif request.version == "published":
        if snapshot.published_graph is None:
            raise InvalidInput("This flow has no published version yet.", code="not_published")
        version_id, graph = snapshot.published_version_id, snapshot.published_graph
        version_number = snapshot.published_number
    else:
        if snapshot.version_graph is None:
            raise NotFound(f"Version {request.version} not found.", code="version_not_found")
        version_id, graph = snapshot.version_id, snapshot.version_graph
        version_number = number
    new_session = request.session is None
    if not new_session:
        if not snapshot.session_found:
            raise NotFound("Chat session not found.", code="session_not_found")
        session = ChatSession(pk=request.session, organization_id=org, flow_id=snapshot.flow_id)
        session._state.adding = False  # an existing row, known by id
    else:  # a new session, its id known before its row is written
        session = ChatSession(organization_id=org, flow_id=snapshot.flow_id, user=user)
    run = Run(
        organization_id=org,
        flow_id=snapshot.flow_id,
        version_id=version_id,
        source=request.source,
        session=session,
        created_by=user,
        api_key=principal.api_key,
        inputs=request.inputs,
    )
    # The organization's budget and rate limit, for every principal alike (checked at each model
    # call against what this read counted).
    meter = Meter.of_quota(
        org,
        budget=snapshot.budget,
        requests_per_minute=snapshot.requests_per_minute,
        used=snapshot.used_this_month,
        recent_calls=snapshot.calls_last_minute,
        cost_budget=snapshot.cost_budget,
        cost_used=snapshot.cost_used_this_month,
        run_id=run.pk,
        flow_id=snapshot.flow_id,
        user_id=run.created_by_id,
        widget_id=principal.widget_id,
        version_id=version_id,
        limits=budget_limits(
            snapshot.flow_budget,
            snapshot.widget_budget,
            flow=snapshot.flow_id,
            flow_name=snapshot.flow_name,
            widget=principal.widget_id,
        ),
    )
    models = GatewayModels(map(EndpointSnapshot.from_row, snapshot.endpoints), meter=meter)
    history: list[BaseMessage] = [
        HumanMessage(content=c) if r == ChatMessage.Role.USER else AIMessage(content=c) for r, c in snapshot.history
    ]
    if request.history is not None and principal.policy.memory:  # the caller's own turns (OpenAI messages)
        history = [
            HumanMessage(content=c) if r == "user" else AIMessage(content=c)
            for r, c in request.history[-HISTORY_LIMIT:]
        ]
    rows = principal.rows(run, session, new_session)
    return _Loaded(
        run=run,
        graph=graph,
        models=models,
        history=history,
        rows=rows,
        flow_name=snapshot.flow_name,
        version_number=version_number,
    )


def _save_rows(run: Run, message: str, rows: list[Model]) -> Run:
    try:
        return _insert_rows(run, message, rows)
    except (DataError, psycopg.DataError) as exc:  # e.g. a NUL character, which PostgreSQL text cannot hold
        raise InvalidInput(f"The input cannot be stored: {str(exc).splitlines()[0]}", code="invalid_input") from None


def _insert_rows(run: Run, message: str, rows: list[Model]) -> Run:
    """The new session (if any), the run, the user's message and the principal's rows: one
    statement (data-modifying CTEs; the foreign keys are checked at its end), so one round trip
    and one implicit transaction (no BEGIN/COMMIT trips)."""
    parts: list[tuple[str, list[Any]]] = []
    session = run.session
    if session is not None and session._state.adding:
        session.title = message[:80]
        parts.append(insert_parts(session))
    parts.append(insert_parts(run))
    if message and session is not None:
        parts.append(insert_parts(ChatMessage(session=session, role=ChatMessage.Role.USER, content=message, run=run)))
    parts.extend(insert_parts(row) for row in rows)
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
    for row in [run, *rows]:
        row._state.adding = False
    return run


@dataclass
class _Compiled:
    prepared: PreparedRun
    rows: list[Model]


def _compiled(principal: Principal, request: RunRequest) -> _Compiled:
    """The principal's checks, the reads and the compile; nothing written."""
    request = principal.admit(request)
    principal.policy.check(request)
    loaded = _read(principal, request)
    run, models = loaded.run, loaded.models
    ports = ports_for(organization_id=run.organization_id, models=models, history=loaded.history)
    # ---------------------------------------------------------------------------------------------
    # THE HOOK POINT (DESIGN invariant 9). Every run of every entry point passes here, once, with
    # the principal, the request, the run about to start (its id and inputs), the graph that will
    # run and the ports it will run with, before anything is written. Release routing, guardrail
    # policies (apps.guardrails.hook: the inputs checked and maybe redacted, the retrievers and
    # models wrapped, the visitor's reveal), answer caching and evaluation runs plug in here and
    # nowhere else: each as a `RunHook`, in HOOKS.
    # ---------------------------------------------------------------------------------------------
    starting = RunStarting(principal, request, run, loaded.graph, ports)
    for hook in HOOKS:
        hook(starting)  # may refuse (TrellisError): nothing is written then
    graph, ports = starting.graph, starting.ports
    compiled = compile_flow(graph, ports)  # FlowInvalid: no row was written
    prepared = PreparedRun(run=run, compiled=compiled, prices=models.prices(), ref=request.ref)
    prepared.flow_name, prepared.version_number = loaded.flow_name, loaded.version_number
    prepared.reveal = starting.reveal
    prepared.redactor = starting.redactor
    return _Compiled(prepared, loaded.rows)


@dataclass
class RunStarting:
    """The run about to start, as the hooks see it: each may change the graph, the ports or the
    run's inputs (what the model sees and every row stores), set what the starting socket shows
    its own caller (`reveal`), or refuse (raise TrellisError). Nothing is written yet."""

    principal: Principal
    request: RunRequest
    run: Run
    graph: dict[str, Any]
    ports: Ports
    # A factory of wire transforms for the socket that started the run only (one per follower:
    # a transform may hold state across tokens); never applied to what is stored.
    reveal: Reveal | None = None
    # The run's secret values (apps.integrations): every event is redacted before it is stored or sent.
    redactor: Redactor | None = None

    def inputs_replace(self, inputs: dict[str, Any]) -> None:
        self.run.inputs = inputs
        self.request.inputs = inputs

    def reveal_set(self, reveal: Reveal) -> None:
        self.reveal = reveal


class RunHook(Protocol):
    """What plugs in at the hook point. Runs in the run start's database thread, in HOOKS order."""

    def __call__(self, starting: RunStarting) -> None: ...


# Guardrails first: what the other hooks see of the inputs is what the policy let through.
HOOKS: list[RunHook] = [GuardrailsHook(), IntegrationsHook(), SubflowsHook()]


def _start(principal: Principal, request: RunRequest) -> PreparedRun:
    """Reads, compile, then the rows: one trip to a database thread per run start."""
    compiled = _compiled(principal, request)
    prepared = compiled.prepared
    _save_rows(prepared.run, to_text(prepared.run.inputs.get("message", "")), compiled.rows)
    return prepared


async def run_start(principal: Principal, request: RunRequest, *, early: bool = False) -> PreparedRun:
    """Admit, resolve and compile a run, and write its rows; raises TrellisError or FlowInvalid
    and creates nothing then. Hand the result to apps.runs.live (run_start_live, run_collect).

    `early`: return once the flow is compiled and write the rows meanwhile, so the model call
    starts while the run's row is being committed (the live socket's time to first token); the
    run's first event still waits for the row (a run is a row before its first token).
    """
    await remote.listening()  # a cancel sent through another worker reaches the runs started here
    if not early:
        return await in_db_thread(_start)(principal, request)
    # One trip to a database thread: it hands the compiled run back to the loop as soon as it has
    # it (the model call starts), then writes the rows and settles `saving` (no second thread hop
    # on the way to the first token).
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[PreparedRun] = loop.create_future()
    saving: asyncio.Future[Run] = loop.create_future()

    def work() -> None:
        compiled = _compiled(principal, request)
        prepared = compiled.prepared
        prepared.saving = saving
        loop.call_soon_threadsafe(_settle, ready, prepared, None)
        try:
            run = _save_rows(prepared.run, to_text(prepared.run.inputs.get("message", "")), compiled.rows)
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
    job.result()  # the admission, the reads or the compile failed: raises their error (nothing written)
    raise RuntimeError("run_start: the database thread ended without a run")  # not reached


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
