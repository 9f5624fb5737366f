"""Runs held by another web process (`manage.py serve --workers N`).

A live run belongs to the process executing it (apps.runs.runner.LIVE), but a tab may reconnect,
or a cancel may arrive, through any worker. Two things cross processes, both through the
PostgreSQL every process already has (no broker):

- Cancel: a process that does not hold the run sends NOTIFY on CHANNEL. Every process that
  executes runs LISTENs there (one connection each, opened before its first run starts), and the
  one holding the run cancels it.
- Following: the recorder stores each run's events every 0.2 s (apps.runs.recorder), so another
  process replays them after the client's sequence number and then reads new ones every
  POLL_SECONDS until the terminal event. A run whose process died (no terminal event, marked
  failed by the reaper) ends its followers with run.failed from its row.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from django.db import connection

from apps.config.db import in_db_thread
from apps.runs.models import Run
from flows.events import TERMINAL, EventType

logger = logging.getLogger(__name__)

CHANNEL = "trellis_runs"
POLL_SECONDS = 0.25
READY_TIMEOUT_S = 5.0
_TERMINAL_TYPES = {str(t) for t in TERMINAL}
_STATUS_TERMINAL = {
    Run.Status.COMPLETED: EventType.RUN_FINISHED,
    Run.Status.FAILED: EventType.RUN_FAILED,
    Run.Status.CANCELLED: EventType.RUN_CANCELLED,
}
_listeners: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task[None], asyncio.Future[None]]] = {}


# --- cancel ---


def notify_cancel(run_id: str) -> None:
    """Ask whichever process holds the run to cancel it (database thread; sent on commit)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, json.dumps({"cancel": run_id})])


async def listening() -> None:
    """This process's LISTEN is up (started once per event loop; reconnects if it drops)."""
    loop = asyncio.get_running_loop()
    entry = _listeners.get(loop)
    if entry is not None and entry[1].done() and not entry[0].done():
        return  # up (every run start asks)
    for closed in [old for old in _listeners if old.is_closed()]:
        del _listeners[closed]
    entry = _listeners.get(loop)
    if entry is None or entry[0].done():
        ready: asyncio.Future[None] = loop.create_future()
        entry = _listeners[loop] = (loop.create_task(_listen(ready), name="runs-listener"), ready)
    try:
        await asyncio.wait_for(asyncio.shield(entry[1]), READY_TIMEOUT_S)
    except TimeoutError:
        logger.warning("the runs listener is not up yet: a cancel from another worker may be missed")


def _conninfo() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    info = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None}
    info |= {"host": db.get("HOST") or None, "port": db.get("PORT") or None}
    return {k: v for k, v in info.items() if v}


async def _listen(ready: asyncio.Future[None]) -> None:
    import psycopg

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(autocommit=True, **_conninfo()) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if not ready.done():
                    ready.set_result(None)
                async for notify in conn.notifies():
                    _on_notify(notify.payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("the runs listener lost its connection; reconnecting", exc_info=True)
            await asyncio.sleep(2)


def _on_notify(payload: str) -> None:
    from apps.runs.runner import LIVE  # the runner imports this module

    try:
        message = json.loads(payload)
    except ValueError:
        return
    live = LIVE.get(str(message.get("cancel"))) if isinstance(message, dict) else None
    if live is not None and not live.task.done():
        logger.info("cancelling run %s at another worker's request", live.run_id)
        live.task.cancel()


# --- following ---


def _events_and_status(run_id: str, after: int) -> tuple[list[dict[str, Any]], Run | None]:
    """The run's row, then its stored events after `after`: a run that had ended when its row was
    read has all its events stored (the last write commits both together)."""
    from apps.runs.runner import stored_events

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
