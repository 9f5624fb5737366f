"""Cancelling a run wherever it executes (`manage.py serve --workers N`).

A live run belongs to the process executing it (apps.runs.live.LIVE), but a cancel may arrive
through any worker. It crosses processes through the PostgreSQL every process already has (no
broker): a process that does not hold the run sends NOTIFY on CHANNEL; every process that
executes runs LISTENs there (one connection each, opened before its first run starts), and the
one holding the run cancels it. (Following a run another worker holds: apps.runs.replay.)
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from uuid import UUID

from django.db import connection

from apps.config.db import in_db_thread
from apps.runs.live import LIVE
from apps.runs.models import Run
from apps.runs.replay import run_for_actor
from apps.tenancy.access import Actor

logger = logging.getLogger(__name__)

CHANNEL = "trellis_runs"
READY_TIMEOUT_S = 5.0
_listeners: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task[None], asyncio.Future[None]]] = {}


async def run_cancel(*, actor: Actor, run_id: UUID) -> bool:
    """Cancel a run this actor may see, here or in the worker holding it; False when it is not
    running. One trip to a database thread."""
    return await in_db_thread(_cancel)(actor, run_id)


def _cancel(actor: Actor, run_id: UUID) -> bool:
    return run_cancel_request(run_for_actor(actor, run_id))


def run_cancel_request(run: Run) -> bool:
    """Cancel `run` (already access-checked) where it executes: this process, or another worker
    through NOTIFY. False when it is not running. Database thread."""
    live = LIVE.get(str(run.pk))
    if live is not None:
        if live.task.done():
            return False
        live.cancel()
        return True
    if run.status != Run.Status.RUNNING:
        return False
    notify_cancel(str(run.pk))
    return True


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
    try:
        message = json.loads(payload)
    except ValueError:
        return
    live = LIVE.get(str(message.get("cancel"))) if isinstance(message, dict) else None
    if live is not None and not live.task.done():
        logger.info("cancelling run %s at another worker's request", live.run_id)
        live.task.cancel()
