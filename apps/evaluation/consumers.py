"""Evaluation progress on the tab's one WebSocket (apps/runs/consumers.py hands these over).

Client: `{"type": "evaluation.subscribe", "evaluation": id}` / `evaluation.unsubscribe`.
Server: `evaluation.progress` {evaluation, status, done, failed, total, cost} at each change
until the evaluation ends. The job runs in a queue worker (another process in every mode), so the
socket reads the evaluation's row twice a second while subscribed: one indexed read, and the row
stays the one truth. Another organization's evaluation answers `not_found`, like every endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

from apps.config.db import in_db_thread
from apps.config.errors import NotFound
from apps.evaluation.models import Evaluation
from apps.tenancy.access import Actor, access_org_by_id

MESSAGE_TYPES = frozenset({"evaluation.subscribe", "evaluation.unsubscribe"})
POLL_S = 0.5
ENDED = {Evaluation.Status.COMPLETED, Evaluation.Status.FAILED, Evaluation.Status.CANCELLED}


def progress_of(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "evaluation.progress",
        "evaluation": str(row["id"]),
        "status": row["status"],
        "done": row["done"],
        "failed": row["failed"],
        "total": row["total"],
        "cost": str(row["cost"]),
        "estimated_cost": str(row["estimated_cost"]),
    }


def _read(actor: Actor, evaluation_id: object) -> dict[str, Any]:
    try:
        pk = UUID(str(evaluation_id))
    except ValueError:
        raise NotFound("Evaluation not found.") from None
    fields = ("id", "organization_id", "status", "done", "failed", "total", "cost", "estimated_cost")
    row = Evaluation.objects.filter(pk=pk).values(*fields).first()
    access_org_by_id(actor=actor, org_id=row["organization_id"] if row else "-")  # 404 for strangers
    if row is None:
        raise NotFound("Evaluation not found.")
    return dict(row)


async def _follow(consumer: Any, actor: Actor, evaluation_id: object, first: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # a closed socket, a lost database: the follow ends quietly
        await _follow_until_end(consumer, actor, evaluation_id, first)


async def _follow_until_end(consumer: Any, actor: Actor, evaluation_id: object, first: dict[str, Any]) -> None:
    last: dict[str, Any] | None = None
    row = first
    while True:
        event = progress_of(row)
        if event != last:
            await consumer.send_json(event)
            last = event
        if row["status"] in ENDED:
            return
        await asyncio.sleep(POLL_S)
        row = await in_db_thread(_read)(actor, evaluation_id)


async def handle(consumer: Any, content: dict[str, Any]) -> None:
    """Subscribe or unsubscribe `consumer` (a channels consumer with `actor`)."""
    target = content.get("evaluation")
    tasks: dict[str, asyncio.Task[None]] = consumer.__dict__.setdefault("_evaluation_follows", {})
    key = str(target)
    if content.get("type") == "evaluation.unsubscribe":
        task = tasks.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return
    row = await in_db_thread(_read)(consumer.actor, target)
    if key in tasks and not tasks[key].done():
        return
    tasks[key] = asyncio.create_task(_follow(consumer, consumer.actor, target, row))
