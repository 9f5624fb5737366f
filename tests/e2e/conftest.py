"""Real server (uvicorn, the production ASGI app) on the test database + real Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.apps.integrations.conftest import mcp_servers  # noqa: F401 - MCP servers built with the mcp SDK
from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - stand-in fixtures
from tests.support.egress import allow_egress

ROOT = Path(__file__).resolve().parents[2]
# Sync Playwright runs an event loop in this thread; the test's own ORM calls are still
# synchronous. Only this test process opts out; the server below keeps Django's guard.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(log_name: str) -> Iterator[str]:
    """uvicorn with the production ASGI app on the test database, until the session ends."""
    port = _free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
        "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
        "LOGIN_RATE": "1000/min",
        # The stand-in model servers on 127.0.0.1 (registered before the server starts): the
        # operator's allowlist, as a deployment would set it.
        "TRELLIS_EGRESS_ALLOW": ",".join(settings.EGRESS_ALLOW),
    }
    log_path = settings.DATA_DIR / log_name
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "apps.config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("server did not answer /healthz within 60 s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="session")
def local_model_port() -> int:
    """The e2e local model server's port, chosen (and allowed through the outbound policy)
    before the live server starts."""
    port = _free_port()
    allow_egress(f"127.0.0.1:{port}")
    return port


@pytest.fixture(scope="session")
def live_url(
    django_db_setup: Any, django_db_blocker: Any, local_model_port: int, request: pytest.FixtureRequest
) -> Iterator[str]:
    request.getfixturevalue("standin_url")  # started (and allowed) before the server reads its env
    request.getfixturevalue("mcp_servers")  # the test MCP servers too (the editor's agent scenario)
    request.getfixturevalue("embedding_server")  # and the embeddings server (test_knowledge_embeddings.py)
    request.getfixturevalue("bucket_ports")  # and the S3 server's port (test_knowledge_bucket.py)
    if not (settings.FRONTEND_DIST / "index.html").exists():
        pytest.fail("frontend/dist is missing: run `make build` first (make test does).")
    yield from _serve("e2e-server.log")


@pytest.fixture(scope="session")
def bucket_ports() -> tuple[int, int]:
    """Two ports on 127.0.0.1 allowed through the outbound policy before the live server and the
    worker read their allow-list: the S3 server test_knowledge_bucket.py starts, and one where
    nothing listens (an unreachable endpoint)."""
    first = _free_port()
    second = next(port for port in iter(_free_port, None) if port != first)
    ports = (first, second)
    for port in ports:
        allow_egress(f"127.0.0.1:{port}")
    return ports


@pytest.fixture(scope="session")
def embedding_server() -> Iterator[Any]:
    """A real OpenAI-compatible embeddings server (MiniLM vectors), allowed through the outbound
    policy before the live server and the worker read their allow-list."""
    from tests.support.embedding_server import EmbeddingServer

    server = EmbeddingServer().start()
    allow_egress(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_url(live_url: str) -> Iterator[str]:
    """A second web process on the same database: what another `serve --workers` worker is."""
    yield from _serve("e2e-server-2.log")


@pytest.fixture(scope="session")
def huey_worker(live_url: str) -> Iterator[None]:
    """`manage.py run_huey` next to the live server (knowledge ingestion runs there): the same data
    dir (so the same SqliteHuey queue file) and the same test database."""
    from huey.contrib.djhuey import HUEY

    HUEY.flush()  # wake-ups left by earlier sessions point at documents that are gone
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
        "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
        "HUEY_WORKERS": "1",
        # Evaluations run flows in the worker: the stand-in model servers are allowed there too.
        "TRELLIS_EGRESS_ALLOW": ",".join(settings.EGRESS_ALLOW),
    }
    log = (settings.DATA_DIR / "e2e-huey.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    yield
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def local_model_url(tmp_path_factory: pytest.TempPathFactory, local_model_port: int) -> Iterator[str]:
    from apps.serving.local_model.prepare import ensure_local_model
    from tests.support.local_model import local_model_server

    model_dir = ensure_local_model(settings.LOCAL_MODEL_DIR)
    with local_model_server(model_dir, tmp_path_factory.mktemp("local-model") / "server.log", local_model_port) as url:
        yield url
