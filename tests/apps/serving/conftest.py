"""The real embedded model server (a subprocess on a free port) and a small local HTTP server
that plays the outside world for the egress guard and the gateway's error paths."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from apps.serving.local_model.prepare import ensure_local_model
from tests.support.asgi_server import free_port
from tests.support.egress import allow_egress
from tests.support.local_model import local_model_server

ROOT = Path(__file__).resolve().parents[3]
SERVER_START_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def local_model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of the real local model server; the model folder is converted once."""
    model_dir = ensure_local_model(settings.LOCAL_MODEL_DIR)
    with local_model_server(model_dir, tmp_path_factory.mktemp("local-model") / "server.log") as url:
        allow_egress(url)  # also reached as an ordinary endpoint's base URL
        yield url


# --- the outside world ------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubServer:
    """GET /ok, /big?bytes=N, /slow?s=S, /headers, /redirect?to=URL&status=302, /loop,
    POST /v1/chat/completions (a canned OpenAI answer), POST /stall/v1/chat/completions."""

    port: int
    seen: list[Seen] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pair(self) -> str:
        return f"127.0.0.1:{self.port}"


def _canned_completion(request: dict[str, Any]) -> tuple[str, bytes]:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    if not request.get("stream"):
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "canned answer"}, "finish_reason": "stop"}
            ],
            "usage": usage,
        }
        return "application/json", json.dumps(body).encode()
    envelope = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    chunks: list[dict[str, Any]] = []
    for delta, finish in [({"role": "assistant", "content": "canned"}, None), ({"content": " answer"}, "stop")]:
        chunks.append({**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    chunks.append({**envelope, "choices": [], "usage": usage})
    events = b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)
    return "text/event-stream", events + b"data: [DONE]\n\n"


def _handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _record(self) -> tuple[str, dict[str, list[str]]]:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            stub.seen.append(Seen(self.command, parts.path, {k.lower(): v for k, v in self.headers.items()}, body))
            return parts.path, parse_qs(parts.query)

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path, query = self._record()
            if path == "/ok":
                self._answer(200, b"hello")
            elif path == "/big":
                self._answer(200, b"x" * int(query["bytes"][0]))
            elif path == "/slow":
                time.sleep(float(query["s"][0]))
                self._answer(200, b"late")
            elif path == "/headers":
                self._answer(200, json.dumps(stub.seen[-1].headers).encode(), "application/json")
            elif path == "/redirect":
                status = int(query.get("status", ["302"])[0])
                self._answer(status, b"", Location=query["to"][0])
            elif path == "/loop":
                self._answer(302, b"", Location="/loop")
            else:
                self._answer(404, b"no such page")

        def do_POST(self) -> None:
            path, query = self._record()
            if path == "/redirect":
                self._answer(int(query.get("status", ["302"])[0]), b"", Location=query["to"][0])
            elif path == "/v1/chat/completions":
                content_type, body = _canned_completion(json.loads(stub.seen[-1].body))
                self._answer(200, body, content_type)
            elif path == "/stall/v1/chat/completions":
                time.sleep(3)
                self._answer(503, b"")
            else:
                self._answer(404, b"no such page")

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (the egress size cap, timeouts) are part of the tests


def _start_stub() -> tuple[StubServer, ThreadingHTTPServer]:
    stub = StubServer(port=0)
    server = QuietServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.port = int(server.server_address[1])
    allow_egress(stub.pair)  # plays the outside world: the operator lets its pair through
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return stub, server


@pytest.fixture(scope="session")
def stub_servers() -> Iterator[tuple[StubServer, StubServer]]:
    first, first_server = _start_stub()
    second, second_server = _start_stub()
    yield first, second
    for server in (first_server, second_server):
        server.shutdown()
        server.server_close()


@pytest.fixture
def stub(stub_servers: tuple[StubServer, StubServer]) -> StubServer:
    stub_servers[0].seen.clear()
    return stub_servers[0]


@pytest.fixture
def other_stub(stub_servers: tuple[StubServer, StubServer]) -> StubServer:
    stub_servers[1].seen.clear()
    return stub_servers[1]


# --- organizations whose builtin model is the real local server --------------------------------


@pytest.fixture
def local_model(settings: Any, local_model_url: str) -> str:
    """Organizations created after this fixture get a builtin `local` endpoint on the real server."""
    settings.LOCAL_MODEL_URL = local_model_url
    return local_model_url


# --- the OpenAI stand-in and flows on it ---------------------------------------------------------


@pytest.fixture(scope="session")
def standin_url() -> Iterator[str]:
    """Base URL (…/v1) of tests/support/standin.py in a subprocess (model time known exactly)."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.support.standin", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    allow_egress(url)
    yield f"{url}/v1"
    server.kill()
    server.wait(timeout=10)
