"""Scheduling priority of ingestion's side work (Linux niceness; elsewhere nothing happens).

A job's throughput is its embedder's: the one embedding thread (apps/knowledge/embeddings.py)
should have a core to itself while the rest of the job (parsing in the sandbox, chunking, the
database writes, progress) runs beside it. That rest runs SIDE_NICE lower than the process, so
that where it lands on the embedder's core it waits for the embedder instead of preempting it
(docs/BENCHMARKS.md, issue 19, eighth session). Only threads and processes of ingestion's own are
lowered: the pipeline's threads (they end with their work), the parser sandbox's workers, and the
job's own thread for the length of the job where the process may raise it back afterwards (root,
CAP_SYS_NICE or RLIMIT_NICE; otherwise it stays as it is, since a queue worker's thread runs
other tasks next). The embedding thread keeps the process's own priority. PostgreSQL's backend is
not lowered: the database may be shared, and its priority is not the application's to set.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

SIDE_NICE = 5  # niceness above the process's own for ingestion's side work (19 at most in all)
_CAP_SYS_NICE = 23


def nice_of(tid_or_pid: int | None = None) -> int:
    """The niceness of a thread (this one by default) or a process."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if tid_or_pid is None else tid_or_pid)


def _process_nice() -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, os.getpid())
    except (OSError, AttributeError):
        return 0


# The process's own niceness, read when this module is first imported (before any ingestion job
# lowered a thread: a job may run on the main thread itself, in tests and benchmarks).
_BASE = _process_nice()


def base_nice() -> int:
    """The process's own niceness (its main thread's before any job lowered it)."""
    return _BASE


def side_nice() -> int:
    return min(19, base_nice() + SIDE_NICE)


def may_set(nice: int) -> bool:
    """Whether this process may set a niceness as low as `nice` (going lower than a thread's
    present niceness needs CAP_SYS_NICE or an RLIMIT_NICE that allows it)."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
        if soft == resource.RLIM_INFINITY or 20 - nice <= soft:
            return True
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> _CAP_SYS_NICE & 1)
    except (OSError, ValueError, AttributeError):
        pass
    return False


def to_side(tid_or_pid: int | None = None) -> bool:
    """Make a thread (this one by default) or a child process at least side_nice(); it is never
    made more urgent. Answers whether the niceness changed; never raises. (Niceness weighs tasks
    of one scheduling group against each other: a cgroup's, or a session's autogroup. A sandbox
    worker in a session of its own is not lowered against other sessions: its autogroup's
    niceness is left alone, so that the parser is not starved by unrelated work under load.)"""
    try:
        target = threading.get_native_id() if tid_or_pid is None else tid_or_pid
        want = side_nice()
        if os.getpriority(os.PRIO_PROCESS, target) >= want:
            return False
        os.setpriority(os.PRIO_PROCESS, target, want)
    except (OSError, AttributeError):  # not Linux, or the target is gone
        return False
    return True


@contextlib.contextmanager
def lowered() -> Iterator[None]:
    """This thread at side_nice() for the block and back afterwards, where the process may set it
    back (else it is left as it is)."""
    try:
        before = nice_of()
    except (OSError, AttributeError):
        before = None
    changed = before is not None and may_set(before) and to_side()
    try:
        yield
    finally:
        if changed and before is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), before)
            except OSError:  # checked by may_set; a change of limits meanwhile
                logger.warning("could not set this thread's niceness back to %s", before)


def to_base() -> None:
    """This thread at the process's own niceness, if it inherited a higher one (a thread takes the
    niceness of the thread that starts it: the embedding thread must not take a lowered one's)."""
    try:
        base, now = base_nice(), nice_of()
        if now > base and may_set(base):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), base)
    except (OSError, AttributeError):
        pass
