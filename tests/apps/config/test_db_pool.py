"""Database connections under a real uvicorn: every request gives its connection back to the
process's bounded pool (a 401 too), and a request that finds the pool exhausted waits a bounded
time and answers 503 `database_busy` with Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from psycopg_pool import ConnectionPool, PoolTimeout

from apps.config.asgi import application
from tests.conftest import Member
from tests.support.asgi_server import uvicorn_serving

pytestmark = pytest.mark.django_db(transaction=True)


def _pool() -> ConnectionPool:
    """The process's pool (one per process: every thread's connection comes from it)."""
    pool: ConnectionPool = connection.pool  # type: ignore[attr-defined]
    pool.open()
    return pool


def _connections_of_this_process() -> int:
    """Backends PostgreSQL has open for this process (its pool's application_name)."""
    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], user=db["USER"], dbname="postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [db["OPTIONS"]["application_name"]],
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_db_pool_bounds_connections_under_concurrent_requests_and_401s(
    org_a: Member, api_key_for: Callable[..., str]
) -> None:
    key = await database_sync_to_async(api_key_for)(org_a)
    bound = settings.DB_POOL_SIZE
    flows = f"/api/v1/orgs/{org_a.organization.id}/flows/"
    async with (
        uvicorn_serving(application) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
    ):
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, await asyncio.to_thread(_connections_of_this_process))
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        wrong = {"Authorization": "Bearer trl_0badbeef_wrongsecretwrongsecretwrongsecret"}
        for _ in range(3):  # more requests than the pool has connections, three times over
            answers = await asyncio.gather(
                *[client.get(flows, headers=wrong) for _ in range(2 * bound)],
                *[client.get(flows, headers={"Authorization": f"Bearer {key}"}) for _ in range(bound)],
            )
            # On a loaded machine a request may wait out the pool's timeout: 503 database_busy, no 500.
            assert {200, 401} <= {a.status_code for a in answers} <= {200, 401, 503}
        sampler.cancel()
        after = await asyncio.to_thread(_connections_of_this_process)
    assert peak <= bound, f"{peak} connections for a pool of {bound}"
    assert after <= bound
    stats = _pool().get_stats()
    assert stats["pool_size"] - stats.get("pool_available", 0) <= 1  # only this test's own connection is out


async def test_db_pool_exhausted_drf_view_answers_503_database_busy(
    org_a: Member, api_key_for: Callable[..., str]
) -> None:
    key = await database_sync_to_async(api_key_for)(org_a)
    pool = _pool()
    url = f"/api/v1/orgs/{org_a.organization.id}/flows/"
    async with uvicorn_serving(application) as port, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        held = []
        while True:
            try:
                held.append(await asyncio.to_thread(pool.getconn, 0.2))
            except PoolTimeout:
                break
        timeout, pool.timeout = pool.timeout, 0.5
        try:
            drf_view = await client.get(url, headers={"Authorization": f"Bearer {key}"})
            plain_view = await client.post(
                f"{url}{'0' * 8}-0000-0000-0000-{'0' * 12}/run/",
                json={"inputs": {"message": "hi"}},
                headers={"Authorization": f"Bearer {key}"},
            )
        finally:
            pool.timeout = timeout
            for conn in held:
                pool.putconn(conn)
        again = await client.get(url, headers={"Authorization": f"Bearer {key}"})
    for answer in (drf_view, plain_view):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "database_busy"
        assert answer.headers["Retry-After"] == "2"
    assert again.status_code == 200  # the pool serves again once connections come back


def test_db_pool_settings_are_bounded_per_process() -> None:
    database: dict[str, Any] = settings.DATABASES["default"]
    assert database["CONN_MAX_AGE"] == 0
    assert database["OPTIONS"]["pool"]["max_size"] == settings.DB_POOL_SIZE
    assert database["OPTIONS"]["pool"]["timeout"] == settings.DB_POOL_TIMEOUT
    assert database["OPTIONS"]["application_name"] == f"trellis:{os.getpid()}"


async def test_db_pool_exhausted_websocket_run_start_answers_database_busy_error_event(
    org_a: Member, api_key_for: Callable[..., str]
) -> None:
    from channels.testing import WebsocketCommunicator

    key = await database_sync_to_async(api_key_for)(org_a)
    socket = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())]
    )
    connected, _ = await socket.connect()
    assert connected
    pool = _pool()
    held = []
    while True:
        try:
            held.append(await asyncio.to_thread(pool.getconn, 0.2))
        except PoolTimeout:
            break
    timeout, pool.timeout = pool.timeout, 0.5
    try:
        await socket.send_json_to({"type": "run.start", "flow": str(uuid.uuid4()), "inputs": {"message": "hi"}})
        event = await socket.receive_json_from(timeout=10)
    finally:
        pool.timeout = timeout
        for conn in held:
            pool.putconn(conn)
        await socket.disconnect()
    assert event["type"] == "error"
    assert event["code"] == "database_busy"
