"""Detect a file's type and parse it in the sandboxed child process (invariant 8).

`parse_in_sandbox` never parses in this process: it writes the bytes to a private temporary
file and runs `python -m apps.knowledge.sandbox` under an address-space limit (RLIMIT_AS), a
CPU-time limit (RLIMIT_CPU) and a wall-clock timeout. Whatever the file does, the caller gets
sections or a `ParseFailed` with a stable code and a message a business user can act on.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

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


def _limits(memory_bytes: int, cpu_seconds: int) -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


def parse_in_sandbox(
    data: bytes, file_type: str, *, timeout: float | None = None, memory_mb: int | None = None
) -> list[Section]:
    """`file_type` is a FileType, or "web": an HTML page of a crawl, its main content found first."""
    if file_type == FileType.UNKNOWN:
        raise ParseFailed("unsupported_type", "This file type is not supported.")
    with tempfile.TemporaryDirectory(prefix="trellis-parse-") as folder:
        path = Path(folder) / f"upload.{file_type}"
        path.write_bytes(data)
        child = _run_child(path, file_type, timeout=timeout, memory_mb=memory_mb)
    return [Section.from_stored(s) for s in _result(child)["sections"]]


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
        return _result(_run_child(path, kind, timeout=None, memory_mb=None))


def _run_child(
    path: Path, mode: str, *, timeout: float | None, memory_mb: int | None
) -> subprocess.CompletedProcess[bytes]:
    timeout = float(timeout or settings.KNOWLEDGE_PARSE_TIMEOUT)
    memory = (memory_mb or settings.KNOWLEDGE_PARSE_MEMORY_MB) * 1024 * 1024
    folder = str(path.parent)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TIKTOKEN_CACHE_DIR": os.environ.get("TIKTOKEN_CACHE_DIR", ""),
        "LANG": "C.UTF-8",
    }
    environment["HOME"] = environment["TMPDIR"] = folder
    try:
        return subprocess.run(  # noqa: S603 - fixed argv, our own module
            [sys.executable, "-I", "-m", "apps.knowledge.sandbox", str(path), mode],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            timeout=timeout,
            preexec_fn=lambda: _limits(memory, int(timeout) + 1),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ParseFailed(
            "parse_timeout", f"Parsing took longer than {int(timeout)} s; the file may be malformed."
        ) from None


def _result(child: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    if child.returncode < 0:
        killed_by = -child.returncode
        if killed_by in (signal.SIGXCPU, signal.SIGKILL):
            raise ParseFailed("parse_timeout", "Parsing used more CPU time than allowed; the file may be malformed.")
        raise ParseFailed("parser_crashed", f"The parser stopped on this file (signal {killed_by}).")
    try:
        result: dict[str, Any] = json.loads(child.stdout or b"null") or {}
    except ValueError:
        result = {}
    if "error" in result:
        raise ParseFailed(str(result["error"]), str(result.get("message", "")))
    if not result:
        tail = child.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        if "MemoryError" in tail[0] or "Cannot allocate memory" in tail[0]:
            raise ParseFailed("too_large_to_parse", "Parsing the file needed more memory than allowed.")
        raise ParseFailed("parser_crashed", f"The parser failed on this file: {tail[0][:300]}")
    return result
