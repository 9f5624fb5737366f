"""The recorder isolates runs: a write refused for one run (its row is missing, a value PostgreSQL
refuses) never loses another run's events, that run ends failed with its reason, and a batch the
database could not take (no connection to be had) is written later, once."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from psycopg_pool import ConnectionPool, PoolTimeout

from apps.builder.services import flow_create
from apps.runs.models import Run, RunEvent
from apps.runs.recorder import FLUSH_INTERVAL, Final, Recorder, RunNotRecorded
from flows.events import Event, EventType
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)


def _new_run(member: Member) -> str:
    flow = flow_create(access=member.access, name=f"flow {uuid.uuid4().hex[:6]}", description="", graph=chat_flow())
    return str(Run.objects.create(organization=member.organization, flow=flow).pk)


def _events(run_id: str, *texts: str) -> list[Event]:
    """run.started, a token per text, run.finished."""
    events = [Event(1, EventType.RUN_STARTED, run_id, None, {})]
    events += [Event(2 + i, EventType.TOKEN, run_id, "llm", {"text": text}) for i, text in enumerate(texts)]
    events.append(Event(len(events) + 1, EventType.RUN_FINISHED, run_id, None, {"outputs": {}, "usage": {}}))
    return events


def _final(text: str) -> Final:
    return Final(output_text=text, cost=Decimal(0))


def _stored(run_id: str) -> list[tuple[int, int, str]]:
    return list(RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", "seq_end", "type"))


async def _record_together(recorder: Recorder, runs: dict[str, list[Event]]) -> dict[str, BaseException | None]:
    """Record every run's events and finish them all in one batch; each finish's outcome."""
    for events in runs.values():
        for event in events:
            recorder.record(event)
    outcomes = await asyncio.gather(*[recorder.finish(run_id, _final("ok")) for run_id in runs], return_exceptions=True)
    return {
        run_id: outcome if isinstance(outcome, BaseException) else None
        for run_id, outcome in zip(runs, outcomes, strict=True)
    }


async def test_recorder_keeps_other_runs_events_when_one_run_has_no_row(org_a: Member) -> None:
    kept = await database_sync_to_async(_new_run)(org_a)
    missing = str(uuid.uuid4())  # its row was never written: its events break the foreign key
    outcomes = await _record_together(Recorder(), {kept: _events(kept, "a", " b"), missing: _events(missing, "c")})
    assert outcomes[kept] is None
    assert isinstance(outcomes[missing], RunNotRecorded)
    assert "foreign key" in str(outcomes[missing]).lower()
    assert await database_sync_to_async(_stored)(kept) == [
        (1, 1, "run.started"),
        (2, 3, "token"),
        (4, 4, "run.finished"),
    ]
    row = await Run.objects.aget(pk=kept)
    assert (row.status, row.last_seq, row.output_text) == (Run.Status.COMPLETED, 4, "ok")


async def test_recorder_fails_only_the_run_whose_value_is_refused(org_a: Member) -> None:
    kept = await database_sync_to_async(_new_run)(org_a)
    refused = await database_sync_to_async(_new_run)(org_a)
    # PostgreSQL's jsonb cannot hold U+0000: this run's token row is refused.
    outcomes = await _record_together(Recorder(), {kept: _events(kept, "fine"), refused: _events(refused, "a\x00b")})
    assert outcomes[kept] is None
    assert isinstance(outcomes[refused], RunNotRecorded)
    assert await database_sync_to_async(_stored)(kept) == [
        (1, 1, "run.started"),
        (2, 2, "token"),
        (3, 3, "run.finished"),
    ]
    row = await Run.objects.aget(pk=refused)
    assert row.status == Run.Status.FAILED
    assert row.error_code == "run_not_recorded"
    assert row.error_message.startswith("The run's events could not be stored")
    assert await database_sync_to_async(_stored)(refused) == []  # nothing half-written
    assert (await Run.objects.aget(pk=kept)).status == Run.Status.COMPLETED


async def test_recorder_retries_a_batch_the_database_could_not_take(org_a: Member) -> None:
    run_id = await database_sync_to_async(_new_run)(org_a)
    pool: ConnectionPool = connection.pool  # type: ignore[attr-defined]
    held = []
    while True:  # every connection of the pool taken: the recorder's write waits, then fails
        try:
            held.append(await asyncio.to_thread(pool.getconn, 0.2))
        except PoolTimeout:
            break
    timeout, pool.timeout = pool.timeout, 0.3
    recorder = Recorder()
    try:
        for event in _events(run_id, "x", " y", " z"):
            recorder.record(event)
        finishing = asyncio.ensure_future(recorder.finish(run_id, _final("x y z")))
        await asyncio.sleep(1.5)  # several refused attempts
        assert not finishing.done()
    finally:
        pool.timeout = timeout
        for conn in held:
            pool.putconn(conn)
    await asyncio.wait_for(finishing, 10)
    assert await database_sync_to_async(_stored)(run_id) == [
        (1, 1, "run.started"),
        (2, 4, "token"),
        (5, 5, "run.finished"),
    ]
    assert (await Run.objects.aget(pk=run_id)).status == Run.Status.COMPLETED


async def test_recorder_writes_the_final_state_when_the_terminal_event_went_out_in_an_earlier_flush(
    org_a: Member,
) -> None:
    run_id = await database_sync_to_async(_new_run)(org_a)
    recorder = Recorder()
    for event in _events(run_id, "x"):
        recorder.record(event)
    await asyncio.sleep(FLUSH_INTERVAL * 3)  # the terminal event is flushed before finish() is called
    await recorder.finish(run_id, _final("x"))
    row = await Run.objects.aget(pk=run_id)
    assert (row.status, row.last_seq, row.output_text) == (Run.Status.COMPLETED, 3, "x")
