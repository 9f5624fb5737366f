"""Persists run events in batches, off the event loop, for every live run of this process.

One flush loop per process gathers the events of all runs and writes them in one transaction
every FLUSH_INTERVAL, stretched up to FLUSH_STRETCH times that while many runs are open (a run
that ends is written at once, alone with the others that end then, not with everyone's events;
under load it waits up to END_GATHER for the ends that follow, so they share one transaction):
consecutive tokens of a node become one row,
and spans are upserted whole. A run row's progress (last_seq, heartbeat, worker) moves forward
every PROGRESS_INTERVAL for the runs that streamed since, and every HEARTBEAT_INTERVAL for every
open run, in one statement: an UPDATE of every streaming run's row at every flush was most of
PostgreSQL's work at hundreds of concurrent runs (each writes a new version of a wide row).
Plain SQL with executemany (one pipelined round trip per statement): the ORM's per-row compile
was most of a run's CPU once hundreds of runs were open at a time. The event rows, the most
numerous, go as one JSON array in one statement (psycopg's per-row adaptation was most of the
rest). Sockets never
wait for the database, except for a run's final event, which is forwarded after it is stored.

Runs are isolated from each other: when the batch's transaction fails on a row (a run whose row
is missing, a value PostgreSQL refuses), it is written again one run at a time, each in its own
savepoint, so only that run loses its writes; it ends `failed` with the reason (on its row when
the row exists, and for its followers). When the database is down or busy the whole batch is
kept and tried again (backing off to every RETRY_MAX_DELAY) for RETRY_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from django import db as django_db
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.config.db import DatabaseUnavailable, bound_cursor, in_db_thread
from apps.config.errors import TrellisError
from apps.config.fastjson import dumps
from apps.runs.models import ChatMessage, Run, RunEvent, Span
from flows.events import TERMINAL, TOKEN, Event, EventType

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.2
# Under load the interval stretches with the runs open in this process: one more FLUSH_INTERVAL
# per FLUSH_RUNS open runs, up to FLUSH_STRETCH intervals (fewer, fuller token rows: at 500
# streaming runs a process wrote a token row per run 5 times a second; issue 15).
FLUSH_RUNS = 100
FLUSH_STRETCH = 5.0
# Under load (END_GATHER_RUNS open runs in the process) a run's end waits up to END_GATHER for the
# ends that follow, so they share one transaction (one thread hop, one COMMIT and its WAL flush);
# an end that falls within END_GATHER of the next full flush goes with it (issue 15).
END_GATHER = settings.RECORDER_GATHER_MS / 1000  # TRELLIS_RECORDER_GATHER_MS (0, off by default; 20 was measured)
END_GATHER_RUNS = FLUSH_RUNS
PROGRESS_INTERVAL = 2.0
HEARTBEAT_INTERVAL = 10.0
RETRY_MAX_DELAY = 2.0  # a batch the database could not take is tried again after at most this
RETRY_SECONDS = 60.0  # and given up (its runs fail) after this long
_ROW_ERRORS = (psycopg.IntegrityError, psycopg.DataError, django_db.IntegrityError, django_db.DataError)
WORKER = f"{socket.gethostname()}:{os.getpid()}"
_SPAN_STATUS = {
    EventType.NODE_STARTED: Span.Status.RUNNING,
    EventType.NODE_FINISHED: Span.Status.COMPLETED,
    EventType.NODE_FAILED: Span.Status.FAILED,
    EventType.NODE_SKIPPED: Span.Status.SKIPPED,
}
_RUN_STATUS = {
    EventType.RUN_FINISHED: Run.Status.COMPLETED,
    EventType.RUN_FAILED: Run.Status.FAILED,
    EventType.RUN_CANCELLED: Run.Status.CANCELLED,
}


@dataclass
class Final:
    """What the runner knows at the end that the events alone do not carry."""

    output_text: str
    cost: Decimal
    assistant_message: str | None = None
    session_id: str | None = None  # where the assistant message goes


class RunNotRecorded(TrellisError):
    """A run's events or final state could not be stored: it ends `failed` with this reason."""

    status, code = 500, "run_not_recorded"


