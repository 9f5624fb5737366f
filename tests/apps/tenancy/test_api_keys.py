"""API keys: shown once, stored hashed, revocable, last-used time; bad keys are refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from rest_framework.test import APIClient

from apps.tenancy.models import ApiKey, AuditEvent, Role
from tests.conftest import Member


def _client(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_api_key_created_is_shown_once_and_stored_hashed(org_a: Member) -> None:
    url = f"/api/v1/orgs/{org_a.organization.id}/api-keys/"
    created = org_a.client().post(url, {"name": "deploy bot", "role": "editor"}, format="json").json()
    raw = created["key"]
    assert raw.startswith(f"trl_{created['prefix']}_")
    row = ApiKey.objects.get(pk=created["id"])
    assert row.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.filter(pk=row.pk).values().first())
    listed = org_a.client().get(url).json()
    assert [k["prefix"] for k in listed] == [created["prefix"]]
    assert "key" not in listed[0]
    assert AuditEvent.objects.filter(action="api_key.create", target_id=str(row.pk)).exists()


def test_api_key_valid_key_authenticates_and_records_last_use(org_a: Member, api_key_for: Callable[..., str]) -> None:
    raw = api_key_for(org_a, Role.VIEWER)
    response = _client(raw).get(f"/api/v1/orgs/{org_a.organization.id}/members/")
    assert response.status_code == 200
    assert ApiKey.objects.get().last_used_at is not None
    me = _client(raw).get("/api/v1/auth/me/").json()
    assert [org["id"] for org in me["organizations"]] == [str(org_a.organization.id)]


def test_api_key_x_api_key_header_works(org_a: Member, api_key_for: Callable[..., str]) -> None:
    client = APIClient(HTTP_X_API_KEY=api_key_for(org_a))
    assert client.get(f"/api/v1/orgs/{org_a.organization.id}/").status_code == 200


def test_api_key_revoked_key_is_refused(org_a: Member, api_key_for: Callable[..., str]) -> None:
    raw = api_key_for(org_a)
    key = ApiKey.objects.get()
    assert org_a.client().delete(f"/api/v1/orgs/{org_a.organization.id}/api-keys/{key.id}/").status_code == 204
    response = _client(raw).get(f"/api/v1/orgs/{org_a.organization.id}/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_malformed_and_forged_keys_are_refused(org_a: Member, api_key_for: Callable[..., str]) -> None:
    raw = api_key_for(org_a)
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    for bad in ["trl_", "trl_short_x", "trl_abcdefgh_", forged, "trl_00000000_" + "x" * 43]:
        response = _client(bad).get(f"/api/v1/orgs/{org_a.organization.id}/")
        assert response.status_code == 401, bad


def test_api_key_of_another_tenant_is_refused(org_a: Member, org_b: Member, api_key_for: Callable[..., str]) -> None:
    response = _client(api_key_for(org_b, Role.ADMIN)).get(f"/api/v1/orgs/{org_a.organization.id}/members/")
    assert response.status_code == 404


def test_api_key_cannot_outrank_its_creator(org_a: Member, add_member: Callable[..., Member]) -> None:
    admin = add_member(org_a.organization, Role.ADMIN, "keyadmin")
    url = f"/api/v1/orgs/{org_a.organization.id}/api-keys/"
    response = admin.client().post(url, {"name": "too strong", "role": "owner"}, format="json")
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
