"""Finding 3 of the security review: an API key never outlives its creator's rights.

Its effective role is the lower of its own and its creator's current role; removing the creator
revokes their keys (audited); a key made by a key belongs to the person behind it; keys expire
and may be narrowed to reads, to runs, and to some flows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.tenancy.models import ApiKey, AuditEvent, Membership, Role
from tests.conftest import Member


def _client(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _keys_url(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/api-keys/"


def _make_key(member: Member, **body: object) -> str:
    response = member.client().post(_keys_url(member), {"name": "bot", "role": "admin", **body}, format="json")
    assert response.status_code == 201, response.json()
    return str(response.json()["key"])


def test_api_key_demoted_creator_demotes_the_key(org_a: Member, add_member: Callable[..., Member]) -> None:
    admin = add_member(org_a.organization, Role.ADMIN, "admin-a")
    raw = _make_key(admin)
    assert _client(raw).get(_keys_url(org_a)).status_code == 200
    membership = Membership.objects.get(user=admin.user)
    membership.role = Role.VIEWER
    membership.save()
    refused = _client(raw).get(_keys_url(org_a))
    assert refused.status_code == 403, refused.json()
    assert _client(raw).get(f"/api/v1/orgs/{org_a.organization.id}/").status_code == 200  # a viewer still reads
    me = _client(raw).get("/api/v1/auth/me/").json()
    assert me["organizations"][0]["role"] == "viewer"
    minted = _client(raw).post(_keys_url(org_a), {"name": "again", "role": "admin"}, format="json")
    assert minted.status_code == 403


def test_api_key_removing_the_member_revokes_their_keys(org_a: Member, add_member: Callable[..., Member]) -> None:
    admin = add_member(org_a.organization, Role.ADMIN, "admin-b")
    raw = _make_key(admin)
    own = _make_key(org_a)
    member_id = Membership.objects.get(user=admin.user).pk
    assert org_a.client().delete(f"/api/v1/orgs/{org_a.organization.id}/members/{member_id}/").status_code == 204
    assert _client(raw).get(f"/api/v1/orgs/{org_a.organization.id}/members/").status_code == 401
    minted = _client(raw).post(_keys_url(org_a), {"name": "again", "role": "admin"}, format="json")
    assert minted.status_code == 401
    key = ApiKey.objects.get(created_by=admin.user)
    assert key.revoked_at is not None
    revocation = AuditEvent.objects.get(action="api_key.revoke", target_id=str(key.pk))
    assert revocation.data["reason"] == "creator_removed" and revocation.actor_user == org_a.user
    assert _client(own).get(_keys_url(org_a)).status_code == 200  # the remover's keys are untouched


def test_api_key_a_key_made_by_a_key_belongs_to_its_person(org_a: Member, add_member: Callable[..., Member]) -> None:
    admin = add_member(org_a.organization, Role.ADMIN, "admin-c")
    raw = _make_key(admin)
    made = _client(raw).post(_keys_url(org_a), {"name": "child", "role": "admin"}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["created_by"] == "admin-c"
    above = _client(raw).post(_keys_url(org_a), {"name": "owner", "role": "owner"}, format="json")
    assert above.status_code == 403
    member_id = Membership.objects.get(user=admin.user).pk
    org_a.client().delete(f"/api/v1/orgs/{org_a.organization.id}/members/{member_id}/")
    assert _client(made.json()["key"]).get(_keys_url(org_a)).status_code == 401


def test_api_key_expired_key_is_refused(org_a: Member) -> None:
    soon = timezone.now() + timedelta(minutes=5)
    raw = _make_key(org_a, expires_at=soon.isoformat())
    assert _client(raw).get(_keys_url(org_a)).status_code == 200
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _client(raw).get(_keys_url(org_a))
    assert response.status_code == 401
    past = org_a.client().post(
        _keys_url(org_a), {"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == 400


def test_api_key_read_only_scope_reads_and_never_writes(org_a: Member) -> None:
    raw = _make_key(org_a, scope="read")
    org = org_a.organization.id
    assert _client(raw).get(f"/api/v1/orgs/{org}/flows/").status_code == 200
    for method, url in [
        ("post", f"/api/v1/orgs/{org}/flows/"),
        ("post", _keys_url(org_a)),
        ("post", f"/api/v1/orgs/{org}/flows/00000000-0000-0000-0000-000000000000/run/"),
    ]:
        response = getattr(_client(raw), method)(url, {"name": "x", "inputs": {"message": "hi"}}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "key_scope"), url


@pytest.mark.django_db(transaction=True)  # the run view reads in its own thread
def test_api_key_runs_only_scope_runs_and_nothing_else(org_a: Member) -> None:
    raw = _make_key(org_a, scope="runs")
    org = org_a.organization.id
    assert _client(raw).get(f"/api/v1/orgs/{org}/flows/").json()["code"] == "key_scope"
    assert _client(raw).get(_keys_url(org_a)).json()["code"] == "key_scope"
    assert _client(raw).get(f"/api/v1/orgs/{org}/runs/").status_code == 200
    missing = _client(raw).post(
        f"/api/v1/orgs/{org}/flows/00000000-0000-0000-0000-000000000000/run/",
        {"inputs": {"message": "hi"}},
        format="json",
    )
    assert missing.status_code == 404  # past the scope: the flow simply does not exist


@pytest.mark.django_db(transaction=True)  # the run view reads in its own thread
def test_api_key_limited_to_flows_reaches_only_those(org_a: Member) -> None:
    org = org_a.organization.id
    flows = [org_a.client().post(f"/api/v1/orgs/{org}/flows/", {"name": n}, format="json").json() for n in "ab"]
    raw = _make_key(org_a, scope="runs", flows=[flows[0]["id"]])
    mine = _client(raw).post(
        f"/api/v1/orgs/{org}/flows/{flows[0]['id']}/run/", {"inputs": {"message": "hi"}}, format="json"
    )
    assert mine.json().get("code") != "key_scope", mine.json()
    other = _client(raw).post(
        f"/api/v1/orgs/{org}/flows/{flows[1]['id']}/run/", {"inputs": {"message": "hi"}}, format="json"
    )
    assert (other.status_code, other.json()["code"]) == (403, "key_scope")
    listed = org_a.client().get(_keys_url(org_a)).json()
    assert listed[0]["flows"] == [flows[0]["id"]] and listed[0]["scope"] == "runs"


@pytest.mark.django_db(transaction=True)
async def test_api_key_scope_holds_on_the_socket_too(org_a: Member) -> None:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from apps.config.asgi import application

    org = org_a.organization.id
    flow = await database_sync_to_async(
        lambda: org_a.client().post(f"/api/v1/orgs/{org}/flows/", {"name": "f"}, format="json").json()
    )()
    read_only = await database_sync_to_async(_make_key)(org_a, scope="read")
    elsewhere = await database_sync_to_async(_make_key)(org_a, flows=["00000000-0000-0000-0000-000000000001"])
    for raw in (read_only, elsewhere):
        ws = WebsocketCommunicator(
            application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {raw}".encode())]
        )
        connected, _ = await ws.connect()
        assert connected
        await ws.send_json_to({"type": "run.start", "flow": flow["id"], "inputs": {"message": "hi"}})
        event = await ws.receive_json_from(timeout=10)
        assert event["type"] == "error" and event["code"] == "key_scope", event
        await ws.disconnect()
