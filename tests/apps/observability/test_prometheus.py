"""/metrics: the run and model-call series after a real run, bounded labels (no run, user or
unbounded ids), the scrape-time gauges, and several processes' values added up (multiprocess
mode, as `serve --workers N` runs it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.config import metrics
from apps.runs.models import Run
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]


def _scrape() -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {settings.METRICS_TOKEN}"} if settings.METRICS_TOKEN else {}
    response = Client().get("/metrics", **headers)  # type: ignore[arg-type]
    assert response.status_code == 200
    text = response.content.decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_need_the_token_outside_the_embedded_mode(settings: Any) -> None:
    settings.METRICS_TOKEN = "tok"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer tok").status_code == 200


async def test_a_run_feeds_the_run_and_model_call_series(
    org_a: Member,
    api_key_for: Callable[..., str],
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.db import database_sync_to_async

    # The ids this process has labelled so far: in the whole suite more than MAX_IDS
    # organizations ran before this test, and this one's would be counted as "other".
    monkeypatch.setattr(metrics, "_seen", {})

    from apps.config.asgi import application

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    key = await database_sync_to_async(api_key_for)(org_a, "editor")
    _, before = await database_sync_to_async(_scrape)()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1", timeout=30
    ) as client:
        response = await client.post(
            f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/",
            json={"inputs": {"message": "hello"}},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    run = await database_sync_to_async(Run.objects.get)(pk=response.json()["id"])
    text, after = await database_sync_to_async(_scrape)()

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    org = str(org_a.organization.id)
    assert delta("trellis_runs_total", organization=org, flow=flow["id"], source="api", status="completed") == 1
    assert delta("trellis_run_tokens_total", organization=org, direction="output") == 12
    assert delta("trellis_run_duration_seconds_count", source="api") == 1
    assert delta("trellis_run_ttft_seconds_count", source="api") == 1
    assert delta("trellis_run_cost_dollars_total", organization=org) == pytest.approx(float(run.cost))
    assert delta("trellis_model_calls_total", alias="standin", status="ok") == 1
    assert delta("trellis_model_call_ttft_seconds_count", alias="standin") == 1
    assert delta("trellis_model_call_duration_seconds_count", alias="standin") == 1
    assert delta("trellis_model_call_time_between_tokens_seconds_count", alias="standin") == 1
    assert delta("trellis_model_tokens_total", organization=org, alias="standin", direction="output") == 12
    assert "trellis_queue_pending_tasks" in text and 'trellis_ingestion_documents{status="queued"}' in text
    # No run, user or key in any label.
    assert str(run.pk) not in text and str(run.session_id) not in text
    assert not any(name in text for name in ('run="', 'run_id="', 'user="', 'user_id="', 'session="', 'visitor="'))


def test_label_values_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "MAX_IDS", 2)
    label = "test-bounded"
    assert [metrics.bounded(label, v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", "other", "a", "other", "b"]
    assert metrics.bounded(label, None) == "other"  # a third value: bounded too


INCREMENT = """
import sys
from types import SimpleNamespace
from apps.config.metrics import REQUESTS, model_call_observe
for _ in range(int(sys.argv[1])):
    REQUESTS.labels("GET", "api/v1/x/", "200").inc()
    model_call_observe(SimpleNamespace(alias="shared", served_by="shared", status="ok", attempts=[],
        ttft_ms=20.0, latency_ms=120.0, output_tokens=6, input_tokens=3, organization_id="org", cost=0))
"""


def test_several_processes_are_added_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two worker processes write their values into the shared directory; a scrape answered by
    a third adds them up (as uvicorn --workers N behind `serve` does)."""
    directory = metrics.metrics_dir_prepare(tmp_path, 8123)
    assert Path(directory) == tmp_path / "run" / "prometheus-8123"
    env = {"PROMETHEUS_MULTIPROC_DIR": directory, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for count in (3, 4):
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(INCREMENT), str(count)], cwd=ROOT, env=env, check=True, timeout=60
        )
    assert len(list(Path(directory).glob("*.db"))) >= 2  # one file per process and kind
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", directory)
    _, samples = _scrape()
    assert _value(samples, "trellis_http_requests_total", route="api/v1/x/") == 7
    assert _value(samples, "trellis_model_calls_total", alias="shared") == 7
    assert _value(samples, "trellis_model_call_ttft_seconds_count", alias="shared") == 7
    # A new start empties the directory: the old processes' values are gone.
    metrics.metrics_dir_prepare(tmp_path, 8123)
    _, samples = _scrape()
    assert _value(samples, "trellis_model_calls_total", alias="shared") == 0


def test_guard_hits_are_counted_by_check_action_and_stage(org_a: Member) -> None:
    from apps.guardrails.services import hits_record
    from flows.guards import Hit

    _, before = _scrape()
    hit = Hit(check="pii", label="email", action="redact", score=1.0, start=0, end=5, source="user")
    hits_record(organization_id=org_a.organization.pk, policy=None, run_id=None, hits=[hit, hit], stage="input")
    text, after = _scrape()
    key = {"check": "pii", "action": "redact", "stage": "input"}
    assert _value(after, "trellis_guard_hits_total", **key) - _value(before, "trellis_guard_hits_total", **key) == 2
    assert 'label="email"' not in text  # what was found is no label value: checks are few, labels many
