"""Detect a file's type and parse it in the sandboxed child process (invariant 8).

`parse_in_sandbox` never parses in this process: it writes the bytes to a private temporary
file and hands its path to a pooled `python -m apps.knowledge.sandbox --serve` worker, which runs
under an address-space limit (RLIMIT_AS), a CPU-time limit (RLIMIT_CPU) and a wall-clock timeout
(the pool is described below). Whatever the file does, the caller gets
sections or a `ParseFailed` with a stable code and a message a business user can act on.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.knowledge import priority
from apps.knowledge.models import FileType

EXTENSIONS = {
    ".pdf": FileType.PDF,
    ".docx": FileType.DOCX,
    ".md": FileType.MARKDOWN,
    ".markdown": FileType.MARKDOWN,
    ".html": FileType.HTML,
    ".htm": FileType.HTML,
    ".txt": FileType.TEXT,
    ".text": FileType.TEXT,
    ".csv": FileType.CSV,
}
ROOT = Path(__file__).resolve().parents[2]


class ParseFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None
    # HTML: heading text -> the id a link to that heading uses (citations carry it)
    anchors: dict[str, str] = field(default_factory=dict)
    # the document's title as the parser found it (HTML <title>, first heading); first section
    title: str = ""

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "page": self.page}
        if self.anchors:
            out["anchors"] = self.anchors
        if self.title:
            out["title"] = self.title
        return out

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> Section:
        anchors = raw.get("anchors")
        return cls(
            text=str(raw["text"]),
            page=raw.get("page"),
            anchors={str(k): str(v) for k, v in anchors.items()} if isinstance(anchors, dict) else {},
            title=str(raw.get("title") or ""),
        )


def file_type_for(name: str) -> str:
    return EXTENSIONS.get(Path(name).suffix.lower(), FileType.UNKNOWN)


def parse_in_sandbox(
    data: bytes, file_type: str, *, timeout: float | None = None, memory_mb: int | None = None
) -> list[Section]:
    """`file_type` is a FileType, or "web": an HTML page of a crawl, its main content found first."""
    if file_type == FileType.UNKNOWN:
        raise ParseFailed("unsupported_type", "This file type is not supported.")
    with tempfile.TemporaryDirectory(prefix="trellis-parse-") as folder:
        path = Path(folder) / f"upload.{file_type}"
        path.write_bytes(data)
        result = _run_child(path, file_type, timeout=timeout, memory_mb=memory_mb)
    return [Section.from_stored(s) for s in result["sections"]]


def extract_in_sandbox(kind: str, files: dict[str, bytes], manifest: Any) -> dict[str, Any]:
    """Fetched bytes read by the sandboxed child too: kind "links" (manifest [{"file", "url"}])
    or "sitemap" (manifest None, one file). Answers the child's JSON, or ParseFailed."""
    with tempfile.TemporaryDirectory(prefix="trellis-parse-") as folder:
        for name, data in files.items():
            (Path(folder) / Path(name).name).write_bytes(data)
        path = Path(folder) / "manifest.json"
        if manifest is not None:
            path.write_text(json.dumps(manifest))
        else:
            path = Path(folder) / Path(next(iter(files))).name
        return _run_child(path, kind, timeout=None, memory_mb=None)


# The warm pool -------------------------------------------------------------------------------
#
# Starting a Python child and importing the readers costs more than parsing a web page, so parsing
# goes to long-lived sandboxed workers (`python -I -m apps.knowledge.sandbox --serve`), each started
# with the same limits a one-off child had: RLIMIT_AS (the whole process), RLIMIT_CPU (the soft
# limit moved per request to the CPU time used so far + the request's budget, the hard limit set
# here for the worker's whole life), no core dumps, its own session, a scrubbed environment, a
# private temporary folder. The parent keeps the wall-clock timeout: a worker that runs past it,
# crashes, hits a limit, or answers garbage is killed and never reused; a worker is retired after
# KNOWLEDGE_PARSE_WORKER_DOCUMENTS requests, so a parser bug that corrupts its state cannot outlive
# that many documents. A non-default memory limit gets a worker of its own for one request.

WORKER_DOCUMENTS = 50  # requests per worker before it is retired (settings.KNOWLEDGE_PARSE_WORKER_DOCUMENTS)
IDLE_WORKERS = 4  # idle workers kept per process (settings.KNOWLEDGE_PARSE_IDLE_WORKERS)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


