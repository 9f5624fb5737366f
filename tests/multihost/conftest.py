"""The multi-host harness as fixtures: one cluster per module (it takes ~20 s to start).

These tests start their own PostgreSQL, Redis and servers; they use nothing of the suite's test
database. `pytest -m multihost` runs only them, `-m "not multihost"` leaves them out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.multihost.harness import (
    Cluster,
    ExternalPostgres,
    Host,
    environment_for,
    manage,
    seed,
    start_standin,
    start_worker,
    stop_all,
    stop_process,
)
from tests.support.asgi_server import free_port
from tests.support.redis_server import RedisServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/multihost/" in str(item.fspath):
            item.add_marker(pytest.mark.multihost)


@pytest.fixture(scope="session", autouse=True)
def _close_worker_connections() -> None:
    """The suite's test database is not used here: nothing to create, nothing to clean up."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="trellis-multihost-"))
    with ExitStack() as cleanup:  # whatever started is stopped, even when a later step fails
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        postgres = ExternalPostgres()
        cleanup.callback(postgres.stop)
        postgres.start()
        redis = RedisServer(folder)
        cleanup.callback(redis.stop)
        redis.start()
        standin_port = free_port()
        standin = start_standin(standin_port)
        cleanup.callback(stop_process, standin)
        environment = environment_for(postgres, redis, standin_port)
        manage(environment, "migrate", "--noinput", folder=folder / "migrate")  # once, as a deploy does
        worker = start_worker(environment, folder / "worker")
        hosts = [Host(name, environment, folder / name).start() for name in ("a", "b")]
        built = Cluster(postgres, redis, standin, worker, hosts, environment, folder, {})
        cleanup.callback(stop_all, built)
        built.seed = seed(environment, f"http://127.0.0.1:{standin_port}/v1", folder / "migrate")
        for host in hosts:
            host.wait_ready()
        yield built
