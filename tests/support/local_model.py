"""Start the real local model server (SmolLM2 behind the OpenAI protocol) for a test session."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180


class LocalModelError(RuntimeError):
    pass


@contextlib.contextmanager
def local_model_server(model_dir: Path, log_path: Path, port: int | None = None) -> Iterator[str]:
    """Yields the server's base URL (…/v1); the model folder must already be prepared."""
    if port is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "LOCAL_MODEL_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "apps.serving.local_model.server",
        "--port",
        str(port),
        "--model-dir",
        str(model_dir),
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise LocalModelError(f"the local model server exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise LocalModelError(f"the local model server did not get ready:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
