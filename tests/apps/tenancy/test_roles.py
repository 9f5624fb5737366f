"""Role matrix: viewer cannot write, editor cannot manage members or keys, admin cannot touch the owner."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.tenancy.models import ApiKey, Invitation, Membership, Role
from tests.conftest import Member

# (method, path under the org, body, minimum role)
MANAGE_ACTIONS = [
    ("patch", "", {"name": "Renamed"}, Role.ADMIN),
    ("post", "members/", {"email": "outsider@example.test", "role": "viewer"}, Role.ADMIN),
    ("post", "invitations/", {"email": "invitee@example.test", "role": "viewer"}, Role.ADMIN),
    ("get", "invitations/", {}, Role.ADMIN),
    ("post", "api-keys/", {"name": "k", "role": "viewer"}, Role.ADMIN),
    ("get", "api-keys/", {}, Role.ADMIN),
    ("get", "audit-events/", {}, Role.ADMIN),
]
READ_ACTIONS = [("get", ""), ("get", "members/")]


@pytest.fixture
def team(org_a: Member, add_member: Callable[..., Member], make_user: Callable[..., object]) -> dict[str, Member]:
    make_user("outsider")
    org = org_a.organization
    return {
        "owner": org_a,
        "admin": add_member(org, Role.ADMIN, "the-admin"),
        "editor": add_member(org, Role.EDITOR, "the-editor"),
        "viewer": add_member(org, Role.VIEWER, "the-viewer"),
    }


def _url(member: Member, path: str) -> str:
    return f"/api/v1/orgs/{member.organization.id}/{path}"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
@pytest.mark.parametrize(("method", "path", "body", "minimum"), MANAGE_ACTIONS)
def test_role_below_admin_cannot_manage(
    team: dict[str, Member], role: str, method: str, path: str, body: dict[str, str], minimum: str
) -> None:
    member = team[role]
    counts = (Membership.objects.count(), ApiKey.objects.count(), Invitation.objects.count())
    response = getattr(member.client(), method)(_url(member, path), body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert (Membership.objects.count(), ApiKey.objects.count(), Invitation.objects.count()) == counts


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
@pytest.mark.parametrize(("method", "path", "body", "minimum"), MANAGE_ACTIONS)
def test_role_admin_and_owner_can_manage(
    team: dict[str, Member], role: str, method: str, path: str, body: dict[str, str], minimum: str
) -> None:
    response = getattr(team[role].client(), method)(_url(team[role], path), body, format="json")
    assert response.status_code in (200, 201), response.json()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.ADMIN, Role.OWNER])
@pytest.mark.parametrize(("method", "path"), READ_ACTIONS)
def test_role_every_member_can_read(team: dict[str, Member], role: str, method: str, path: str) -> None:
    assert getattr(team[role].client(), method)(_url(team[role], path)).status_code == 200


def test_role_viewer_api_key_cannot_write(team: dict[str, Member], api_key_for: Callable[..., str]) -> None:
    from rest_framework.test import APIClient

    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(team['owner'], Role.VIEWER)}")
    assert client.get(_url(team["owner"], "members/")).status_code == 200
    response = client.patch(_url(team["owner"], ""), {"name": "x"}, format="json")
    assert response.status_code == 403


def test_role_admin_cannot_remove_or_demote_the_owner(team: dict[str, Member]) -> None:
    admin, owner = team["admin"], team["owner"]
    owner_row = Membership.objects.get(user=owner.user)
    assert admin.client().delete(_url(admin, f"members/{owner_row.id}/")).status_code == 403
    response = admin.client().patch(_url(admin, f"members/{owner_row.id}/"), {"role": "viewer"}, format="json")
    assert response.status_code == 403
    owner_row.refresh_from_db()
    assert owner_row.role == Role.OWNER


def test_role_admin_cannot_grant_owner(team: dict[str, Member]) -> None:
    admin = team["admin"]
    editor_row = Membership.objects.get(user=team["editor"].user)
    response = admin.client().patch(_url(admin, f"members/{editor_row.id}/"), {"role": "owner"}, format="json")
    assert response.status_code == 403
    editor_row.refresh_from_db()
    assert editor_row.role == Role.EDITOR


def test_role_admin_can_change_an_editor(team: dict[str, Member]) -> None:
    admin = team["admin"]
    editor_row = Membership.objects.get(user=team["editor"].user)
    response = admin.client().patch(_url(admin, f"members/{editor_row.id}/"), {"role": "viewer"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"


def test_role_last_owner_cannot_leave_or_demote_self(team: dict[str, Member]) -> None:
    owner = team["owner"]
    row = Membership.objects.get(user=owner.user)
    response = owner.client().patch(_url(owner, f"members/{row.id}/"), {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "last_owner"
    assert owner.client().delete(_url(owner, f"members/{row.id}/")).status_code == 403
    assert Membership.objects.filter(pk=row.pk, role=Role.OWNER).exists()
