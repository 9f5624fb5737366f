"""REDIS_URL switches the channel layer and the queue to Redis: proven against a real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: run `make system-deps`"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


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