@dataclass
class _Pending:
    events: list[Event] = field(default_factory=list)
    final: Final | None = None
    terminal: Event | None = None  # with `final`: the run's terminal event (maybe flushed before)
    done: asyncio.Future[None] | None = None
    failing_since: float | None = None  # when the database first refused this run's writes

    def merged(self, later: _Pending | None) -> _Pending:
        """This (older, unwritten) batch followed by what was queued since."""
        if later is None:
            return self
        return _Pending(
            events=self.events + later.events,
            final=later.final or self.final,
            terminal=later.terminal or self.terminal,
            done=later.done or self.done,
            failing_since=self.failing_since,
        )


class Recorder:
    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = defaultdict(_Pending)
        self._open: set[str] = set()  # runs recorded here that have not finished
        self._spans: dict[str, dict[str, dict[str, Any]]] = {}  # unfinished runs' spans, for _write
        self._beat_at = 0.0
        self._progress_at = 0.0
        self._unreported: dict[str, int] = {}  # streaming runs' last seq not yet on their row
        self._lost: dict[str, str] = {}  # runs whose writes failed -> why (their later events are dropped)
        self._terminals: dict[str, Event] = {}  # terminal events recorded, until their run's finish()
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="run-recorder")

    def record(self, event: Event) -> None:
        task = self._task  # _ensure_loop, inline: once per streamed token
        if task is None or task.done():
            self._ensure_loop()
        if event.run in self._lost:
            return
        self._open.add(event.run)
        self._pending[event.run].events.append(event)
        if event.type in TERMINAL:
            self._terminals[event.run] = event

    async def finish(self, run_id: str, final: Final) -> None:
        """Queue the run's last write and wait until it is committed; RunNotRecorded (or
        DatabaseUnavailable after RETRY_SECONDS) when it could not be."""
        self._ensure_loop()
        self._open.discard(run_id)
        terminal = self._terminals.pop(run_id, None)
        if (reason := self._lost.pop(run_id, None)) is not None:
            self._pending.pop(run_id, None)
            raise RunNotRecorded(reason)
        if terminal is None:
            raise RuntimeError(f"run {run_id}: finish() before its terminal event was recorded")
        pending = self._pending[run_id]
        # The terminal event may have gone out in an earlier flush: the final write goes with it
        # whichever batch it lands in (it sets the run's status and last_seq).
        pending.final, pending.terminal = final, terminal
        pending.done = asyncio.get_running_loop().create_future()
        self._wake.set()
        await pending.done

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        full_at = loop.time() + FLUSH_INTERVAL
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, full_at - loop.time()))
            if (wait := self._retry_at - loop.time()) > 0:
                await asyncio.sleep(wait)  # the database refused the last batch: back off
            elif self._wake.is_set() and (gather := self._gather(full_at - loop.time())) > 0:
                await asyncio.sleep(gather)  # under load: the ends of the next few ms go in this write
            self._wake.clear()
            if (now := loop.time()) >= full_at:
                batch, self._pending = self._pending, defaultdict(_Pending)
                full_at = now + flush_interval(len(self._open))
            else:
                # Woken by runs that end: their writes now, everyone else's at the interval.
                # (Flushing every run at each end was a row, a round trip's share and a thread
                # hand-off per streamed event once runs ended every few milliseconds: issue 15.)
                batch = {run_id: pending for run_id, pending in self._pending.items() if pending.done is not None}
                for run_id in batch:
                    del self._pending[run_id]
            for run_id, pending in batch.items():
                if pending.final is not None:
                    self._unreported.pop(run_id, None)  # its final write sets last_seq
                elif pending.events:
                    self._unreported[run_id] = max(self._unreported.get(run_id, 0), pending.events[-1].seq)
            progress = self._progress(loop.time())
            if not batch and not progress:
                continue
            try:
                lost = await in_db_thread(_write)(batch, self._spans, progress)
            except Exception as exc:  # the database is down or busy (or a bug): all of it again later
                self._keep_for_retry(batch, progress, exc, loop.time())
                continue
            self._retry_at = self._retry_delay = 0.0
            for run_id, pending in batch.items():
                reason = lost.get(run_id)
                if reason is not None:
                    self._lose(run_id, reason)
                if pending.done is not None and not pending.done.done():
                    if reason is None:
                        pending.done.set_result(None)
                    else:
                        self._lost.pop(run_id, None)  # told now, through the future
                        pending.done.set_exception(RunNotRecorded(reason))

    def _gather(self, to_full: float) -> float:
        """Seconds an end's write waits for the ends that follow: none below END_GATHER_RUNS open
        runs (a REST answer or a lone chat is written at once); under load END_GATHER, or until
        the full flush when that comes sooner (the ends then go with it: one COMMIT)."""
        if len(self._open) < END_GATHER_RUNS:
            return 0.0
        return max(0.0, min(END_GATHER, to_full))

    def _lose(self, run_id: str, reason: str) -> None:
        """Drop what is left of a run whose writes failed; its finish() raises RunNotRecorded."""
        self._lost[run_id] = reason
        self._terminals.pop(run_id, None)
        self._open.discard(run_id)
        self._unreported.pop(run_id, None)
        self._spans.pop(run_id, None)
        self._pending.pop(run_id, None)

    def _keep_for_retry(
        self, batch: dict[str, _Pending], progress: list[tuple[str, int]], error: BaseException, now: float
    ) -> None:
        """Put an unwritten batch back in front of what was queued since; fail the runs that
        have waited RETRY_SECONDS."""
        if not isinstance(error, DatabaseUnavailable):
            logger.error("writing run events failed; trying again", exc_info=error)
        else:
            logger.warning("the database refused run events (%s); trying again", error.code)
        later, self._pending = self._pending, defaultdict(_Pending)
        for run_id, pending in batch.items():
            pending.failing_since = pending.failing_since or now
            if now - pending.failing_since > RETRY_SECONDS:
                logger.error("giving up writing the events of run %s", run_id)
                self._lose(run_id, "The run's events could not be stored: the database was unavailable.")
                later.pop(run_id, None)
                if pending.done is not None and not pending.done.done():
                    self._lost.pop(run_id, None)
                    pending.done.set_exception(DatabaseUnavailable("The run's events could not be stored."))
                continue
            self._pending[run_id] = pending.merged(later.pop(run_id, None))
        self._pending.update(later)
        for run_id, seq in progress:
            if run_id not in self._lost:
                self._unreported[run_id] = max(self._unreported.get(run_id, 0), seq)
        self._retry_delay = min(RETRY_MAX_DELAY, max(FLUSH_INTERVAL, self._retry_delay * 2))
        self._retry_at = now + self._retry_delay

    def _progress(self, now: float) -> list[tuple[str, int]]:
        """(run, last seq) for the rows whose progress is due: every open run at a heartbeat, the
        runs that streamed since the last progress write every PROGRESS_INTERVAL."""
        if self._open and now - self._beat_at > HEARTBEAT_INTERVAL:
            # Runs waiting on a slow model write nothing for a while: keep them visibly alive.
            progress = [(run_id, self._unreported.get(run_id, 0)) for run_id in self._open]
            self._beat_at = now
        elif self._unreported and now - self._progress_at >= PROGRESS_INTERVAL:
            progress = list(self._unreported.items())
        else:
            return []
        self._progress_at = now
        self._unreported.clear()
        return progress


