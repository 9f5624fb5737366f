"""Two web processes on one database, as `manage.py serve --workers 2` runs them: a run started
through one is followed (resume) and cancelled through the other."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import websockets

from apps.runs.models import Run
from tests.conftest import Member
from tests.support.standin import reply_tokens

pytestmark = pytest.mark.django_db(transaction=True)


async def _until(ws: Any, kinds: set[str], seen: list[dict[str, Any]], timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        seen.append(event)
        if event["type"] in kinds:
            return event


def test_a_run_on_one_worker_is_resumed_and_cancelled_through_another(
    live_url: str,
    second_url: str,
    org_a: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    endpoint(alias="slow", model="standin-rate-10-n-100")  # ten seconds of tokens
    flow = publish_flow(alias="slow")
    headers = {"Authorization": f"Bearer {api_key_for(org_a)}"}
    first, second = (url.replace("http", "ws") + "/ws/" for url in (live_url, second_url))

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
        async with (
            websockets.connect(first, additional_headers=headers, open_timeout=10) as a,
            websockets.connect(second, additional_headers=headers, open_timeout=10) as b,
        ):
            on_a: list[dict[str, Any]] = []
            on_b: list[dict[str, Any]] = []
            await a.send(json.dumps({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}}))
            started = await _until(a, {"run.started"}, on_a)
            run_id = started["run"]
            for _ in range(5):
                await _until(a, {"token"}, on_a)
            # The other process does not hold the run: it replays the stored events, then follows.
            await b.send(json.dumps({"type": "run.resume", "run": run_id, "after": 0}))
            for _ in range(3):
                await _until(b, {"token"}, on_b)
            cancelled_at = time.monotonic()
            await b.send(json.dumps({"type": "run.cancel", "run": run_id}))
            await _until(a, {"run.cancelled", "run.finished", "run.failed"}, on_a)
            took = time.monotonic() - cancelled_at
            await _until(b, {"run.cancelled", "run.finished", "run.failed", "error"}, on_b)
            return on_a, on_b, took

    on_a, on_b, took = asyncio.run(scenario())
    assert on_a[-1]["type"] == "run.cancelled" and took < 3, (on_a[-1], took)
    assert on_b[-1]["type"] == "run.cancelled", on_b[-1]
    # Through the other process: every event once, in order, from the first, and the same text.
    seqs = [event["seq"] for event in on_b]
    assert seqs == list(range(1, len(seqs) + 1))
    text_b = "".join(e["data"]["text"] for e in on_b if e["type"] == "token")
    text_a = "".join(e["data"]["text"] for e in on_a if e["type"] == "token")
    assert text_b == text_a and "".join(reply_tokens(100)).startswith(text_b) and text_b
    run = Run.objects.get(pk=on_a[0]["run"])
    assert run.status == Run.Status.CANCELLED and run.output_text == text_a
