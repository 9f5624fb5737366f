"""A memory probe for a bench's server processes (bench_runs.py BENCH_MEM_LOG=DIR).

bench_runs puts this folder first on the server's PYTHONPATH, so every process of the server
(uvicorn and its spawned workers) imports it at start-up. With BENCH_MEM_LOG_DIR set, a daemon
thread watches DIR/ask; each time the bench writes a new label there (between two waves of runs,
when no run is live), the process appends one JSON line to DIR/mem.<pid>.jsonl: its RSS, the
objects the collector tracks (by generation, and the 12 most common types), the blocks and
arenas of Python's allocator, and glibc's heap (mallinfo2: in use, free, mapped). Objects flat
while RSS grows is the allocators' high-water mark; objects that grow with runs are a leak.
BENCH_MEM_COLLECT=1 runs a full collection before each sample. BENCH_MEM_TRIM=1 calls
malloc_trim(0) after it and records the RSS after that. BENCH_MEM_TRACE=N starts tracemalloc
with N frames at the first sample and dumps a snapshot at each later one (DIR/snap.<pid>.<label>; slow: for a diagnosis,
not for figures). Off unless the bench sets it.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

_DIR = os.environ.get("BENCH_MEM_LOG_DIR")


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # glibc's struct mallinfo2, in order
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
    ] + [("fordblks", ctypes.c_size_t), ("keepcost", ctypes.c_size_t)]


def _rss_mib() -> float:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _status_mib() -> dict[str, float]:
    """RssAnon (the heaps, arenas, stacks) and RssFile (code and files mapped) of this process."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


def _pymalloc_mib(folder: Path) -> dict[str, float]:
    """Python's small-object allocator (sys._debugmallocstats, which writes to the C stderr: the
    probe points fd 2 at a file for that call): arenas held now and at most, blocks in use, and
    free space inside the arenas it holds."""
    scratch = folder / f"pymalloc.{os.getpid()}.txt"
    saved = os.dup(2)
    try:
        with scratch.open("w") as file:
            os.dup2(file.fileno(), 2)
            sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    names = {
        "# arenas allocated current": "arenas_now",
        "# arenas highwater mark": "arenas_max",
        "# bytes in allocated blocks": "blocks_mib",
        "# bytes in available blocks": "free_blocks_mib",
    }
    stats: dict[str, float] = {}
    for line in scratch.read_text().splitlines():
        name, _, value = (part.strip() for part in line.partition("="))
        if name.endswith("unused pools * 16384 bytes"):
            name = "unused_pools_mib"
        elif (name := names.get(name, "")) == "":
            continue
        number = int(value.replace(",", ""))
        stats[name] = number if name.startswith("arenas") else round(number / 2**20, 1)
    return stats


def _sample(libc: ctypes.CDLL, label: str, out: Path) -> None:
    started = time.perf_counter()
    if os.environ.get("BENCH_MEM_COLLECT") == "1":  # count what is held, not garbage waiting for a collection
        gc.collect()
    row: dict[str, object] = {"label": label, "at": round(time.time(), 3), "rss_mib": round(_rss_mib(), 1)}
    objects = gc.get_objects()
    row["objects"] = len(objects)
    row["by_generation"] = [len(gc.get_objects(generation)) for generation in range(3)]
    row["frozen"] = gc.get_freeze_count()
    counts = collections.Counter(type(obj).__qualname__ for obj in objects)
    del objects
    row["types"] = dict(counts.most_common(12))
    row["py_blocks"] = sys.getallocatedblocks()
    row.update(_status_mib())
    row["pymalloc"] = _pymalloc_mib(out.parent)
    info = libc.mallinfo2()
    row["malloc_mib"] = {
        "arena": round(info.arena / 2**20, 1),  # the main heap (brk)
        "mmapped": round(info.hblkhd / 2**20, 1),  # large blocks, each its own mapping
        "in_use": round(info.uordblks / 2**20, 1),
        "free": round(info.fordblks / 2**20, 1),  # free inside the heap: kept, counted in RSS if touched
    }
    if os.environ.get("BENCH_MEM_TRIM") == "1":
        libc.malloc_trim(0)
        row["rss_after_trim_mib"] = round(_rss_mib(), 1)
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(out.parent / f"snap.{os.getpid()}.{label}"))
    elif frames := int(os.environ.get("BENCH_MEM_TRACE", "0")):
        tracemalloc.start(frames)  # from the first reading on: start-up stays fast, later snapshots hold what runs left
    row["probe_ms"] = round((time.perf_counter() - started) * 1000, 1)
    with out.open("a") as file:
        file.write(json.dumps(row) + "\n")


def _watch(folder: Path) -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    ask, out = folder / "ask", folder / f"mem.{os.getpid()}.jsonl"
    seen = ""
    while True:
        time.sleep(0.2)
        try:
            label = ask.read_text().strip()
        except OSError:
            continue
        if label and label != seen:
            seen = label
            _sample(libc, label, out)


if _DIR:
    threading.Thread(target=_watch, args=(Path(_DIR),), name="bench-memprobe", daemon=True).start()