class _Worker:
    def __init__(self, memory_bytes: int, documents: int, timeout: float) -> None:
        self.folder = tempfile.mkdtemp(prefix="trellis-parser-")
        self.stderr = (Path(self.folder) / "stderr").open("w+b")  # lives as long as the worker
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "TIKTOKEN_CACHE_DIR": os.environ.get("TIKTOKEN_CACHE_DIR", ""),
            "LANG": "C.UTF-8",
            "HOME": self.folder,
            "TMPDIR": self.folder,
        }
        # the hard CPU limit: every request's budget plus the interpreter's start
        cpu_hard = documents * (int(timeout) + 2) + 30
        # No preexec_fn (workers start from parse-ahead threads too): the worker gets its limits
        # through prlimit(2) right after it starts, before it is sent any file.
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "apps.knowledge.sandbox", "--serve"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,
        )
        try:
            _worker_limits(self.process.pid, memory_bytes, int(timeout) + 30, cpu_hard)
        except OSError:
            self.close()
            raise
        # Parsing is side work beside the embedder: a lower priority (apps/knowledge/priority.py).
        priority.to_side(self.process.pid)
        self.memory_bytes, self.served, self.buffer = memory_bytes, 0, b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, path: Path, mode: str, timeout: float) -> dict[str, Any]:
        if self.process.stdin is None or self.process.stdout is None:
            raise _WorkerGone
        self.served += 1
        line = json.dumps({"path": str(path), "mode": mode, "cpu_seconds": int(timeout) + 1}).encode() + b"\n"
        try:
            self.process.stdin.write(line)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise _WorkerGone from None
        deadline = time.monotonic() + timeout
        descriptor = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise ParseFailed(
                    "parse_timeout", f"Parsing took longer than {int(timeout)} s; the file may be malformed."
                )
            ready, _, _ = select.select([descriptor], [], [], remaining)
            if not ready:
                continue
            piece = os.read(descriptor, 1 << 20)
            if not piece:  # the worker died
                self.process.wait()
                self.kill()
                raise _WorkerGone
            self.buffer += piece
        answer, self.buffer = self.buffer.split(b"\n", 1)
        try:
            result: dict[str, Any] = json.loads(answer)
        except ValueError:
            self.kill()
            raise ParseFailed("parser_crashed", "The parser answered garbage on this file.") from None
        if result.get("error") == "too_large_to_parse":
            self.kill()  # it exits by itself too; its heap is not trusted
        return result

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        self.kill()
        self.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _WorkerGone(Exception):
    """The worker died (crash, signal, limit) before it answered."""


def _worker_limits(pid: int, memory_bytes: int, cpu_soft: int, cpu_hard: int) -> None:
    resource.prlimit(pid, resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_soft, max(cpu_soft, cpu_hard)))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.pid = os.getpid()
        self.started = 0

    def take(self, memory_bytes: int, timeout: float) -> _Worker:
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent's workers are not ours
                self.idle, self.pid = [], os.getpid()
            while self.idle:
                worker = self.idle.pop()
                if worker.alive() and worker.memory_bytes == memory_bytes:
                    return worker
                worker.close()
            self.started += 1
        return _Worker(memory_bytes, _setting("KNOWLEDGE_PARSE_WORKER_DOCUMENTS", WORKER_DOCUMENTS), timeout)

    def give_back(self, worker: _Worker) -> None:
        retire = (
            not worker.alive()
            or worker.served >= _setting("KNOWLEDGE_PARSE_WORKER_DOCUMENTS", WORKER_DOCUMENTS)
            or worker.memory_bytes != _default_memory()
        )
        with self.lock:
            if (
                not retire
                and self.pid == os.getpid()
                and len(self.idle) < _setting("KNOWLEDGE_PARSE_IDLE_WORKERS", IDLE_WORKERS)
            ):
                self.idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.close()


_pool = _Pool()
atexit.register(_pool.close)


def parser_pool_close() -> None:
    """Stop this process's idle parser workers (tests; a later parse starts new ones)."""
    _pool.close()


def parser_pool_state() -> dict[str, Any]:
    """Workers started by this process so far and the idle workers' process ids."""
    with _pool.lock:
        return {"started": _pool.started, "idle": [w.pid for w in _pool.idle]}


def _default_memory() -> int:
    return int(settings.KNOWLEDGE_PARSE_MEMORY_MB) * 1024 * 1024


def _run_child(path: Path, mode: str, *, timeout: float | None, memory_mb: int | None) -> dict[str, Any]:
    timeout = float(timeout or settings.KNOWLEDGE_PARSE_TIMEOUT)
    memory = (memory_mb or settings.KNOWLEDGE_PARSE_MEMORY_MB) * 1024 * 1024
    for attempt in (1, 2):
        worker = _pool.take(memory, timeout)
        reused = worker.served > 0
        try:
            result = worker.request(path, mode, timeout)
            break
        except _WorkerGone:
            # A reused worker may have died between documents (killed from outside): the file
            # gets one fresh worker; a fresh worker dying on it is the file's doing.
            if not (reused and attempt == 1):
                _raise_for_death(worker)
        finally:
            _pool.give_back(worker)
    if "error" in result:
        raise ParseFailed(str(result["error"]), str(result.get("message", "")))
    return result


def _raise_for_death(worker: _Worker) -> None:
    code = worker.process.returncode or 0
    tail = worker.stderr_tail()
    if code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
        raise ParseFailed("parse_timeout", "Parsing used more CPU time than allowed; the file may be malformed.")
    if "MemoryError" in tail or "Cannot allocate memory" in tail or "memory" in tail.lower():
        raise ParseFailed("too_large_to_parse", "Parsing the file needed more memory than allowed.")
    if code < 0:
        raise ParseFailed("parser_crashed", f"The parser stopped on this file (signal {-code}).")
    raise ParseFailed("parser_crashed", f"The parser failed on this file: {tail[:300]}")
