"""REDIS_URL switches the channel layer and the queue to Redis: proven against a real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]
from django.conf import settings
from django.db import connection

from apps.knowledge.services import knowledge_base_create
from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - fixtures
from tests.apps.widgets.conftest import SITE, make_widget  # noqa: F401 - fixtures
from tests.conftest import Member
from tests.support.asgi_server import free_port
from tests.support.egress import allow_egress
from tests.support.redis_server import RedisServer, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer
from huey.contrib.djhuey import HUEY
from apps.config.tasks import worker_heartbeat

async def roundtrip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "probe", "n": 7})
    return (await layer.receive(channel))["n"]

HUEY.flush()
worker_heartbeat()  # enqueued, not run: no consumer in this process
print(type(get_channel_layer()).__name__, type(HUEY).__name__, asyncio.run(roundtrip()), HUEY.pending_count())
"""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path).start()
    yield server.url
    server.stop()


def test_redis_mode_uses_redis_for_channels_and_queue(redis_url: str) -> None:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "apps.config.settings", "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["RedisChannelLayer", "RedisHuey", "7", "1"]


# --- sockets in Redis mode: a real uvicorn on the test database, a real redis-server ------------

IDLE_SECONDS = 20  # four of channels_redis's 5 s blocking reads: redis-py 8 broke the first one


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_web(redis_server: RedisServer, transactional_db: None) -> Iterator[tuple[str, Path]]:
    """The production ASGI app under uvicorn with REDIS_URL (channel layer and queue on Redis)."""
    port = free_port()
    log_path = settings.DATA_DIR / f"redis-mode-{port}.log"
    environment = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
        "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
    }
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "apps.config.asgi:application", "--port", str(port), "--lifespan", "off"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, timeout=60, process=server)
            yield f"127.0.0.1:{port}", log_path
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a consumer outlived its socket (it must not)
                server.kill()
                pytest.fail(f"the server did not stop within 20 s: {log_path.read_text()[-2000:]}")


async def _answer(ws: Any, message: dict[str, Any], kinds: set[str], timeout: float = 10) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if event["type"] in kinds:
            return dict(event)


@pytest.fixture
def socket_urls(
    redis_web: tuple[str, Path], org_a: Member, api_key_for: Callable[..., str], request: pytest.FixtureRequest
) -> tuple[str, dict[str, str], str]:
    """The app socket's URL and headers (an API key), and a widget socket's URL."""
    allow_egress(request.getfixturevalue("standin_url"))
    request.getfixturevalue("endpoint")()
    flow = request.getfixturevalue("publish_flow")()
    widget = request.getfixturevalue("make_widget")(flow["id"])
    address = redis_web[0]
    headers = {"Authorization": f"Bearer {api_key_for(org_a)}"}
    return f"ws://{address}/ws/", headers, f"ws://{address}/ws/widget/{widget['public_key']}/"


def test_redis_mode_idle_app_and_widget_sockets_stay_open(
    redis_web: tuple[str, Path], socket_urls: tuple[str, dict[str, str], str]
) -> None:
    app_url, headers, widget_url = socket_urls

    async def scenario() -> None:
        async with (
            websockets.connect(app_url, additional_headers=headers, ping_interval=None) as app,
            websockets.connect(widget_url, origin=SITE, ping_interval=None) as widget,  # type: ignore[arg-type]
        ):
            for ws in (app, widget):
                assert (await _answer(ws, {"type": "ping"}, {"pong", "error"}))["type"] == "pong"
            await asyncio.sleep(IDLE_SECONDS)  # no frame either way: only the channel layer's reads
            for ws in (app, widget):
                assert (await _answer(ws, {"type": "ping"}, {"pong", "error"}))["type"] == "pong"

    asyncio.run(scenario())
    log = redis_web[1].read_text()
    assert "TimeoutError" not in log and "Exception in ASGI application" not in log, log[-3000:]


def test_redis_mode_sockets_survive_a_redis_restart(
    redis_web: tuple[str, Path], redis_server: RedisServer, org_a: Member, socket_urls: tuple[str, dict[str, str], str]
) -> None:
    app_url, headers, widget_url = socket_urls
    kb = knowledge_base_create(access=org_a.access, name="Handbook")
    group = {"type": "knowledge.subscribe", "knowledge_base": str(kb.id)}
    progress = {"type": "knowledge.event", "knowledge_base": str(kb.id), "document": "d1", "status": "parsing"}

    async def scenario() -> list[str]:
        layer = RedisChannelLayer(hosts=[{"address": redis_server.url, "socket_timeout": 15}])
        async with (
            websockets.connect(app_url, additional_headers=headers, ping_interval=None) as app,
            websockets.connect(widget_url, origin=SITE, ping_interval=None) as widget,  # type: ignore[arg-type]
        ):
            assert (await _answer(app, group, {"knowledge.subscribed", "error"}))["type"] == "knowledge.subscribed"
            redis_server.restart(down_for=1.0)  # every key gone, the server's connections reset
            seen = []
            for ws in (app, widget):  # the sockets never closed
                seen.append((await _answer(ws, {"type": "ping"}, {"pong", "error"}))["type"])
            # The group membership died with Redis: the socket joins again once Redis answers,
            # so the worker's progress reaches it again.
            deadline = time.monotonic() + 20
            while True:
                await layer.group_send(f"knowledge.{kb.id}", progress)
                try:
                    event = json.loads(await asyncio.wait_for(app.recv(), 0.5))
                except TimeoutError:
                    assert time.monotonic() < deadline, "the socket never rejoined its group"
                    continue
                seen.append(f"{event['type']}:{event['status']}")
                break
            await layer.flush()
            return seen

    assert asyncio.run(scenario()) == ["pong", "pong", "knowledge.progress:parsing"]
    log = redis_web[1].read_text()
    assert "Exception in ASGI application" not in log, log[-3000:]
    assert log.count("channel layer unavailable") == 1, log[-3000:]  # once per outage, not per socket
    assert "channel layer available again" in log, log[-3000:]
