"""The recorder's event rows go to PostgreSQL as one JSON array per batch (one statement for every
run's rows): what a follower replays from the database is exactly what the live run sent, text,
data, timestamps and order alike, whatever the text holds, and a resume from any sequence number
gives the rest of it."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.builder.services import flow_create
from apps.runs.models import Run, RunEvent
from apps.runs.recorder import Final, Recorder
from apps.runs.replay import stored_events
from flows.events import Event, EventType
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)

# Text a model may send: quotes, backslashes, escapes, control characters, non-ASCII, emoji
# (astral plane), right-to-left marks, a lone JSON-looking fragment, and long text.
TEXTS = [
    "Hello",
    ' "quoted" ',
    "back\\slash \\u0041 \\n",
    "line\nbreak\ttab\r",
    "\x01\x1f\x7f",
    "héllo wörld ß",
    "日本語のテキスト",
    "🙂👍🏽 \U0001f9d1\u200d\U0001f4bb",
    "\u202eRTL\u202c",
    '{"content": "x"}',
    "[1, 2]",
    "x" * 5000,
    " ",
]


def _new_run(member: Member) -> str:
    flow = flow_create(access=member.access, name=f"flow {uuid.uuid4().hex[:6]}", description="", graph=chat_flow())
    return str(Run.objects.create(organization=member.organization, flow=flow).pk)


def _events(run_id: str, node: str) -> list[Event]:
    """run.started, node.started, a token per text (two nodes' tokens interleaved would not be
    consecutive: one node here), node.finished with nested data, run.finished; times with
    full float precision."""
    at = 1_765_000_000.123456789
    events = [
        Event(1, EventType.RUN_STARTED, run_id, None, {"inputs": {"message": 'q ü \\ "'}}, at),
        Event(2, EventType.NODE_STARTED, run_id, node, {"type": "llm", "inputs": {"n": [1, 2.5, None]}}, at + 0.1),
    ]
    for i, text in enumerate(TEXTS):
        # (a token row keeps its first token's time: the tokens of a row replay with it)
        events.append(Event(3 + i, EventType.TOKEN, run_id, node, {"text": text}, at + 2 / 7))
    seq = len(events) + 1
    events.append(
        Event(
            seq,
            EventType.NODE_FINISHED,
            run_id,
            node,
            {"outputs": {"text": "".join(TEXTS)}, "usage": {"input_tokens": 3, "output_tokens": 13}},
            at + 9.000001,
        )
    )
    events.append(Event(seq + 1, EventType.RUN_FINISHED, run_id, None, {"outputs": {}, "usage": {}}, at + 9.5))
    return events


def _expected(events: list[Event], after: int) -> list[dict[str, Any]]:
    return [{**event.to_wire(), "type": str(event.type)} for event in events if event.seq > after]


def _rows(run_id: str) -> list[tuple[int, int, str, str]]:
    return list(RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", "seq_end", "type", "node"))


async def test_stored_events_are_what_was_sent_and_resume_from_any_seq(org_a: Member) -> None:
    runs = [await database_sync_to_async(_new_run)(org_a) for _ in range(2)]
    recorder = Recorder()
    by_run = {run_id: _events(run_id, f"llm-{n}") for n, run_id in enumerate(runs)}
    # The two runs' events interleaved, as two live runs record them, in one batch.
    for pair in zip(*by_run.values(), strict=True):
        for event in pair:
            recorder.record(event)
    await asyncio.gather(*[recorder.finish(r, Final(output_text="".join(TEXTS), cost=Decimal(0))) for r in runs])
    for n, run_id in enumerate(runs):
        events = by_run[run_id]
        last = events[-1].seq
        # Consecutive tokens of the node are one row carrying their seq range.
        assert await database_sync_to_async(_rows)(run_id) == [
            (1, 1, "run.started", ""),
            (2, 2, "node.started", f"llm-{n}"),
            (3, 2 + len(TEXTS), "token", f"llm-{n}"),
            (last - 1, last - 1, "node.finished", f"llm-{n}"),
            (last, last, "run.finished", ""),
        ]
        for after in range(last + 1):
            assert await database_sync_to_async(stored_events)(run_id, after) == _expected(events, after), after


async def test_events_recorded_over_several_flushes_replay_in_order(org_a: Member) -> None:
    """Tokens of one node split over batches: a row per batch, the seq numbering unbroken."""
    run_id = await database_sync_to_async(_new_run)(org_a)
    recorder = Recorder()
    events = _events(run_id, "llm")
    cut = [0, 2, 5, 9, len(events) - 1]
    for start, end in itertools.pairwise(cut):
        for event in events[start:end]:
            recorder.record(event)
        recorder._wake.set()  # (nothing waits on these: written at the next interval)
        for _ in range(100):
            stored = await database_sync_to_async(stored_events)(run_id, 0)
            if len(stored) == end:
                break
            await asyncio.sleep(0.05)
        assert stored == _expected(events[:end], 0)
    recorder.record(events[-1])
    await recorder.finish(run_id, Final(output_text="", cost=Decimal(0)))
    assert await database_sync_to_async(stored_events)(run_id, 0) == _expected(events, 0)
    rows = await database_sync_to_async(_rows)(run_id)
    assert [(seq, seq_end) for seq, seq_end, kind, _ in rows if kind == "token"] == [(3, 5), (6, 9), (10, 15)]