def flush_interval(open_runs: int) -> float:
    """Seconds to the next full flush with `open_runs` runs open in this process."""
    return FLUSH_INTERVAL * min(FLUSH_STRETCH, max(1.0, open_runs / FLUSH_RUNS))


def _event_rows(run_id: str, events: list[Event]) -> list[list[Any]]:
    """[run, seq, seq_end, type, node, data, at] rows; consecutive tokens of a node become one row
    (`data` still a Python value: the run's rows are encoded as one JSON array by _run_rows)."""
    rows: list[list[Any]] = []
    texts: list[str] | None = None  # the open token row's texts
    for event in events:
        last = rows[-1] if rows else None
        if (
            event.type == TOKEN
            and texts is not None
            and last is not None
            and last[4] == (event.node or "")
            and last[2] == event.seq - 1
        ):
            texts.append(event.data["text"])
            last[2] = event.seq
            continue
        if event.type == TOKEN:
            texts = [event.data["text"]]
            data: Any = {"texts": texts}
        else:
            texts, data = None, event.data
        rows.append([run_id, event.seq, event.seq, str(event.type), event.node or "", data, event.at])
    return rows


def _span_updates(run_id: str, events: list[Event], spans: dict[str, dict[str, Any]]) -> set[str]:
    """Apply the events to the run's spans; the nodes whose span changed."""
    touched: set[str] = set()
    for event in events:
        status = _SPAN_STATUS.get(event.type)
        if status is None or event.node is None:
            continue
        span = spans.setdefault(event.node, {"run_id": run_id, "node": event.node, **_SPAN_DEFAULTS})
        touched.add(event.node)
        span["status"] = status
        data = event.data
        if event.type == EventType.NODE_STARTED:
            span.update(node_type=data.get("type", ""), started_at=event.at, inputs=data.get("inputs", {}))
        else:
            span.update(finished_at=event.at, latency_ms=data.get("latency_ms"))
        if event.type == EventType.NODE_FINISHED:
            span["outputs"] = data.get("outputs", {})
            if data.get("notes"):  # what the node said about its work (the LLM node's context fit)
                span["outputs"] = {**span["outputs"], "notes": data["notes"]}
            usage = data.get("usage") or {}
            span.update(input_tokens=usage.get("input_tokens", 0), output_tokens=usage.get("output_tokens", 0))
        if event.type == EventType.NODE_FAILED:
            span.update(error_code=data.get("code", ""), error_message=data.get("message", ""))
    return touched


