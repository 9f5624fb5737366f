"""Replaying a run's events: from the live buffer while the run executes in this process, else
from the database (token rows expanded back to one event per token), then the new ones as the
recorder stores them, until the terminal event. This is how a reconnecting tab, a widget's
resume and a follower on another web worker (`manage.py serve --workers N`) catch up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from apps.config.db import in_db_thread
from apps.config.errors import NotFound
from apps.runs.live import LIVE, follow
from apps.runs.models import Run, RunEvent
from apps.tenancy.access import Actor, access_org_by_id
from flows.events import TERMINAL, EventType

POLL_SECONDS = 0.25
_TERMINAL_TYPES = {str(t) for t in TERMINAL}
_STATUS_TERMINAL = {
    Run.Status.COMPLETED: EventType.RUN_FINISHED,
    Run.Status.FAILED: EventType.RUN_FAILED,
    Run.Status.CANCELLED: EventType.RUN_CANCELLED,
}


def run_for_actor(actor: Actor, run_id: UUID) -> Run:
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
    run = await in_db_thread(run_for_actor)(actor, run_id)
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
    async for wire in follow_stored(run_id, after):
        yield wire


def _events_and_status(run_id: str, after: int) -> tuple[list[dict[str, Any]], Run | None]:
    """The run's row, then its stored events after `after`: a run that had ended when its row was
    read has all its events stored (the last write commits both together)."""
    run = Run.objects.filter(pk=run_id).only("status", "error_code", "error_message").first()
    return stored_events(run_id, after), run


async def follow_stored(run_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
    """The run's events after `after` from the database, then the new ones as they are stored,
    until its terminal event."""
    last = after
    while True:
        wires, run = await in_db_thread(_events_and_status)(run_id, last)
        for wire in wires:
            yield wire
            last = wire["seq"]
            if wire["type"] in _TERMINAL_TYPES:
                return
        if run is None:
            return
        if run.status != Run.Status.RUNNING:
            yield _terminal_from_row(run, last)  # ended without a stored terminal event (reaped)
            return
        await asyncio.sleep(POLL_SECONDS)


def _terminal_from_row(run: Run, last: int) -> dict[str, Any]:
    kind = _STATUS_TERMINAL.get(Run.Status(run.status), EventType.RUN_FAILED)
    data: dict[str, Any] = {}
    if kind == EventType.RUN_FAILED:
        data = {"code": run.error_code or "worker_lost", "message": run.error_message, "node": None}
    return {"run": str(run.pk), "seq": last + 1, "type": str(kind), "node": None, "data": data}
