"""Viewers read; editors and above write. A refused write changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.builder.models import Flow, FlowVersion
from apps.tenancy.models import AuditEvent, Role
from tests.apps.builder.conftest import create_flow, flow_url, flows_url, publish
from tests.conftest import Member
from tests.flows.graphs import chat_flow


def _state() -> tuple[object, ...]:
    return (
        list(Flow.objects.values_list("id", "name", "revision", "published_version").order_by("id")),
        FlowVersion.objects.count(),
        AuditEvent.objects.count(),
    )


def _writes(member: Member, flow: dict[str, Any]) -> list[tuple[str, str, Any]]:
    export = {"format": "trellis.flow", "format_version": 1, "name": "I", "description": "", "graph": chat_flow()}
    return [
        ("post", flows_url(member), {"name": "New"}),
        ("post", flows_url(member, "import/"), export),
        ("patch", flow_url(member, flow["id"]), {"name": "Renamed"}),
        ("put", flow_url(member, flow["id"], "draft/"), {"graph": chat_flow(), "revision": flow["revision"]}),
        ("post", flow_url(member, flow["id"], "versions/"), {"note": "x"}),
        ("post", flow_url(member, flow["id"], "versions/1/restore/"), {}),
        ("post", flow_url(member, flow["id"], "rollback/"), {"version": 1}),
        ("post", flow_url(member, flow["id"], "duplicate/"), {}),
        ("delete", flow_url(member, flow["id"]), {}),
    ]


def _reads(member: Member, flow: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [
        ("get", flows_url(member), {}),
        ("get", flow_url(member, flow["id"]), {}),
        ("post", flow_url(member, flow["id"], "validate/"), {}),
        ("get", flow_url(member, flow["id"], "versions/"), {}),
        ("get", flow_url(member, flow["id"], "versions/1/"), {}),
        ("get", flow_url(member, flow["id"], "diff/"), {}),
        ("get", flow_url(member, flow["id"], "export/"), {}),
    ]


@pytest.fixture
def published(org_a: Member) -> dict[str, Any]:
    flow = create_flow(org_a)
    publish(org_a, flow)
    return flow


def test_role_viewer_can_read_everything_but_write_nothing(viewer: Member, published: dict[str, Any]) -> None:
    client = viewer.client()
    for method, url, body in _reads(viewer, published):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 200, f"{method.upper()} {url} -> {response.status_code}"
    before = _state()
    for method, url, body in _writes(viewer, published):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["code"] == "permission_denied"
    assert _state() == before


def test_role_viewer_api_key_cannot_write(
    org_a: Member, published: dict[str, Any], api_key_for: Callable[..., str]
) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.VIEWER)}")
    assert client.get(flows_url(org_a)).status_code == 200
    before = _state()
    for method, url, body in _writes(org_a, published):
        assert getattr(client, method)(url, body, format="json").status_code == 403, url
    assert _state() == before


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN])
def test_role_editor_and_above_can_do_every_write(
    role: str, org_a: Member, add_member: Callable[..., Member], published: dict[str, Any]
) -> None:
    member = add_member(org_a.organization, role, f"the-{role}")
    client = member.client()
    expected = {"post": (200, 201), "patch": (200,), "put": (200,), "delete": (204,)}
    for method, url, body in _writes(member, published):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code in expected[method], f"{method.upper()} {url} -> {response.json()}"
    assert not Flow.objects.filter(pk=published["id"]).exists()


def test_role_editor_api_key_can_publish(
    org_a: Member, published: dict[str, Any], api_key_for: Callable[..., str]
) -> None:
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.EDITOR)}")
    response = client.post(flow_url(org_a, published["id"], "versions/"), {"note": "from CI"}, format="json")
    assert response.status_code == 201
    assert response.json()["created_by"] is None
    event = AuditEvent.objects.filter(action="flow.publish").order_by("-id").first()
    assert event is not None and event.actor_api_key is not None
