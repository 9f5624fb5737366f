"""Invariant 2 for evaluation: another tenant's org, dataset, evaluation or flow id answers 404 on
every route and changes nothing; an evaluation socket subscription to it is not found either."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.evaluation import services
from apps.evaluation.api.urls import urlpatterns
from apps.evaluation.models import Dataset, DatasetVersion, EvalSample, Evaluation, FlowGate
from apps.tenancy.models import AuditEvent
from tests.apps.builder.conftest import create_flow, publish
from tests.conftest import Member

EXACT = [{"name": "e", "kind": "exact"}, {"name": "h", "kind": "human"}]


def _snapshot() -> tuple[object, ...]:
    return (
        list(Dataset.objects.values_list("id", "name", "latest_version").order_by("id")),
        DatasetVersion.objects.count(),
        list(Evaluation.objects.values_list("id", "status").order_by("id")),
        list(EvalSample.objects.values_list("id", "scores").order_by("id")),
        list(FlowGate.objects.values_list("flow", "thresholds", "enabled")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def victim(org_b: Member) -> dict[str, Any]:
    flow = create_flow(org_b, "Their flow")
    publish(org_b, flow)
    dataset = services.dataset_create(access=org_b.access, name="theirs", items=[{"message": "secret"}])
    evaluation = services.evaluation_create(
        access=org_b.access, flow_id=flow["id"], version="1", dataset_id=dataset.pk, evaluators=EXACT, enqueue=False
    )
    item = dataset.versions.get().items.get()
    sample = EvalSample.objects.create(evaluation=evaluation, item=item, sample=0, scores={"h": {"pending": True}})
    services.gate_save(
        access=org_b.access,
        flow_id=flow["id"],
        dataset_id=dataset.pk,
        evaluators=EXACT,
        thresholds={"e": 0.5},
        samples=1,
        no_regression=False,
        enabled=True,
    )
    return {
        "org": org_b.organization.id,
        "flow": flow["id"],
        "dataset": dataset.pk,
        "eval": evaluation.pk,
        "sample": sample.pk,
    }


def _requests(t: dict[str, Any], own_org: object) -> list[tuple[str, str, str, Any]]:
    create = {"flow": str(t["flow"]), "version": "1", "dataset": str(t["dataset"]), "evaluators": EXACT}
    requests: list[tuple[str, str, str, Any]] = [
        ("dataset-list", "get", f"/api/v1/orgs/{t['org']}/datasets/", {}),
        ("dataset-list", "post", f"/api/v1/orgs/{t['org']}/datasets/", {"name": "planted"}),
        ("evaluation-list", "get", f"/api/v1/orgs/{t['org']}/evaluations/", {}),
        ("review-queue", "get", f"/api/v1/orgs/{t['org']}/review-queue/", {}),
    ]
    for org in (t["org"], own_org):
        dataset, evaluation = (
            f"/api/v1/orgs/{org}/datasets/{t['dataset']}",
            f"/api/v1/orgs/{org}/evaluations/{t['eval']}",
        )
        gate = f"/api/v1/orgs/{org}/flows/{t['flow']}/gate"
        requests += [
            ("evaluation-list", "post", f"/api/v1/orgs/{org}/evaluations/", create),
            ("evaluation-estimate", "post", f"/api/v1/orgs/{org}/evaluations/estimate/", create),
            ("dataset-detail", "get", f"{dataset}/", {}),
            ("dataset-detail", "patch", f"{dataset}/", {"name": "pwned"}),
            ("dataset-detail", "delete", f"{dataset}/", {}),
            ("dataset-version-list", "get", f"{dataset}/versions/", {}),
            ("dataset-items", "get", f"{dataset}/items/", {}),
            ("dataset-items", "put", f"{dataset}/items/", {"items": [{"message": "pwned"}]}),
            ("dataset-upload", "post", f"{dataset}/upload/", "upload"),
            ("dataset-from-production", "post", f"{dataset}/from-production/", {"thumbs_down": True}),
            ("evaluation-detail", "get", f"{evaluation}/", {}),
            ("evaluation-detail", "delete", f"{evaluation}/", {}),
            ("evaluation-cancel", "post", f"{evaluation}/cancel/", {}),
            ("evaluation-items", "get", f"{evaluation}/items/", {}),
            ("evaluation-export", "get", f"{evaluation}/export/", {}),
            (
                "evaluation-sample-grade",
                "post",
                f"{evaluation}/samples/{t['sample']}/grade/",
                {"evaluator": "h", "score": 1},
            ),
            ("flow-gate", "get", f"{gate}/", {}),
            ("flow-gate", "put", f"{gate}/", {"dataset": str(t["dataset"]), "evaluators": EXACT, "thresholds": {}}),
            ("flow-gate", "delete", f"{gate}/", {}),
            ("flow-gate-run", "post", f"{gate}/run/", {}),
        ]
    return requests


@pytest.mark.django_db
def test_evaluation_isolation_other_tenant_ids_answer_404(org_a: Member, victim: dict[str, Any]) -> None:
    before = _snapshot()
    requests = _requests(victim, org_a.organization.id)
    assert {name for name, *_ in requests} == {pattern.name for pattern in urlpatterns}  # every route attacked
    client = org_a.client()
    for _, method, url, body in requests:
        if body == "upload":
            response = client.post(url, {"file": SimpleUploadedFile("x.csv", b"message\nhi\n")}, format="multipart")
        else:
            response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, (
            f"{method.upper()} {url} -> {response.status_code} {response.content[:200]!r}"
        )
    assert _snapshot() == before


@pytest.mark.django_db(transaction=True)
async def test_evaluation_socket_progress_and_isolation(
    org_a: Member, victim: dict[str, Any], api_key_for: Callable[..., str]
) -> None:
    from asgiref.sync import sync_to_async

    from apps.config.asgi import application

    flow = await sync_to_async(create_flow)(org_a, "Ours")
    await sync_to_async(publish)(org_a, flow)
    dataset = await sync_to_async(services.dataset_create)(access=org_a.access, name="ours", items=[{"message": "x"}])
    ours = await sync_to_async(services.evaluation_create)(
        access=org_a.access, flow_id=flow["id"], version="1", dataset_id=dataset.pk, evaluators=EXACT, enqueue=False
    )
    key = await sync_to_async(api_key_for)(org_a)
    ws = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "evaluation.subscribe", "evaluation": str(victim["eval"])})
    answer = await ws.receive_json_from(timeout=10)
    assert (answer["type"], answer["code"]) == ("error", "not_found")
    await ws.send_json_to({"type": "evaluation.subscribe", "evaluation": str(ours.pk)})
    progress = await ws.receive_json_from(timeout=10)
    assert progress == {
        "type": "evaluation.progress",
        "evaluation": str(ours.pk),
        "status": "queued",
        "done": 0,
        "failed": 0,
        "total": 1,
        "cost": "0.000000",
        "estimated_cost": "0.000000",
    }
    await sync_to_async(services.evaluation_cancel)(access=org_a.access, evaluation_id=ours.pk)
    cancelled = await ws.receive_json_from(timeout=10)
    assert cancelled["status"] == "cancelled"
    await ws.disconnect()
