"""Invariant 2: ids of another tenant answer 404 on every endpoint and change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.tenancy.models import ApiKey, AuditEvent, Invitation, Membership, Organization, Role
from apps.tenancy.services import invitation_create
from tests.conftest import Member


def _snapshot() -> tuple[object, ...]:
    return (
        list(Organization.objects.values_list("id", "name").order_by("id")),
        list(Membership.objects.values_list("id", "role").order_by("id")),
        list(ApiKey.objects.values_list("id", "revoked_at").order_by("id")),
        list(Invitation.objects.values_list("id", "revoked_at").order_by("id")),
    )


@pytest.fixture
def victim(org_b: Member, add_member: Callable[..., Member], api_key_for: Callable[..., str]) -> dict[str, object]:
    member = add_member(org_b.organization, Role.EDITOR, "victim-editor")
    api_key_for(org_b, Role.VIEWER, "victim-key")
    invitation, _ = invitation_create(access=org_b.access, email="new@example.test", role=Role.VIEWER)
    return {
        "org": org_b.organization.id,
        "member": Membership.objects.get(user=member.user).id,
        "key": ApiKey.objects.get(organization=org_b.organization).id,
        "invitation": invitation.id,
    }


def _requests(target: dict[str, object], own_org: object) -> list[tuple[str, str, dict[str, str]]]:
    b = target["org"]
    # Both shapes of attack: the other tenant's org id, and our org id with their object ids.
    return [
        ("get", f"/api/v1/orgs/{b}/", {}),
        ("patch", f"/api/v1/orgs/{b}/", {"name": "pwned"}),
        ("get", f"/api/v1/orgs/{b}/members/", {}),
        ("post", f"/api/v1/orgs/{b}/members/", {"email": "owner-acme@example.test", "role": "owner"}),
        ("patch", f"/api/v1/orgs/{b}/members/{target['member']}/", {"role": "admin"}),
        ("delete", f"/api/v1/orgs/{b}/members/{target['member']}/", {}),
        ("patch", f"/api/v1/orgs/{own_org}/members/{target['member']}/", {"role": "admin"}),
        ("delete", f"/api/v1/orgs/{own_org}/members/{target['member']}/", {}),
        ("get", f"/api/v1/orgs/{b}/invitations/", {}),
        ("post", f"/api/v1/orgs/{b}/invitations/", {"email": "x@example.test", "role": "viewer"}),
        ("delete", f"/api/v1/orgs/{b}/invitations/{target['invitation']}/", {}),
        ("delete", f"/api/v1/orgs/{own_org}/invitations/{target['invitation']}/", {}),
        ("get", f"/api/v1/orgs/{b}/api-keys/", {}),
        ("post", f"/api/v1/orgs/{b}/api-keys/", {"name": "x", "role": "viewer"}),
        ("delete", f"/api/v1/orgs/{b}/api-keys/{target['key']}/", {}),
        ("delete", f"/api/v1/orgs/{own_org}/api-keys/{target['key']}/", {}),
        ("get", f"/api/v1/orgs/{b}/audit-events/", {}),
    ]


def test_tenant_isolation_other_tenant_ids_answer_404_for_members(org_a: Member, victim: dict[str, object]) -> None:
    client = org_a.client()
    before, audit_before = _snapshot(), AuditEvent.objects.count()
    for method, url, body in _requests(victim, org_a.organization.id):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["code"] == "not_found"
    assert _snapshot() == before
    assert AuditEvent.objects.count() == audit_before


def test_tenant_isolation_other_tenant_ids_answer_404_for_api_keys(
    org_a: Member, victim: dict[str, object], api_key_for: Callable[..., str]
) -> None:
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.ADMIN)}")
    before = _snapshot()
    for method, url, body in _requests(victim, org_a.organization.id):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    assert _snapshot() == before


def test_tenant_isolation_org_list_shows_only_own_organizations(org_a: Member, org_b: Member) -> None:
    names = [org["name"] for org in org_a.client().get("/api/v1/orgs/").json()]
    assert names == ["Acme"]


def test_tenant_isolation_every_org_route_is_covered() -> None:
    """A new org-scoped route must be attacked by an isolation test and listed here."""
    from tests.apps.test_routes import ROUTES

    org_routes = {name for route, name in ROUTES if "org_id" in route}
    covered = {
        # this module
        "org-detail",
        "member-list",
        "member-detail",
        "invitation-list",
        "invitation-detail",
        "api-key-list",
        "api-key-detail",
        "audit-event-list",
        # tests/apps/builder/test_isolation.py
        "flow-list",
        "flow-import",
        "flow-detail",
        "flow-draft",
        "flow-validate",
        "flow-version-list",
        "flow-version-detail",
        "flow-version-restore",
        "flow-rollback",
        "flow-diff",
        "flow-export",
        "flow-duplicate",
        "flow-callable-list",
        # tests/apps/knowledge/test_sources.py (list, detail, sync) and test_evaluate.py
        "knowledge-source-list",
        "knowledge-source-detail",
        "knowledge-source-sync",
        "knowledge-test-questions",
        "knowledge-evaluate",
        # tests/apps/knowledge/test_embedding_models.py
        "knowledge-embedding-models",
        "knowledge-base-reembed",
        "knowledge-base-reembed-cancel",
        "knowledge-base-reembed-resume",
        # tests/apps/serving/test_budgets.py and test_deployment_isolation.py
        "model-budget-list",
        "model-budget-detail",
        "stored-model-detail",
        # tests/apps/knowledge/test_isolation.py
        "knowledge-base-list",
        "knowledge-base-detail",
        "knowledge-base-reindex",
        "knowledge-search",
        "knowledge-chunk-preview",
        "knowledge-sample-chunk-preview",
        "document-list",
        "document-detail",
        "document-retry",
        "document-replace",
        "document-chunks",
        # tests/apps/serving/test_isolation.py
        "model-list",
        "model-detail",
        "model-test",
        "model-stats",
        # tests/apps/serving/test_test_stream.py
        "model-test-stream",
        # tests/apps/serving/test_deployment_isolation.py
        "deployment-list",
        "deployment-detail",
        "deployment-action",
        "deployment-log",
        "stored-model-list",
        "model-quota",
        "model-call-list",
        # tests/apps/serving/test_models_ui_api.py
        "model-discover",
        "model-call-export",
        # tests/apps/runs/test_rest_runs.py
        "flow-run",
        "run-list",
        "run-detail",
        "run-events",
        "run-cancel",
        "session-list",
        "session-detail",
        # tests/apps/runs/test_runs_api.py (run-list and run-detail too)
        "feedback-list",
        "run-stats",
        "conversation-list",
        "conversation-detail",
        "conversation-export",
        # tests/apps/runs/test_runs_api_alerts.py
        "alert-rule-list",
        "alert-rule-detail",
        "alert-event-list",
        # tests/apps/widgets/test_admin_api.py
        "widget-list",
        "widget-detail",
        "widget-rotate-key",
        "widget-analytics",
        # tests/apps/widgets/test_openai_api.py
        "flow-openai-chat",
        # tests/apps/integrations (test_secrets_api, test_mcp, test_openapi_tools, test_openai_messages)
        "secret-list",
        "secret-detail",
        "variable-list",
        "variable-detail",
        "mcp-server-list",
        "mcp-server-detail",
        "mcp-server-refresh",
        "tool-set-list",
        "tool-set-detail",
        "integration-tool-list",
        "flow-openai-models",
        "openai-models",
        "openai-chat",
        # tests/apps/guardrails/test_isolation.py
        "guard-policy-list",
        "guard-policy-defaults",
        "guard-policy-test",
        "guard-policy-detail",
        "guard-hit-list",
        "guard-hit-summary",
        # tests/apps/evaluation/test_isolation.py
        "dataset-list",
        "dataset-detail",
        "dataset-version-list",
        "dataset-items",
        "dataset-upload",
        "dataset-from-production",
        "evaluation-list",
        "evaluation-estimate",
        "evaluation-detail",
        "evaluation-cancel",
        "evaluation-items",
        "evaluation-export",
        "evaluation-sample-grade",
        "review-queue",
        "flow-gate",
        "flow-gate-run",
    }
    assert org_routes == covered
