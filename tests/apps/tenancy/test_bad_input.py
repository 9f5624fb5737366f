"""Bad input: 400 with a machine-readable code, nothing half-created, the server keeps serving."""

from __future__ import annotations

import pytest

from apps.tenancy.models import ApiKey, AuditEvent, Invitation, Membership, Organization
from tests.conftest import Member


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Organization, Membership, ApiKey, Invitation, AuditEvent))


@pytest.mark.parametrize(
    "path",
    ["", "members/", "invitations/", "api-keys/"],
)
def test_bad_input_malformed_json_is_400_malformed_json(org_a: Member, path: str) -> None:
    before = _counts()
    method = "patch" if path == "" else "post"
    response = getattr(org_a.client(), method)(
        f"/api/v1/orgs/{org_a.organization.id}/{path}", data='{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert _counts() == before


@pytest.mark.parametrize(
    ("path", "body", "bad_field"),
    [
        ("api-keys/", {"name": "ok", "role": "viewer", "is_superuser": True}, "is_superuser"),
        ("api-keys/", {"name": "ok", "role": "emperor"}, "role"),
        ("api-keys/", {"role": "viewer"}, "name"),
        ("members/", {"email": "not-an-email", "role": "viewer"}, "email"),
        ("invitations/", {"email": "a@example.test", "role": "viewer", "organization": "other"}, "organization"),
    ],
)
def test_bad_input_invalid_or_unknown_fields_are_400_with_fields(
    org_a: Member, path: str, body: dict[str, object], bad_field: str
) -> None:
    before = _counts()
    response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/{path}", body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "invalid"
    assert bad_field in payload["fields"]
    assert payload["message"]
    assert _counts() == before


def test_bad_input_json_array_instead_of_object(org_a: Member) -> None:
    response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/api-keys/", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bad_input_wrong_content_type_is_415(org_a: Member) -> None:
    response = org_a.client().post(
        f"/api/v1/orgs/{org_a.organization.id}/api-keys/",
        data="name=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_bad_input_login_wrong_password_is_400_and_login_still_works(org_a: Member) -> None:
    from rest_framework.test import APIClient

    from tests.conftest import PASSWORD

    client = APIClient()
    bad = client.post("/api/v1/auth/login/", {"username": org_a.user.username, "password": "nope"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_credentials"
    good = client.post("/api/v1/auth/login/", {"username": org_a.user.username, "password": PASSWORD}, format="json")
    assert good.status_code == 200
    assert good.json()["organizations"][0]["role"] == "owner"
    assert client.get("/api/v1/auth/me/").status_code == 200


def test_bad_input_non_uuid_org_id_is_404(org_a: Member) -> None:
    response = org_a.client().get("/api/v1/orgs/not-a-uuid/members/")
    assert response.status_code == 404
