"""The recorder isolates runs: a write refused for one run (its row is missing, a value PostgreSQL
refuses) never loses another run's events, that run ends failed with its reason, and a batch the
database could not take (no connection to be had) is written later, once."""

from __future__ import annotations

import asyncio
import itertools
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


async def test_a_run_that_ends_is_written_alone_and_the_others_at_the_interval(
    org_a: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's end is written at once, without the events other runs streamed meanwhile: those
    wait for the interval (one row per run and interval, not one per end: issue 15), and then go
    in once, in order, nothing lost."""
    from apps.runs import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "FLUSH_INTERVAL", 3.0)  # the interval cannot pass meanwhile
    ending = await database_sync_to_async(_new_run)(org_a)
    streaming = await database_sync_to_async(_new_run)(org_a)
    recorder = Recorder()
    later = _events(streaming, "a", " b", " c", " d")
    for event in later[:3]:  # run.started and two tokens of the run that goes on
        recorder.record(event)
    for event in _events(ending, "x", " y"):
        recorder.record(event)
    await asyncio.wait_for(recorder.finish(ending, _final("x y")), 2.5)
    assert await database_sync_to_async(_stored)(ending) == [
        (1, 1, "run.started"),
        (2, 3, "token"),
        (4, 4, "run.finished"),
    ]
    assert await database_sync_to_async(_stored)(streaming) == []  # not written with the other run's end
    for event in later[3:]:
        recorder.record(event)
    await recorder.finish(streaming, _final("a b c d"))
    stored = await database_sync_to_async(_stored)(streaming)
    assert stored[0] == (1, 1, "run.started") and stored[-1] == (6, 6, "run.finished")
    tokens = [(seq, end) for seq, end, kind in stored if kind == "token"]
    assert tokens[0][0] == 2 and tokens[-1][1] == 5  # every token once, in order
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(tokens))


def _xmins(*run_ids: str) -> list[str]:
    """The transaction that last wrote each run's row (its final write)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text, xmin::text FROM runs_run WHERE id = ANY(%s::uuid[])", [list(run_ids)])
        by_id = dict(cursor.fetchall())
    return [by_id[run_id] for run_id in run_ids]


@pytest.mark.parametrize("loaded", [False, True])
async def test_under_load_ends_a_few_ms_apart_share_one_transaction(
    org_a: Member, monkeypatch: pytest.MonkeyPatch, loaded: bool
) -> None:
    """Under load (END_GATHER_RUNS open runs) an end waits up to END_GATHER for the ends that
    follow and they commit together; below it each end is written at once, on its own."""
    from apps.runs import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "FLUSH_INTERVAL", 3.0)  # no full flush meanwhile
    monkeypatch.setattr(recorder_module, "END_GATHER", 0.5)  # wide enough for a loaded test machine
    monkeypatch.setattr(recorder_module, "END_GATHER_RUNS", 2 if loaded else 1000)  # 2 left open
    first, second, streaming = [await database_sync_to_async(_new_run)(org_a) for _ in range(3)]
    recorder = Recorder()
    for run_id in (first, second, streaming):
        for event in _events(run_id, "x")[:-1]:
            recorder.record(event)
    for run_id in (first, second):
        recorder.record(_events(run_id, "x")[-1])
    ending = asyncio.ensure_future(recorder.finish(first, _final("x")))
    await asyncio.sleep(0.1)  # the second run ends 0.1 s later (the first is written by then when not loaded)
    assert ending.done() is not loaded
    await asyncio.wait_for(asyncio.gather(ending, recorder.finish(second, _final("x"))), 2.5)
    xmins = await database_sync_to_async(_xmins)(first, second)
    assert (xmins[0] == xmins[1]) is loaded
    for run_id in (first, second):
        row = await Run.objects.aget(pk=run_id)
        assert (row.status, row.last_seq) == (Run.Status.COMPLETED, 3)
        assert await database_sync_to_async(_stored)(run_id) == [
            (1, 1, "run.started"),
            (2, 2, "token"),
            (3, 3, "run.finished"),
        ]
    assert await database_sync_to_async(_stored)(streaming) == []  # the streaming run's events wait for the interval
