"""Secrets and variables per organization: encrypted at rest, write-only, admin-written, listed by
name to every member, never exported, scoped to their organization, with an error for bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.config.crypto import decrypt
from apps.integrations.models import Secret, Variable
from apps.tenancy.models import AuditEvent, Role
from tests.apps.integrations.conftest import org_url
from tests.conftest import Member
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db

VALUE = "sk-test-9f8e7d6c5b4a3210"


def test_secret_is_encrypted_and_never_returned(org_a: Member, add_secret: Callable[..., Any]) -> None:
    created = add_secret(org_a, "CRM_KEY", VALUE)
    assert created["name"] == "CRM_KEY" and created["reference"] == "{{secrets.CRM_KEY}}"
    assert VALUE not in str(created)
    stored = Secret.objects.get()
    assert VALUE not in stored.value_encrypted and decrypt(stored.value_encrypted) == VALUE
    listed = org_a.client().get(org_url(org_a, "secrets/"))
    assert listed.status_code == 200 and [s["name"] for s in listed.json()] == ["CRM_KEY"]
    assert VALUE not in listed.content.decode()
    audit = list(AuditEvent.objects.filter(action__startswith="secret.").values_list("data", flat=True))
    assert audit and VALUE not in str(audit)


def test_secret_value_replaced_and_deleted(org_a: Member, add_secret: Callable[..., Any]) -> None:
    secret = add_secret(org_a, "TOKEN", VALUE)
    client = org_a.client()
    changed = client.patch(org_url(org_a, f"secrets/{secret['id']}/"), {"value": "another-value-123"}, format="json")
    assert changed.status_code == 200 and "another-value-123" not in changed.content.decode()
    assert decrypt(Secret.objects.get().value_encrypted) == "another-value-123"
    assert client.delete(org_url(org_a, f"secrets/{secret['id']}/")).status_code == 204
    assert not Secret.objects.exists()


def test_secrets_need_admin_to_write_and_any_member_to_list(
    org_a: Member, add_member: Callable[..., Member], add_secret: Callable[..., Any]
) -> None:
    secret = add_secret(org_a, "TOKEN", VALUE)
    editor, viewer = add_member(org_a.organization, Role.EDITOR), add_member(org_a.organization, Role.VIEWER)
    refused = editor.client().post(org_url(org_a, "secrets/"), {"name": "X", "value": "abcdef"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert editor.client().delete(org_url(org_a, f"secrets/{secret['id']}/")).status_code == 403
    assert viewer.client().get(org_url(org_a, "secrets/")).json()[0]["name"] == "TOKEN"
    assert Secret.objects.count() == 1


def test_secrets_and_variables_are_scoped_to_their_organization(
    org_a: Member, org_b: Member, add_secret: Callable[..., Any]
) -> None:
    secret = add_secret(org_a, "TOKEN", VALUE)
    variable = org_a.client().post(org_url(org_a, "variables/"), {"name": "REGION", "value": "eu"}, format="json")
    outsider = org_b.client()
    for path in (f"secrets/{secret['id']}/", f"variables/{variable.json()['id']}/"):
        assert outsider.delete(org_url(org_a, path)).status_code == 404
        assert outsider.delete(org_url(org_b, path)).status_code == 404  # the id through their own org
    assert (
        outsider.patch(org_url(org_b, f"secrets/{secret['id']}/"), {"value": "x" * 8}, format="json").status_code == 404
    )
    assert outsider.get(org_url(org_a, "secrets/")).status_code == 404
    assert outsider.get(org_url(org_b, "secrets/")).json() == []
    assert decrypt(Secret.objects.get().value_encrypted) == VALUE


def test_anonymous_callers_are_refused(org_a: Member) -> None:
    for path in ("secrets/", "variables/", "mcp-servers/", "tool-sets/", "integration-tools/"):
        assert APIClient().get(org_url(org_a, path)).status_code in {401, 403}
        assert APIClient().post(org_url(org_a, path), {}, format="json").status_code in {401, 403}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "1BAD", "value": "abcdef"}, "invalid_name"),
        ({"name": "has space", "value": "abcdef"}, "invalid_name"),
        ({"name": "OK", "value": "{{secrets.OTHER}}"}, "invalid_value"),
        ({"name": "OK"}, "invalid"),
        ({"name": "OK", "value": "abcdef", "extra": 1}, "invalid"),
    ],
)
def test_bad_secret_input_is_a_400_and_stores_nothing(org_a: Member, body: dict[str, Any], code: str) -> None:
    response = org_a.client().post(org_url(org_a, "secrets/"), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert not Secret.objects.exists()


def test_duplicate_secret_name_is_a_conflict(org_a: Member, add_secret: Callable[..., Any]) -> None:
    add_secret(org_a, "TOKEN", VALUE)
    again = org_a.client().post(org_url(org_a, "secrets/"), {"name": "TOKEN", "value": "other-1"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "name_taken"
    assert decrypt(Secret.objects.get().value_encrypted) == VALUE


def test_variables_are_set_by_editors_and_replaced_by_name(org_a: Member, add_member: Callable[..., Member]) -> None:
    editor, viewer = add_member(org_a.organization, Role.EDITOR), add_member(org_a.organization, Role.VIEWER)
    url = org_url(org_a, "variables/")
    assert editor.client().post(url, {"name": "REGION", "value": "eu"}, format="json").status_code == 200
    assert editor.client().post(url, {"name": "REGION", "value": "us"}, format="json").json()["value"] == "us"
    assert viewer.client().post(url, {"name": "REGION", "value": "ap"}, format="json").status_code == 403
    assert list(Variable.objects.values_list("name", "value")) == [("REGION", "us")]


def test_flow_export_keeps_the_reference_never_the_value(org_a: Member, add_secret: Callable[..., Any]) -> None:
    add_secret(org_a, "CRM_KEY", VALUE)
    spec = (
        graph()
        .node("in", "chat_input")
        .node(
            "call",
            "http_request",
            url="https://api.example.com/x",
            auth={"type": "bearer", "token": "{{secrets.CRM_KEY}}"},
        )
        .node("out", "output")
        .edge("in", "call", "message", "q")
        .edge("call", "out", "text", "value")
        .spec
    )
    client = org_a.client()
    flow = client.post(org_url(org_a, "flows/"), {"name": "crm", "graph": spec}, format="json")
    assert flow.status_code == 201, flow.json()
    exported = client.get(org_url(org_a, f"flows/{flow.json()['id']}/export/"))
    assert exported.status_code == 200
    text = exported.content.decode()
    assert VALUE not in text and "{{secrets.CRM_KEY}}" in text


@pytest.mark.parametrize("path", ["secrets/", "variables/", "mcp-servers/", "tool-sets/", "integration-tools/"])
def test_every_integrations_list_answers_404_to_another_organization(
    org_a: Member, org_b: Member, path: str, add_secret: Callable[..., Any]
) -> None:
    add_secret(org_a, "TOKEN", VALUE)
    outsider = org_b.client()
    assert outsider.get(org_url(org_a, path)).status_code == 404
    body = {"name": "x", "value": "abcdef", "url": "https://e.com"}
    posted = outsider.post(org_url(org_a, path), body, format="json")
    assert posted.status_code == (405 if path == "integration-tools/" else 404)  # a list only: no POST
    assert Secret.objects.count() == 1
