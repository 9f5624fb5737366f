"""Fixtures and helpers for the builder: an editor and a viewer in org A, flows made through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.tenancy.models import Role
from tests.conftest import Member
from tests.flows.graphs import chat_flow


@pytest.fixture
def editor(org_a: Member, add_member: Callable[..., Member]) -> Member:
    return add_member(org_a.organization, Role.EDITOR, "flow-editor")


@pytest.fixture
def viewer(org_a: Member, add_member: Callable[..., Member]) -> Member:
    return add_member(org_a.organization, Role.VIEWER, "flow-viewer")


def flows_url(member: Member, path: str = "") -> str:
    return f"/api/v1/orgs/{member.organization.id}/flows/{path}"


def flow_url(member: Member, flow_id: object, path: str = "") -> str:
    return flows_url(member, f"{flow_id}/{path}")


def create_flow(member: Member, name: str = "Support bot", **body: Any) -> dict[str, Any]:
    response = member.client().post(flows_url(member), {"name": name, **body}, format="json")
    assert response.status_code == 201, response.json()
    result: dict[str, Any] = response.json()
    return result


def save_draft(member: Member, flow: dict[str, Any], graph: dict[str, Any]) -> dict[str, Any]:
    """Saves at the flow's current revision; returns the response body and updates `flow`."""
    current = member.client().get(flow_url(member, flow["id"])).json()["revision"]
    response = member.client().put(
        flow_url(member, flow["id"], "draft/"), {"graph": graph, "revision": current}, format="json"
    )
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    flow["revision"] = body["revision"]
    return body


def publish(member: Member, flow: dict[str, Any], note: str = "") -> dict[str, Any]:
    response = member.client().post(flow_url(member, flow["id"], "versions/"), {"note": note}, format="json")
    assert response.status_code == 201, response.json()
    body: dict[str, Any] = response.json()
    return body


def cyclic_flow() -> dict[str, Any]:
    spec = chat_flow()
    spec["edges"].append(
        {"id": "back", "source": "llm", "source_port": "text", "target": "prompt", "target_port": "question"}
    )
    return spec
