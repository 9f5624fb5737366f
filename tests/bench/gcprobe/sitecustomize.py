"""A garbage-collection probe for a bench's server processes (bench_runs.py BENCH_GC_LOG=DIR).

bench_runs puts this folder first on the server's PYTHONPATH, so every process of the server
(uvicorn and its spawned workers) imports it at start-up. With BENCH_GC_LOG_DIR set, each
collection appends one line to DIR/gc.<pid>.txt: the wall time when it ended, its generation,
its wall and thread-CPU milliseconds and what it collected. The server's own GC settings
(apps/config/asgi.py: gc.freeze, thresholds) are untouched; the probe costs two clock reads per
collection.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

_DIR = os.environ.get("BENCH_GC_LOG_DIR")

if _DIR:
    _started = [0.0, 0.0]
    _out = (Path(_DIR) / f"gc.{os.getpid()}.txt").open("a", buffering=1)

    def _probe(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _started[0], _started[1] = time.perf_counter(), time.thread_time()
            return
        wall, cpu = time.perf_counter() - _started[0], time.thread_time() - _started[1]
        _out.write(f"{time.time():.3f} {info['generation']} {wall * 1000:.2f} {cpu * 1000:.2f} {info['collected']}\n")

    gc.callbacks.append(_probe)
