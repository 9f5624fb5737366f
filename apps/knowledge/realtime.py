"""Ingestion progress to the browser: worker -> channel layer group `knowledge.<kb>` -> sockets.

With Redis the worker sends to the channel layer directly. With the embedded in-memory layer the
worker is another process, so it sends a PostgreSQL NOTIFY instead and each web process runs one
LISTEN bridge that forwards into its own in-memory layer. Either way an event leaves only after
the transaction that made it true has committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction

from apps.knowledge.models import Document

logger = logging.getLogger(__name__)
CHANNEL = "trellis_knowledge"
BRIDGE_WAIT_S = 5.0  # how long a subscribe waits for a new bridge's LISTEN
_bridge: asyncio.Task[None] | None = None
_listening: asyncio.Event | None = None  # set once the bridge's LISTEN is in place


def group_name(knowledge_base_id: object) -> str:
    return f"knowledge.{knowledge_base_id}"


def progress_event(document: Document) -> dict[str, Any]:
    return {
        "type": "knowledge.progress",
        "knowledge_base": str(document.knowledge_base_id),
        "document": str(document.id),
        "status": document.status,
        "progress": round(document.progress, 4),
        "chunk_count": document.chunk_count,
        "page_count": document.page_count,
        "error_code": document.error_code,
        "error_message": document.error_message[:500],
    }


def _in_memory_layer() -> bool:
    return "InMemory" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


def _send(event: dict[str, Any]) -> None:
    try:
        if _in_memory_layer():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, json.dumps(event)])
        else:
            layer = get_channel_layer()
            if layer is not None:
                async_to_sync(layer.group_send)(
                    group_name(event["knowledge_base"]), {**event, "type": "knowledge.event"}
                )
    except Exception:  # progress is a courtesy: the database row stays the truth
        logger.warning("could not publish knowledge progress", exc_info=True)


def publish(document: Document) -> None:
    event = progress_event(document)
    transaction.on_commit(lambda: _send(event))


def publish_event(event: dict[str, Any]) -> None:
    """Any event for the base's group (a source's sync: `event` = "knowledge.source"), after commit."""
    transaction.on_commit(lambda: _send(event))


async def ensure_bridge() -> None:
    """Start this process's LISTEN -> channel layer bridge once (embedded mode only), and wait (up
    to BRIDGE_WAIT_S) until it listens: a subscriber told "subscribed" must not miss an event
    sent right after (the first NOTIFY of a sync was lost on a loaded machine while the bridge was
    still connecting)."""
    global _bridge, _listening  # noqa: PLW0603 - one bridge per process
    if not _in_memory_layer():
        return
    loop = asyncio.get_running_loop()
    # A bridge on another (closed) loop never finishes: start one on this loop instead.
    if _bridge is None or _bridge.done() or _bridge.get_loop() is not loop:
        _listening = asyncio.Event()
        _bridge = loop.create_task(_listen(_listening))
    if _listening is not None and not _listening.is_set():
        try:
            await asyncio.wait_for(_listening.wait(), BRIDGE_WAIT_S)
        except TimeoutError:  # the database is slow or away: the bridge keeps trying; progress is a courtesy
            logger.warning("knowledge progress bridge not listening after %.0f s", BRIDGE_WAIT_S)


def _conninfo() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    info = {"dbname": db["NAME"], "user": db.get("USER") or None, "password": db.get("PASSWORD") or None}
    info |= {"host": db.get("HOST") or None, "port": db.get("PORT") or None}
    return {k: v for k, v in info.items() if v}


async def _listen(listening: asyncio.Event) -> None:
    import psycopg

    layer = get_channel_layer()
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(autocommit=True, **_conninfo()) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                listening.set()
                async for notify in conn.notifies():
                    event = json.loads(notify.payload)
                    if layer is not None:
                        await layer.group_send(
                            group_name(event["knowledge_base"]), {**event, "type": "knowledge.event"}
                        )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("knowledge progress bridge lost its connection; reconnecting", exc_info=True)
            await asyncio.sleep(2)
