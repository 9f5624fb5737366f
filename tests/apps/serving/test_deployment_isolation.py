"""Invariant 2 for deployments, the model store, quotas, the ledger and stats: another tenant's ids
answer 404 and change nothing; the instance's embedded deployment is visible to every
organization and changeable by none. Also the deployment API's own bad-input answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.serving.deployments import deployment_create, deployment_ensure_instance_local
from apps.serving.models import DesiredState, ModelCall, ModelDeployment, ModelQuota
from apps.tenancy.models import Role
from tests.conftest import Member

pytestmark = pytest.mark.django_db

ROUTE_NAMES = {
    "deployment-list",
    "deployment-detail",
    "deployment-action",
    "deployment-log",
    "stored-model-list",
    "stored-model-detail",
    "model-budget-list",
    "model-budget-detail",
    "model-quota",
    "model-call-list",
    "model-stats",
}


def _snapshot() -> list[tuple[object, ...]]:
    rows = ModelDeployment.objects.values_list("id", "organization_id", "desired_state", "port", "engine_args")
    return [*rows.order_by("id"), *ModelQuota.objects.values_list("organization_id", "monthly_token_budget")]


@pytest.fixture
def victim(org_b: Member) -> dict[str, object]:
    deployment = deployment_create(
        access=org_b.access, name="secret", model_dir=str(settings.LOCAL_MODEL_DIR), port=19555
    )
    ModelQuota.objects.create(organization=org_b.organization, monthly_token_budget=5)
    ModelCall.objects.create(organization=org_b.organization, alias="secret-alias", status="ok", at=timezone.now())
    return {"org": org_b.organization.id, "deployment": deployment.pk}


def _requests(target: dict[str, object], own: object) -> list[tuple[str, str, dict[str, object]]]:
    b, dep = target["org"], target["deployment"]
    requests: list[tuple[str, str, dict[str, object]]] = []
    for org in (b, own):
        requests += [
            ("get", f"/api/v1/orgs/{org}/deployments/{dep}/", {}),
            ("patch", f"/api/v1/orgs/{org}/deployments/{dep}/", {"port": 19556}),
            ("delete", f"/api/v1/orgs/{org}/deployments/{dep}/", {}),
            ("post", f"/api/v1/orgs/{org}/deployments/{dep}/actions/", {"action": "stop"}),
            ("get", f"/api/v1/orgs/{org}/deployments/{dep}/log/", {}),
        ]
    requests += [
        ("get", f"/api/v1/orgs/{b}/deployments/", {}),
        ("post", f"/api/v1/orgs/{b}/deployments/", {"name": "x", "model_dir": "/srv/x", "port": 19557}),
        ("get", f"/api/v1/orgs/{b}/stored-models/", {}),
        ("post", f"/api/v1/orgs/{b}/stored-models/", {"name": "x", "origin": "smollm2-gguf"}),
        ("delete", f"/api/v1/orgs/{b}/stored-models/1/", {}),
        ("get", f"/api/v1/orgs/{b}/model-budgets/", {}),
        ("put", f"/api/v1/orgs/{b}/model-budgets/", {"monthly_token_budget": 1}),
        ("delete", f"/api/v1/orgs/{b}/model-budgets/1/", {}),
        ("get", f"/api/v1/orgs/{b}/model-quota/", {}),
        ("put", f"/api/v1/orgs/{b}/model-quota/", {"monthly_token_budget": 10**9}),
        ("get", f"/api/v1/orgs/{b}/model-calls/", {}),
        ("get", f"/api/v1/orgs/{b}/models/stats/", {}),
    ]
    return requests


def test_deployment_isolation_other_tenant_ids_answer_404(
    org_a: Member, victim: dict[str, object], api_key_for: Callable[..., str]
) -> None:
    before = _snapshot()
    for client in (org_a.client(), APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.ADMIN)}")):
        for method, url, body in _requests(victim, org_a.organization.id):
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert _snapshot() == before
    own = f"/api/v1/orgs/{org_a.organization.id}"
    assert org_a.client().get(f"{own}/deployments/").json() == []
    assert org_a.client().get(f"{own}/model-calls/").json() == []
    assert org_a.client().get(f"{own}/model-quota/").json()["monthly_token_budget"] is None


def test_deployment_instance_local_is_visible_to_all_and_changeable_by_none(org_a: Member) -> None:
    local = deployment_ensure_instance_local(model_dir=settings.LOCAL_MODEL_DIR, port=19558, running=False)
    base = f"/api/v1/orgs/{org_a.organization.id}/deployments"
    listed = org_a.client().get(f"{base}/").json()
    assert [(d["name"], d["instance_owned"]) for d in listed] == [("local", True)]
    for method, url, body in [
        ("post", f"{base}/{local.pk}/actions/", {"action": "start"}),
        ("patch", f"{base}/{local.pk}/", {"port": 19559}),
        ("delete", f"{base}/{local.pk}/", {}),
    ]:
        response = getattr(org_a.client(), method)(url, body, format="json")
        assert response.status_code == 403 and response.json()["code"] == "instance_owned"
    local.refresh_from_db()
    assert local.desired_state == DesiredState.STOPPED and local.port == 19558


def test_deployment_api_refuses_bad_input_with_its_reason(org_a: Member, add_member: Callable[..., Member]) -> None:
    base = f"/api/v1/orgs/{org_a.organization.id}/deployments/"
    client, model_dir = org_a.client(), str(settings.LOCAL_MODEL_DIR)
    cases = [
        ({"name": "a", "model_dir": model_dir, "port": 19560, "engine_args": {"warp": 9}}, "invalid_engine_args"),
        ({"name": "a", "model_dir": model_dir, "port": 19560, "engine_args": {"dtype": "int3"}}, "invalid_engine_args"),
        ({"name": "a", "model_dir": "/etc", "port": 19560}, "model_dir_not_allowed"),
        ({"name": "a", "port": 19560}, "no_model"),
        ({"name": "a", "model_dir": model_dir, "port": 80}, "invalid"),
    ]
    for body, code in cases:
        response = client.post(base, body, format="json")
        assert response.status_code == 400 and response.json()["code"] == code, (body, response.json())
    assert not ModelDeployment.objects.exists()
    editor = add_member(org_a.organization, Role.EDITOR)
    response = editor.client().post(base, {"name": "a", "model_dir": model_dir, "port": 19560}, format="json")
    assert response.status_code == 403


def test_deployment_actions_set_the_desired_state(org_a: Member) -> None:
    base = f"/api/v1/orgs/{org_a.organization.id}/deployments/"
    created = org_a.client().post(
        base, {"name": "d", "model_dir": str(settings.LOCAL_MODEL_DIR), "port": 19561}, format="json"
    )
    assert created.status_code == 201, created.json()
    url = f"{base}{created.json()['id']}/actions/"
    assert org_a.client().post(url, {"action": "stop"}, format="json").json()["desired_state"] == "stopped"
    restarted = org_a.client().post(url, {"action": "restart"}, format="json").json()
    assert restarted["desired_state"] == "running"
    assert ModelDeployment.objects.get(pk=created.json()["id"]).restart_requested_at is not None
    log = org_a.client().get(f"{base}{created.json()['id']}/log/?offset=0").json()
    assert log == {"text": "", "offset": 0}


def test_deployment_isolation_attack_list_covers_every_route() -> None:
    from tests.apps.test_routes import ROUTES

    elsewhere = {"model-list", "model-detail", "model-test", "model-test-stream"}  # test_isolation, test_test_stream
    elsewhere |= {"model-discover", "model-call-export"}  # test_models_ui_api
    names = {name for route, name in ROUTES if "org_id" in route and name not in elsewhere}
    assert names >= ROUTE_NAMES
    assert {n for n in names if n.startswith(("deployment", "stored-model", "model-"))} == ROUTE_NAMES