_SPAN_DEFAULTS: dict[str, Any] = {
    "node_type": "",
    "started_at": None,
    "finished_at": None,
    "latency_ms": None,
    "inputs": {},
    "outputs": {},
    "input_tokens": 0,
    "output_tokens": 0,
    "error_code": "",
    "error_message": "",
}
_SPAN_COLUMNS = ["run_id", "node", "status", *_SPAN_DEFAULTS]
_SPAN_JSON = {"inputs", "outputs"}
_FINAL_COLUMNS = [
    "status",
    "finished_at",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "usage",
    "cost",
    "output_text",
    "output",
    "error_code",
    "error_message",
    "failed_node",
]
_FINAL_JSON = {"usage", "output"}


@functools.cache
def _sql() -> dict[str, str]:
    """The recorder's statements: plain SQL, one round trip each (executemany pipelines)."""
    events, spans, runs = RunEvent._meta.db_table, Span._meta.db_table, Run._meta.db_table
    messages = ChatMessage._meta.db_table
    span_values = ", ".join("%s::jsonb" if c in _SPAN_JSON else "%s" for c in _SPAN_COLUMNS)
    span_updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _SPAN_COLUMNS[2:])
    final_sets = ", ".join(f"{c} = %s::jsonb" if c in _FINAL_JSON else f"{c} = %s" for c in _FINAL_COLUMNS)
    # Only table and column names from the models are formatted in; values are always parameters.
    return {
        # Every event row of the batch in one statement, from one JSON array of row arrays (the
        # rows of _event_rows): one parameter to send, where executemany had psycopg adapt seven
        # values per row in Python (most of the recorder's CPU at a thousand streaming runs).
        "events": f"INSERT INTO {events} (run_id, seq, seq_end, type, node, data, at) "  # noqa: S608
        "SELECT (e->>0)::uuid, (e->>1)::integer, (e->>2)::integer, e->>3, e->>4, e->5, (e->>6)::float8 "
        "FROM jsonb_array_elements(%s::jsonb) AS e ON CONFLICT (run_id, seq) DO NOTHING",
        "spans": f"INSERT INTO {spans} ({', '.join(_SPAN_COLUMNS)}) VALUES ({span_values}) "  # noqa: S608
        f"ON CONFLICT (run_id, node) DO UPDATE SET {span_updates}",
        # Every open run of the batch in one statement: ids and sequence numbers as two arrays.
        "progress": f"UPDATE {runs} AS r SET last_seq = GREATEST(r.last_seq, v.seq), "  # noqa: S608
        "heartbeat_at = %s, worker = %s "
        "FROM unnest(string_to_array(%s, ',')::uuid[], string_to_array(%s, ',')::int[]) AS v(id, seq) "
        "WHERE r.id = v.id",
        "final": f"UPDATE {runs} SET {final_sets}, last_seq = %s, heartbeat_at = %s, worker = %s "  # noqa: S608
        "WHERE id = %s",
        "message": f"INSERT INTO {messages} (session_id, role, content, run_id, created_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s)",
        "lost": f"UPDATE {runs} SET status = 'failed', error_code = 'run_not_recorded', "  # noqa: S608
        "error_message = %s, finished_at = %s, heartbeat_at = %s, worker = %s "
        "WHERE id = %s AND status = 'running'",
    }


