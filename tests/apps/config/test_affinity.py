"""Web workers pinned one per core (apps.config.affinity), in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# A worker: pin (or not), say which core and the affinity it ended with, then hold its claim
# until its stdin closes (as a worker holds it for its life).
CHILD = """
import os, sys
from pathlib import Path
from apps.config.affinity import web_worker_pin
core = web_worker_pin(Path(sys.argv[1]), enabled=sys.argv[2] == "1")
print(core, ",".join(map(str, sorted(os.sched_getaffinity(0)))), flush=True)
sys.stdin.read()
"""

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs two cores"
)


def _worker(lock_dir: Path, enabled: bool = True) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(lock_dir), "1" if enabled else "0"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    core, allowed = proc.stdout.readline().split()
    return proc, core, allowed


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_each_worker_takes_a_core_of_its_own_and_a_freed_core_is_taken_again(tmp_path: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    workers = [_worker(tmp_path) for _ in cores]
    try:
        taken = [core for _, core, _ in workers]
        assert sorted(taken) == [str(c) for c in cores]  # one each, none shared
        assert all(allowed == core for _, core, allowed in workers)  # each runs on its core only
        extra, core, allowed = _worker(tmp_path)  # more workers than cores: not pinned
        _stop(extra)
        assert core == "None"
        assert allowed == ",".join(map(str, cores))
        _stop(workers[0][0])  # a worker exits: its core is free for the next one
        again, core, allowed = _worker(tmp_path)
        _stop(again)
        assert (core, allowed) == (workers[0][1], workers[0][1])
    finally:
        for proc, _, _ in workers:
            if proc.poll() is None:
                _stop(proc)


def test_off_by_default_pins_nothing(tmp_path: Path) -> None:
    proc, core, allowed = _worker(tmp_path, enabled=False)
    _stop(proc)
    assert core == "None"
    assert allowed == ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert not list(tmp_path.iterdir())  # no lock taken either
