"""Invitations: shown once, accepted by a new or signed-in user, single use, revocable."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from apps.tenancy.models import Invitation, Membership, Role
from tests.conftest import Member


def _invite(owner: Member, email: str, role: str = "editor") -> dict[str, str]:
    url = f"/api/v1/orgs/{owner.organization.id}/invitations/"
    response = owner.client().post(url, {"email": email, "role": role}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_invitation_new_user_signs_up_and_joins(org_a: Member) -> None:
    invitation = _invite(org_a, "newbie@example.test")
    assert invitation["accept_url"].endswith(f"/invite?token={invitation['token']}")
    client = APIClient()
    response = client.post(
        "/api/v1/invitations/accept/",
        {"token": invitation["token"], "username": "newbie", "password": "a sound passphrase 9"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["organizations"][0]["role"] == "editor"
    assert client.get("/api/v1/auth/me/").json()["username"] == "newbie"
    again = APIClient().post(
        "/api/v1/invitations/accept/",
        {"token": invitation["token"], "username": "x2", "password": "another pass 77"},
        format="json",
    )
    assert again.status_code == 404
    assert again.json()["code"] == "invitation_invalid"


def test_invitation_signed_in_user_joins(org_a: Member, make_user: Callable[..., User]) -> None:
    invitation = _invite(org_a, "existing@example.test", "viewer")
    user = make_user("existing", "existing@example.test")
    client = APIClient()
    client.force_authenticate(user)
    link = client.post("/api/v1/auth/email/", {"email": "existing@example.test"}, format="json").json()["verify_url"]
    assert (
        client.post("/api/v1/auth/email/verify/", {"token": link.split("token=")[1]}, format="json").status_code == 200
    )
    assert client.post("/api/v1/invitations/accept/", {"token": invitation["token"]}, format="json").status_code == 200
    assert Membership.objects.get(user=user).role == Role.VIEWER


def test_invitation_weak_password_creates_nothing(org_a: Member) -> None:
    invitation = _invite(org_a, "weak@example.test")
    response = APIClient().post(
        "/api/v1/invitations/accept/",
        {"token": invitation["token"], "username": "weak", "password": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "weak_password"
    assert not User.objects.filter(username="weak").exists()
    assert Invitation.objects.get(email="weak@example.test").accepted_at is None


def test_invitation_revoked_cannot_be_used(org_a: Member) -> None:
    invitation = _invite(org_a, "revoked@example.test")
    url = f"/api/v1/orgs/{org_a.organization.id}/invitations/{invitation['id']}/"
    assert org_a.client().delete(url).status_code == 204
    response = APIClient().post(
        "/api/v1/invitations/accept/",
        {"token": invitation["token"], "username": "late", "password": "a sound passphrase 9"},
        format="json",
    )
    assert response.status_code == 404


def test_invitation_duplicate_open_invitation_is_409(org_a: Member) -> None:
    _invite(org_a, "twice@example.test")
    url = f"/api/v1/orgs/{org_a.organization.id}/invitations/"
    response = org_a.client().post(url, {"email": "twice@example.test", "role": "viewer"}, format="json")
    assert response.status_code == 409
    assert Invitation.objects.filter(email="twice@example.test").count() == 1
