"""Health, readiness, metrics, the embedded database and the API schema."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.conftest import Member


@pytest.mark.django_db
def test_health_liveness_and_readiness_check_database_and_queue() -> None:
    from huey.contrib.djhuey import HUEY

    HUEY.flush()  # a heartbeat left by an earlier test's worker would be stale by now
    client = APIClient()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["database"]["pgvector"]
    assert checks["queue"]["ok"]


@pytest.mark.django_db
def test_metrics_count_requests_by_route_pattern(org_a: Member) -> None:
    org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/members/")
    body = APIClient().get("/metrics").content.decode()
    assert 'route="api/v1/orgs/<str:org_id>/members/"' in body
    assert str(org_a.organization.id) not in body


@pytest.mark.django_db
def test_database_is_real_postgresql_with_pgvector() -> None:
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector")
        (distance,) = cursor.fetchone()
    assert distance == pytest.approx(1.0)


@pytest.mark.django_db
def test_api_docs_and_schema_need_auth_and_describe_the_api(org_a: Member) -> None:
    assert APIClient().get("/api/schema/").status_code in (401, 403)
    schema = org_a.client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/v1/orgs/{org_id}/api-keys/" in schema["paths"]
    assert "/api/v1/orgs/{org_id}/flows/{flow_id}/run/" in schema["paths"]  # the async view, via the hook
    docs = org_a.client().get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


@pytest.mark.django_db
def test_queue_embedded_worker_runs_enqueued_tasks() -> None:
    """The huey consumer that `make run` starts really executes tasks from the embedded queue."""
    import os
    import subprocess
    import sys
    import time

    from django.conf import settings
    from huey.contrib.djhuey import HUEY

    from apps.config.health import HEARTBEAT_KEY
    from apps.config.tasks import worker_heartbeat

    HUEY.flush()
    worker_heartbeat()
    assert HUEY.pending_count() == 1
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey", "--quiet"],
        env={**os.environ, "TRELLIS_DATA_DIR": str(settings.DATA_DIR)},
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while HUEY.get(HEARTBEAT_KEY, peek=True) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert HUEY.get(HEARTBEAT_KEY, peek=True) is not None
        # The queue drains: the consumer may also have enqueued its periodic tasks at a minute
        # boundary meanwhile, so wait for it to run those too rather than read the count once.
        while HUEY.pending_count() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert HUEY.pending_count() == 0
    finally:
        worker.terminate()
        worker.wait(timeout=15)
