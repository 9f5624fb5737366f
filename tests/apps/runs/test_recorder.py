"""When the recorder writes: a run row's progress (the streaming runs every PROGRESS_INTERVAL,
every open run at a heartbeat, never a finished run: its final write sets last_seq) and its
batches (every flush interval, stretched with the runs open)."""

from __future__ import annotations

import pytest

from apps.runs.recorder import (
    FLUSH_INTERVAL,
    FLUSH_RUNS,
    FLUSH_STRETCH,
    HEARTBEAT_INTERVAL,
    PROGRESS_INTERVAL,
    Recorder,
    flush_interval,
)


async def test_progress_is_written_at_its_interval_and_every_open_run_at_a_heartbeat() -> None:
    recorder = Recorder()
    recorder._open = {"a", "b", "c"}
    start = 1000.0
    assert sorted(recorder._progress(start)) == [("a", 0), ("b", 0), ("c", 0)]  # the first is a heartbeat
    recorder._unreported = {"a": 7}
    assert recorder._progress(start + PROGRESS_INTERVAL / 2) == []  # not due: kept for later
    recorder._unreported["b"] = 3
    assert sorted(recorder._progress(start + PROGRESS_INTERVAL)) == [("a", 7), ("b", 3)]
    assert recorder._progress(start + PROGRESS_INTERVAL * 1.5) == []  # nothing streamed since
    recorder._unreported = {"c": 9}
    beat = start + HEARTBEAT_INTERVAL + 1
    assert sorted(recorder._progress(beat)) == [("a", 0), ("b", 0), ("c", 9)]
    assert recorder._unreported == {}


def test_the_flush_interval_stretches_with_the_open_runs_up_to_its_limit() -> None:
    """A few runs: every FLUSH_INTERVAL; under load one interval more per FLUSH_RUNS open runs
    (fewer, fuller token rows), never beyond FLUSH_STRETCH intervals."""
    assert flush_interval(0) == flush_interval(1) == flush_interval(FLUSH_RUNS) == FLUSH_INTERVAL
    assert flush_interval(FLUSH_RUNS * 5 // 2) == pytest.approx(FLUSH_INTERVAL * 2.5)
    assert flush_interval(10_000) == pytest.approx(FLUSH_INTERVAL * FLUSH_STRETCH)
    intervals = [flush_interval(n) for n in range(0, 2000, 50)]
    assert intervals == sorted(intervals)


def test_an_end_waits_for_others_only_under_load_and_never_past_the_full_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ends gather only with END_GATHER_RUNS open runs, for END_GATHER (TRELLIS_RECORDER_GATHER_MS)
    or until the full flush when that comes sooner; 0 turns it off."""
    from django.conf import settings

    from apps.runs import recorder as recorder_module

    assert recorder_module.END_GATHER == settings.RECORDER_GATHER_MS / 1000
    monkeypatch.setattr(recorder_module, "END_GATHER", 0.02)  # 20 ms, the value measured (the default is 0: off)
    recorder = Recorder()
    recorder._open = {str(n) for n in range(recorder_module.END_GATHER_RUNS - 1)}
    assert recorder._gather(1.0) == 0.0  # below the load: written at once
    recorder._open.add("one more")
    assert recorder._gather(1.0) == recorder_module.END_GATHER
    assert recorder._gather(recorder_module.END_GATHER / 2) == recorder_module.END_GATHER / 2  # the full flush first
    assert recorder._gather(-0.5) == 0.0  # the full flush is due: now
    monkeypatch.setattr(recorder_module, "END_GATHER", 0.0)
    assert recorder._gather(1.0) == 0.0
