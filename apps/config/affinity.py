"""One core per web worker, when asked (TRELLIS_PIN_WEB_WORKERS; off by default; issue 15).

With `--workers N` each uvicorn worker imports the ASGI app; `web_worker_pin` then claims the
first core of the process's allowed set that no other worker of this instance holds (an
exclusive `flock` on `<data dir>/run/web-core-<n>.lock`, held for the process's life and
released by the kernel when it exits, so a restarted worker takes the freed core) and restricts
the process to it. Threads started afterwards (the database threads) inherit the core. With
fewer than two allowed cores, or every core taken, nothing is pinned.

Why it is a setting: on the shared two-core machine, three pairs of 1,500-chat runs gave the
pinned workers a lower p99 gap each time, but one pair also left the two workers' loads uneven
(a core that also carried other processes); the quiet machine's A/B decides (docs/adr/0005).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

_HELD: list[int] = []  # the claimed core's lock, open for the process's life


def web_worker_pin(lock_dir: Path, *, enabled: bool) -> int | None:
    """Pin this process to a core no other web worker holds; the core, or None (not pinned)."""
    if not enabled or _HELD or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    lock_dir.mkdir(parents=True, exist_ok=True)
    for core in cores:
        fd = os.open(lock_dir / f"web-core-{core}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            os.sched_setaffinity(0, {core})
        except OSError:
            with contextlib.suppress(OSError):
                os.close(fd)
            return None
        _HELD.append(fd)
        return core
    return None
