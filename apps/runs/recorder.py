"""Persists run events in batches, off the event loop, for every live run of this process.

One flush loop per process gathers the events of all runs and writes them in one transaction
every FLUSH_INTERVAL (or at once when a run ends): consecutive tokens of a node become one row,
spans are upserted, and each run's last_seq and heartbeat move forward. Sockets never wait for
the database, except for a run's final event, which is forwarded after it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.runs.models import Run, RunEvent, Span
from flows.events import TERMINAL, Event, EventType

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.2
HEARTBEAT_INTERVAL = 10.0
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


@dataclass
class _Pending:
    events: list[Event] = field(default_factory=list)
    final: Final | None = None
    done: asyncio.Future[None] | None = None


class Recorder:
    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = defaultdict(_Pending)
        self._open: set[str] = set()  # runs recorded here that have not finished
        self._beat_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="run-recorder")

    def record(self, event: Event) -> None:
        self._ensure_loop()
        self._open.add(event.run)
        self._pending[event.run].events.append(event)

    async def finish(self, run_id: str, final: Final) -> None:
        """Queue the run's last write and wait until it is committed."""
        self._ensure_loop()
        self._open.discard(run_id)
        pending = self._pending[run_id]
        pending.final = final
        pending.done = asyncio.get_running_loop().create_future()
        self._wake.set()
        await pending.done

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            self._wake.clear()
            now = asyncio.get_running_loop().time()
            if self._open and now - self._beat_at > HEARTBEAT_INTERVAL:
                # Runs waiting on a slow model write nothing for a while: keep them visibly alive.
                self._beat_at = now
                for run_id in self._open:
                    self._pending.setdefault(run_id, _Pending())
            if not self._pending:
                continue
            batch, self._pending = self._pending, defaultdict(_Pending)
            try:
                await sync_to_async(_write, thread_sensitive=False)(batch)
                error: BaseException | None = None
            except Exception as exc:  # a failed write must not kill the loop of every other run
                logger.exception("writing run events failed")
                error = exc
            for pending in batch.values():
                if pending.done is not None and not pending.done.done():
                    if error is None:
                        pending.done.set_result(None)
                    else:
                        pending.done.set_exception(error)


def _event_rows(run_id: str, events: list[Event]) -> list[RunEvent]:
    rows: list[RunEvent] = []
    for event in events:
        last = rows[-1] if rows else None
        if (
            event.type == EventType.TOKEN
            and last is not None
            and last.type == "token"
            and last.node == (event.node or "")
            and last.seq_end == event.seq - 1
        ):
            last.data["texts"].append(event.data["text"])
            last.seq_end = event.seq
            continue
        data = {"texts": [event.data["text"]]} if event.type == EventType.TOKEN else event.data
        rows.append(
            RunEvent(
                run_id=run_id,
                seq=event.seq,
                seq_end=event.seq,
                type=str(event.type),
                node=event.node or "",
                data=data,
                at=event.at,
            )
        )
    return rows


def _span_updates(run_id: str, events: list[Event], spans: dict[str, dict[str, Any]]) -> None:
    for event in events:
        status = _SPAN_STATUS.get(event.type)
        if status is None or event.node is None:
            continue
        span = spans.setdefault(event.node, {"run_id": run_id, "node": event.node})
        span["status"] = status
        data = event.data
        if event.type == EventType.NODE_STARTED:
            span.update(node_type=data.get("type", ""), started_at=event.at, inputs=data.get("inputs", {}))
        else:
            span.update(finished_at=event.at, latency_ms=data.get("latency_ms"))
        if event.type == EventType.NODE_FINISHED:
            span["outputs"] = data.get("outputs", {})
            usage = data.get("usage") or {}
            span.update(input_tokens=usage.get("input_tokens", 0), output_tokens=usage.get("output_tokens", 0))
        if event.type == EventType.NODE_FAILED:
            span.update(error_code=data.get("code", ""), error_message=data.get("message", ""))


def _write(batch: dict[str, _Pending]) -> None:
    close_old_connections()
    rows: list[RunEvent] = []
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id, pending in batch.items():
        rows += _event_rows(run_id, pending.events)
        per_run: dict[str, dict[str, Any]] = {}
        _span_updates(run_id, pending.events, per_run)
        spans.update({(run_id, node): values for node, values in per_run.items()})
    now = timezone.now()
    with transaction.atomic():
        RunEvent.objects.bulk_create(rows, ignore_conflicts=True)
        _upsert_spans(spans)
        for run_id, pending in batch.items():
            updates: dict[str, Any] = {"heartbeat_at": now, "worker": WORKER}
            if pending.events:
                updates["last_seq"] = pending.events[-1].seq
            terminal = next((e for e in reversed(pending.events) if e.type in TERMINAL), None)
            if terminal is not None and pending.final is not None:
                updates.update(_final_fields(terminal, pending.final))
            Run.objects.filter(pk=run_id).update(**updates)
            if terminal is not None and pending.final is not None and pending.final.assistant_message is not None:
                _store_assistant_message(run_id, pending.final.assistant_message)


def _upsert_spans(spans: dict[tuple[str, str], dict[str, Any]]) -> None:
    if not spans:
        return
    existing = {
        (str(s.run_id), s.node): s
        for s in Span.objects.filter(run_id__in={run for run, _ in spans}, node__in={node for _, node in spans})
    }
    create, update = [], []
    for key, values in spans.items():
        span = existing.get(key)
        if span is None:
            create.append(Span(**values))
        else:
            for name, value in values.items():
                setattr(span, name, value)
            update.append(span)
    Span.objects.bulk_create(create, ignore_conflicts=True)
    if update:
        Span.objects.bulk_update(
            update,
            [
                "status",
                "node_type",
                "started_at",
                "finished_at",
                "latency_ms",
                "inputs",
                "outputs",
                "input_tokens",
                "output_tokens",
                "error_code",
                "error_message",
            ],
        )


def _final_fields(terminal: Event, final: Final) -> dict[str, Any]:
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


def _store_assistant_message(run_id: str, text: str) -> None:
    from apps.runs.models import ChatMessage

    run = Run.objects.only("session_id").get(pk=run_id)
    if run.session_id is not None:
        ChatMessage.objects.create(
            session_id=run.session_id, role=ChatMessage.Role.ASSISTANT, content=text, run_id=run_id
        )


_recorders: dict[asyncio.AbstractEventLoop, Recorder] = {}


def recorder() -> Recorder:
    """The recorder of the running event loop (tests run several loops in one process)."""
    loop = asyncio.get_running_loop()
    if loop not in _recorders:
        for closed in [old for old in _recorders if old.is_closed()]:
            del _recorders[closed]
        _recorders[loop] = Recorder()
    return _recorders[loop]