@dataclass
class _Rows:
    """One run's rows of a batch, per statement (`events`: JSON arrays of event rows, one per run)."""

    events: list[str] = field(default_factory=list)
    spans: list[list[Any]] = field(default_factory=list)
    finals: list[list[Any]] = field(default_factory=list)
    messages: list[list[Any]] = field(default_factory=list)

    def extend(self, other: _Rows) -> None:
        self.events += other.events
        self.spans += other.spans
        self.finals += other.finals
        self.messages += other.messages


def _write(
    batch: dict[str, _Pending], spans_open: dict[str, dict[str, dict[str, Any]]], progress: list[tuple[str, int]]
) -> dict[str, str]:
    """One transaction for the batch: events, spans, the runs' progress, then the finished runs.
    When a row is refused, the batch again one run at a time, each in a savepoint: the runs that
    could not be written (-> why) are returned, marked failed on their rows, and the rest is
    committed. A database that is down or busy raises (nothing committed; the caller retries).

    `spans_open` is the recorder's memory of each unfinished run's spans (run -> node -> columns):
    a span row is always written whole, so a later event never needs the row read back."""
    now = timezone.now()
    plans: dict[str, _Rows] = {}
    lost: dict[str, str] = {}
    for run_id, pending in batch.items():
        try:
            plans[run_id] = _run_rows(run_id, pending, spans_open, now)
        except Exception as exc:  # a value that cannot be stored (JSON): this run only
            logger.exception("run %s: its events cannot be stored", run_id)
            lost[run_id] = _reason(exc)
    everything = _Rows()
    for rows in plans.values():
        everything.extend(rows)
    try:
        with transaction.atomic(), bound_cursor() as cursor:
            if not everything.finals and not lost:
                # Nothing a client waits on: the commit need not wait for the WAL flush (docs/adr/0005).
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            _execute(cursor, everything)
            _execute_progress(cursor, progress, now)
            _mark_failed(cursor, lost, now)
    except _ROW_ERRORS:
        logger.warning("a run's rows were refused; writing the batch one run at a time", exc_info=True)
        with transaction.atomic(), bound_cursor() as cursor:
            # Foreign keys are checked at commit (deferred): here at each statement, in its savepoint.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for run_id, rows in plans.items():
                try:
                    with transaction.atomic():  # a savepoint: one run's refusal leaves the others
                        _execute(cursor, rows)
                except _ROW_ERRORS as exc:
                    logger.error("run %s: its rows were refused: %s", run_id, exc)
                    lost[run_id] = _reason(exc)
            _execute_progress(cursor, [(r, seq) for r, seq in progress if r not in lost], now)
            _mark_failed(cursor, lost, now)
    for run_id, pending in batch.items():  # written: a finished run's spans are not needed any more
        if pending.final is not None or run_id in lost:
            spans_open.pop(run_id, None)
    return lost


