"""Invariant 2 for guardrails: another tenant's policies and hits answer 404 and change nothing."""

from __future__ import annotations

import pytest

from apps.guardrails.hook import guard_run_inputs
from apps.guardrails.models import GuardHit, Policy
from tests.conftest import Member


def _snapshot() -> tuple[object, ...]:
    return (
        list(Policy.objects.values_list("id", "config", "enabled").order_by("id")),
        list(GuardHit.objects.values_list("id").order_by("id")),
    )


@pytest.mark.parametrize("via", ["their_org", "our_org"])
def test_guardrails_other_tenant_ids_answer_404(org_a: Member, org_b: Member, via: str) -> None:
    theirs = org_b.client().post(f"/api/v1/orgs/{org_b.organization.id}/guard-policies/", {"config": {}}, format="json")
    policy = theirs.json()["id"]
    guard_run_inputs(organization_id=org_b.organization.id, widget_id=None, run_id=None, inputs={"message": "a@b.org"})
    before = _snapshot()
    client = org_a.client()
    b, own = org_b.organization.id, org_a.organization.id
    if via == "their_org":
        requests = [
            ("get", f"/api/v1/orgs/{b}/guard-policies/", {}),
            ("post", f"/api/v1/orgs/{b}/guard-policies/", {"config": {"dry_run": True}}),
            ("get", f"/api/v1/orgs/{b}/guard-policies/defaults/", {}),
            ("post", f"/api/v1/orgs/{b}/guard-policies/test/", {"text": "hi"}),
            ("get", f"/api/v1/orgs/{b}/guard-policies/{policy}/", {}),
            ("delete", f"/api/v1/orgs/{b}/guard-policies/{policy}/", {}),
            ("get", f"/api/v1/orgs/{b}/guard-hits/", {}),
            ("get", f"/api/v1/orgs/{b}/guard-hits/summary/", {}),
        ]
    else:
        requests = [
            ("get", f"/api/v1/orgs/{own}/guard-policies/{policy}/", {}),
            ("delete", f"/api/v1/orgs/{own}/guard-policies/{policy}/", {}),
        ]
    for method, path, body in requests:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert _snapshot() == before
    assert client.get(f"/api/v1/orgs/{own}/guard-hits/").json() == []
