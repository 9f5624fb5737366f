"""When the recorder writes a run row's progress: the streaming runs every PROGRESS_INTERVAL,
every open run at a heartbeat, never a finished run (its final write sets last_seq)."""

from __future__ import annotations

from apps.runs.recorder import HEARTBEAT_INTERVAL, PROGRESS_INTERVAL, Recorder


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
