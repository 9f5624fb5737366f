"""Eval-gated publish: refused with the report until the draft passes its gate; an admin may
override with a reason, which is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.builder.models import FlowVersion
from apps.tenancy.models import AuditEvent, Role
from tests.apps.evaluation.conftest import execute
from tests.conftest import Member
from tests.flows.graphs import chat_flow

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def _save_draft(member: Member, flow_id: str, template: str) -> None:
    url = f"/api/v1/orgs/{member.organization.id}/flows/{flow_id}/"
    revision = member.client().get(url).json()["revision"]
    graph = chat_flow(template=template, model="echo")
    response = member.client().put(f"{url}draft/", {"graph": graph, "revision": revision}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db(transaction=True)
def test_gate_refuses_publish_until_the_draft_passes(
    org_a: Member, echo_flow: dict[str, Any], add_member: Callable[..., Member]
) -> None:
    client, org = org_a.client(), org_a.organization.id
    flow_url = f"/api/v1/orgs/{org}/flows/{echo_flow['id']}/"
    items = [{"message": word, "expected_output": word} for word in WORDS]
    dataset = client.post(f"/api/v1/orgs/{org}/datasets/", {"name": "gate", "items": items}, format="json").json()
    gate = {
        "dataset": dataset["id"],
        "evaluators": [{"name": "exact", "kind": "exact"}],
        "thresholds": {"exact": 0.9},
        "no_regression": True,
    }
    editor = add_member(org_a.organization, Role.EDITOR)
    assert editor.client().put(f"{flow_url}gate/", gate, format="json").status_code == 403  # admin only
    assert client.put(f"{flow_url}gate/", gate, format="json").status_code == 200

    _save_draft(org_a, echo_flow["id"], "Answer: {{question}}")  # a regression: never the exact word
    refused = client.post(f"{flow_url}versions/", {"note": "v2"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "gate_not_run"

    started = client.post(f"{flow_url}gate/run/").json()
    assert started["target"] == "draft" and started["baseline"]
    assert execute(started["id"]).status == "completed"  # runs the published baseline first
    refused = client.post(f"{flow_url}versions/", {"note": "v2"}, format="json")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "gate_failed"
    assert body["report"]["checks"] == [{"evaluator": "exact", "threshold": 0.9, "mean": 0.0, "passed": False}]
    assert [r["evaluator"] for r in body["report"]["regressions"]] == ["exact"]
    assert FlowVersion.objects.filter(flow_id=echo_flow["id"]).count() == 1  # nothing published

    forbidden = editor.client().post(f"{flow_url}versions/", {"override_reason": "ship it anyway"}, format="json")
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "gate_override_forbidden"
    overridden = client.post(
        f"{flow_url}versions/", {"note": "v2", "override_reason": "Hotfix agreed with support"}, format="json"
    )
    assert overridden.status_code == 201, overridden.json()
    audit = AuditEvent.objects.get(organization_id=org, action="flow.publish.gate_override")
    assert audit.data["reason"] == "Hotfix agreed with support"
    assert audit.data["refusal"] == "gate_failed"

    _save_draft(org_a, echo_flow["id"], "{{question}}")  # fixed
    started = client.post(f"{flow_url}gate/run/").json()
    evaluation = execute(started["id"])
    assert evaluation.summary["gate"]["passed"], evaluation.summary["gate"]
    assert evaluation.summary["comparison"]["exact"]["direction"] == "better"
    published = client.post(f"{flow_url}versions/", {"note": "v3"}, format="json")
    assert published.status_code == 201, published.json()
    state = client.get(f"{flow_url}gate/").json()
    assert state["gate"]["thresholds"] == {"exact": 0.9}
    assert state["latest"]["id"] == started["id"]
