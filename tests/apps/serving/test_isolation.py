"""Invariant 2 for model endpoints: another tenant's ids answer 404 on every route and change
nothing (the org-route inventory in tests/apps/tenancy/test_tenant_isolation.py lists these
routes as covered here: model-list, model-detail, model-test, model-stats; model-test-stream, an
async view that needs committed rows, is attacked in test_test_stream.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from apps.serving.models import ModelEndpoint
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import AuditEvent, Role
from tests.conftest import Member

pytestmark = pytest.mark.django_db

ROUTE_NAMES = {"model-list", "model-detail", "model-test", "model-test-stream", "model-stats"}


def _snapshot() -> list[tuple[object, ...]]:
    return list(
        ModelEndpoint.objects.values_list(
            "id", "organization_id", "alias", "model", "base_url", "api_key_encrypted"
        ).order_by("id")
    )


@pytest.fixture
def victim(org_b: Member) -> dict[str, object]:
    endpoint = model_endpoint_create(
        access=org_b.access,
        alias="private",
        base_url="http://models.globex.test/v1",
        model="m",
        api_key="sk-victim",
    )
    return {"org": org_b.organization.id, "endpoint": endpoint.pk}


def _requests(target: dict[str, object], own_org: object) -> list[tuple[str, str, dict[str, object]]]:
    b, endpoint = target["org"], target["endpoint"]
    # Both shapes of attack: the other tenant's org id, and our org id with their endpoint id.
    return [
        ("get", f"/api/v1/orgs/{b}/models/", {}),
        ("post", f"/api/v1/orgs/{b}/models/", {"alias": "x", "base_url": "http://h/v1", "model": "m"}),
        ("get", f"/api/v1/orgs/{b}/models/{endpoint}/", {}),
        ("patch", f"/api/v1/orgs/{b}/models/{endpoint}/", {"base_url": "http://attacker.test/v1"}),
        ("delete", f"/api/v1/orgs/{b}/models/{endpoint}/", {}),
        ("post", f"/api/v1/orgs/{b}/models/{endpoint}/test/", {"prompt": "hi"}),
        ("get", f"/api/v1/orgs/{own_org}/models/{endpoint}/", {}),
        ("patch", f"/api/v1/orgs/{own_org}/models/{endpoint}/", {"base_url": "http://attacker.test/v1"}),
        ("delete", f"/api/v1/orgs/{own_org}/models/{endpoint}/", {}),
        ("post", f"/api/v1/orgs/{own_org}/models/{endpoint}/test/", {"prompt": "hi"}),
    ]


def test_serving_isolation_other_tenant_ids_answer_404_for_members(org_a: Member, victim: dict[str, object]) -> None:
    client = org_a.client()  # an owner of org A
    before, audit_before = _snapshot(), AuditEvent.objects.count()
    for method, url, body in _requests(victim, org_a.organization.id):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["code"] == "not_found"
        assert "sk-victim" not in response.content.decode()
    assert _snapshot() == before
    assert AuditEvent.objects.count() == audit_before


def test_serving_isolation_other_tenant_ids_answer_404_for_api_keys(
    org_a: Member, victim: dict[str, object], api_key_for: Callable[..., str]
) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.ADMIN)}")
    before = _snapshot()
    for method, url, body in _requests(victim, org_a.organization.id):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert _snapshot() == before


def test_serving_isolation_list_shows_only_own_endpoints(org_a: Member, victim: dict[str, object]) -> None:
    aliases = [e["alias"] for e in org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/models/").json()]
    assert aliases == ["local"]


def test_serving_isolation_attack_list_covers_every_model_route() -> None:
    from tests.apps.test_routes import ROUTES

    elsewhere = {"model-discover"}  # tests/apps/serving/test_models_ui_api.py
    serving_routes = {name for route, name in ROUTES if "/models/" in route} - elsewhere
    assert serving_routes == ROUTE_NAMES
