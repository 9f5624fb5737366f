"""Finding 2 of the security review: a stored provider key never follows an endpoint to a new host.

Changing where an endpoint's calls go (scheme, host or port of its base URL, or the deployment that
serves it) needs its API key entered again or explicitly cleared; the change is audited, and the
next call carries no old key to the new host.
"""

from __future__ import annotations

from apps.serving.models import ModelEndpoint
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import AuditEvent
from tests.apps.serving.conftest import StubServer
from tests.conftest import Member

OLD_KEY = "sk-provider-secret-1"


def _detail(member: Member, endpoint: ModelEndpoint) -> str:
    return f"/api/v1/orgs/{member.organization.id}/models/{endpoint.pk}/"


def _endpoint(member: Member, stub: StubServer) -> ModelEndpoint:
    return model_endpoint_create(
        access=member.access, alias="paid", base_url=f"{stub.origin}/v1", model="m", api_key=OLD_KEY
    )


def test_endpoint_new_host_without_the_key_is_refused(org_a: Member, stub: StubServer, other_stub: StubServer) -> None:
    endpoint = _endpoint(org_a, stub)
    response = org_a.client().patch(_detail(org_a, endpoint), {"base_url": f"{other_stub.origin}/v1"}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "key_required_for_new_host"
    endpoint.refresh_from_db()
    assert endpoint.base_url == f"{stub.origin}/v1"
    test = org_a.client().post(f"{_detail(org_a, endpoint)}test/", {"prompt": "hi"}, format="json")
    assert test.status_code == 200
    assert other_stub.seen == []  # the key never went anywhere else
    assert stub.seen[-1].headers["authorization"] == f"Bearer {OLD_KEY}"


def test_endpoint_new_host_with_the_key_cleared_sends_no_key(
    org_a: Member, stub: StubServer, other_stub: StubServer
) -> None:
    endpoint = _endpoint(org_a, stub)
    body = {"base_url": f"{other_stub.origin}/v1", "api_key": ""}
    assert org_a.client().patch(_detail(org_a, endpoint), body, format="json").status_code == 200
    assert org_a.client().post(f"{_detail(org_a, endpoint)}test/", {"prompt": "hi"}, format="json").status_code == 200
    assert OLD_KEY not in other_stub.seen[-1].headers["authorization"]
    event = AuditEvent.objects.filter(action="model_endpoint.update").latest("created_at")
    changes = event.data["changes"]
    assert changes["base_url"] == [f"{stub.origin}/v1", f"{other_stub.origin}/v1"]
    assert changes["api_key"] == "removed" and changes["target_changed"] == {"api_key": "removed"}
    assert OLD_KEY not in str(event.data)


def test_endpoint_new_host_with_the_key_entered_again(org_a: Member, stub: StubServer, other_stub: StubServer) -> None:
    endpoint = _endpoint(org_a, stub)
    body = {"base_url": f"{other_stub.origin}/v1", "api_key": "sk-for-the-new-host"}
    assert org_a.client().patch(_detail(org_a, endpoint), body, format="json").status_code == 200
    assert org_a.client().post(f"{_detail(org_a, endpoint)}test/", {"prompt": "hi"}, format="json").status_code == 200
    assert other_stub.seen[-1].headers["authorization"] == "Bearer sk-for-the-new-host"
    event = AuditEvent.objects.filter(action="model_endpoint.update").latest("created_at")
    assert event.data["changes"]["target_changed"] == {"api_key": "set"}


def test_endpoint_same_host_other_path_keeps_the_key(org_a: Member, stub: StubServer) -> None:
    endpoint = _endpoint(org_a, stub)
    response = org_a.client().patch(_detail(org_a, endpoint), {"base_url": f"{stub.origin}/v2"}, format="json")
    assert response.status_code == 200, response.json()
    endpoint.refresh_from_db()
    assert endpoint.has_api_key


def test_endpoint_without_a_key_moves_freely(org_a: Member, stub: StubServer, other_stub: StubServer) -> None:
    endpoint = model_endpoint_create(access=org_a.access, alias="free", base_url=f"{stub.origin}/v1", model="m")
    response = org_a.client().patch(_detail(org_a, endpoint), {"base_url": f"{other_stub.origin}/v1"}, format="json")
    assert response.status_code == 200, response.json()
