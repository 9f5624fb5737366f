"""Invariant 2 for flows: another tenant's org or flow id answers 404 on every route, changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.builder.api.urls import urlpatterns
from apps.builder.models import Flow, FlowVersion
from apps.tenancy.models import AuditEvent, Role
from tests.apps.builder.conftest import create_flow, publish
from tests.conftest import Member
from tests.flows.graphs import chat_flow


def _snapshot() -> tuple[object, ...]:
    return (
        list(Flow.objects.values_list("id", "organization", "name", "description", "revision").order_by("id")),
        list(Flow.objects.values_list("draft", "published_version").order_by("id")),
        list(FlowVersion.objects.values_list("id", "flow", "number").order_by("id")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def victim(org_b: Member) -> dict[str, Any]:
    flow = create_flow(org_b, "Their secret flow")
    publish(org_b, flow)
    return {"org": org_b.organization.id, "flow": flow["id"], "revision": flow["revision"]}


def _requests(target: dict[str, Any], own_org: object) -> list[tuple[str, str, str, Any]]:
    """(route name, method, url, body): both with their org id, and with ours and their flow id."""
    export = {"format": "trellis.flow", "format_version": 1, "name": "x", "description": "", "graph": chat_flow()}
    requests: list[tuple[str, str, str, Any]] = [
        ("flow-list", "get", f"/api/v1/orgs/{target['org']}/flows/", {}),
        ("flow-list", "post", f"/api/v1/orgs/{target['org']}/flows/", {"name": "planted"}),
        ("flow-import", "post", f"/api/v1/orgs/{target['org']}/flows/import/", export),
        ("flow-callable-list", "get", f"/api/v1/orgs/{target['org']}/flows/callable/", {}),
    ]
    for org in (target["org"], own_org):
        flow = f"/api/v1/orgs/{org}/flows/{target['flow']}"
        requests += [
            ("flow-detail", "get", f"{flow}/", {}),
            ("flow-detail", "patch", f"{flow}/", {"name": "pwned"}),
            ("flow-detail", "delete", f"{flow}/", {}),
            ("flow-draft", "put", f"{flow}/draft/", {"graph": {"nodes": [], "edges": []}, "revision": 1}),
            ("flow-validate", "post", f"{flow}/validate/", {}),
            ("flow-version-list", "get", f"{flow}/versions/", {}),
            ("flow-version-list", "post", f"{flow}/versions/", {"note": "pwned"}),
            ("flow-version-detail", "get", f"{flow}/versions/1/", {}),
            ("flow-version-restore", "post", f"{flow}/versions/1/restore/", {}),
            ("flow-rollback", "post", f"{flow}/rollback/", {"version": 1}),
            ("flow-diff", "get", f"{flow}/diff/", {}),
            ("flow-export", "get", f"{flow}/export/", {}),
            ("flow-duplicate", "post", f"{flow}/duplicate/", {}),
        ]
    return requests


def _attack(client: APIClient, target: dict[str, Any], own_org: object) -> None:
    before = _snapshot()
    for _, method, url, body in _requests(target, own_org):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["code"] == "not_found"
    assert _snapshot() == before


def test_isolation_other_tenant_ids_answer_404_for_members(org_a: Member, victim: dict[str, Any]) -> None:
    _attack(org_a.client(), victim, org_a.organization.id)


def test_isolation_other_tenant_ids_answer_404_for_api_keys(
    org_a: Member, victim: dict[str, Any], api_key_for: Callable[..., str]
) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.ADMIN)}")
    _attack(client, victim, org_a.organization.id)


def test_isolation_flow_list_shows_only_own_flows(org_a: Member, victim: dict[str, Any]) -> None:
    create_flow(org_a, "Ours")
    page = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/flows/", {"q": ""}).json()
    assert [flow["name"] for flow in page["results"]] == ["Ours"]
    assert org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/flows/", {"q": "secret"}).json()["count"] == 0


def test_isolation_every_org_scoped_builder_route_is_attacked() -> None:
    org_routes = {p.name for p in urlpatterns if "org_id" in str(p.pattern)}
    attacked = {name for name, *_ in _requests({"org": "o", "flow": "f"}, "own")}
    assert org_routes == attacked