def _run_rows(run_id: str, pending: _Pending, spans_open: dict[str, dict[str, dict[str, Any]]], now: Any) -> _Rows:
    events = _event_rows(run_id, pending.events)
    # Encoded here, one run at a time: a value that cannot be stored fails this run only.
    rows = _Rows(events=[dumps(events)] if events else [])
    spans = spans_open.setdefault(run_id, {})
    for node in _span_updates(run_id, pending.events, spans):
        values = spans[node]
        rows.spans.append([dumps(values[c]) if c in _SPAN_JSON else values[c] for c in _SPAN_COLUMNS])
    terminal = pending.terminal
    if terminal is not None and pending.final is not None:
        fields = final_fields(terminal, pending.final)
        row = [dumps(fields[c]) if c in _FINAL_JSON else fields[c] for c in _FINAL_COLUMNS]
        rows.finals.append([*row, terminal.seq, now, WORKER, run_id])
        final = pending.final
        if final.assistant_message is not None and final.session_id is not None:
            rows.messages.append([final.session_id, ChatMessage.Role.ASSISTANT, final.assistant_message, run_id, now])
    return rows


def _execute(cursor: psycopg.Cursor[Any], rows: _Rows) -> None:
    sql = _sql()
    if rows.events:
        # The runs' arrays joined into one: "[a,b]" and "[c]" -> "[a,b,c]".
        cursor.execute(sql["events"], ["[" + ",".join(array[1:-1] for array in rows.events) + "]"])
    if rows.spans:
        cursor.executemany(sql["spans"], rows.spans)
    if rows.finals:
        cursor.executemany(sql["final"], rows.finals)
    if rows.messages:
        cursor.executemany(sql["message"], rows.messages)


def _execute_progress(cursor: psycopg.Cursor[Any], progress: list[tuple[str, int]], now: Any) -> None:
    if progress:
        ids = ",".join(run_id for run_id, _ in progress)
        seqs = ",".join(str(seq) for _, seq in progress)
        cursor.execute(_sql()["progress"], [now, WORKER, ids, seqs])


def _mark_failed(cursor: psycopg.Cursor[Any], lost: dict[str, str], now: Any) -> None:
    """The rows of the runs whose writes were refused (those that exist) end failed with why."""
    if lost:
        cursor.executemany(_sql()["lost"], [[reason, now, now, WORKER, run_id] for run_id, reason in lost.items()])


def _reason(exc: BaseException) -> str:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"The run's events could not be stored: {detail[:300]}"


def final_fields(terminal: Event, final: Final) -> dict[str, Any]:
    data = terminal.data
    usage = data.get("usage") or {}
    fields: dict[str, Any] = {
        "status": _RUN_STATUS[terminal.type],
        "finished_at": datetime.fromtimestamp(terminal.at, tz=UTC),
        "latency_ms": data.get("latency_ms"),
        "ttft_ms": data.get("ttft_ms"),
        "input_tokens": usage.get("input_tokens", 0),
        "output_tokens": usage.get("output_tokens", 0),
        "usage": usage,
        "cost": final.cost,
        "output_text": final.output_text,
        "output": {},
        "error_code": "",
        "error_message": "",
        "failed_node": "",
    }
    if terminal.type == EventType.RUN_FINISHED:
        fields["output"] = data.get("outputs", {})
    elif terminal.type == EventType.RUN_FAILED:
        fields.update(
            error_code=data.get("code", ""), error_message=data.get("message", ""), failed_node=data.get("node") or ""
        )
    else:
        fields.update(error_code="cancelled", error_message="The run was cancelled.")
    return fields


_recorders: dict[asyncio.AbstractEventLoop, Recorder] = {}


def recorder() -> Recorder:
    """The recorder of the running event loop (tests run several loops in one process)."""
    loop = asyncio.get_running_loop()
    if loop not in _recorders:
        for closed in [old for old in _recorders if old.is_closed()]:
            del _recorders[closed]
        _recorders[loop] = Recorder()
    return _recorders[loop]
