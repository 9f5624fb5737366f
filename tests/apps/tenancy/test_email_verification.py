"""Finding 4 of the security review: email squatting.

An address identifies an account only once verified through a link sent to it; an invitation is
accepted only by the account whose verified email it was sent to, or by a new account made from
it (whose address stays unverified: the inviting admin saw the token too); adding someone by
email sends an invitation instead of adding them; no answer tells whether an address has an account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from rest_framework.test import APIClient

from apps.tenancy.models import EmailAddress, Membership, Role
from tests.conftest import Member


def _as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _verify(user: User, email: str) -> Any:
    client = _as(user)
    started = client.post("/api/v1/auth/email/", {"email": email}, format="json")
    assert started.status_code == 202, started.json()
    token = started.json()["verify_url"].split("token=")[1]
    return APIClient().post("/api/v1/auth/email/verify/", {"token": token}, format="json")


def _invite(owner: Member, email: str, role: str = "editor") -> dict[str, Any]:
    url = f"/api/v1/orgs/{owner.organization.id}/invitations/"
    response = owner.client().post(url, {"email": email, "role": role}, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_email_verification_link_is_mailed_logged_and_shown_in_local_mode(
    make_user: Callable[..., User], caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user("dana", "dana@example.test")
    client = _as(user)
    assert client.get("/api/v1/auth/me/").json()["email_verified"] is False
    with caplog.at_level(logging.INFO, logger="apps.tenancy.emails"):
        started = client.post("/api/v1/auth/email/", {"email": "Dana@Example.test"}, format="json")
    link = started.json()["verify_url"]
    assert started.status_code == 202 and "/verify-email?token=" in link
    assert link in caplog.text  # the server log (the embedded default has no mail server)
    assert mail.outbox[-1].to == ["dana@example.test"] and link in mail.outbox[-1].body
    token = link.split("token=")[1]
    assert token not in str(list(EmailAddress.objects.values()))  # only its digest is stored
    assert APIClient().post("/api/v1/auth/email/verify/", {"token": token}, format="json").status_code == 200
    me = client.get("/api/v1/auth/me/").json()
    assert me["email"] == "dana@example.test" and me["email_verified"] is True
    again = APIClient().post("/api/v1/auth/email/verify/", {"token": token}, format="json")
    assert (again.status_code, again.json()["code"]) == (404, "verification_invalid")


def test_email_one_verified_owner_per_address(make_user: Callable[..., User]) -> None:
    first, second = make_user("first"), make_user("second")
    assert _verify(first, "shared@example.test").status_code == 200
    started = _as(second).post("/api/v1/auth/email/", {"email": "shared@example.test"}, format="json")
    assert started.status_code == 202  # the same answer as for any address: nothing revealed
    token = started.json()["verify_url"].split("token=")[1]
    taken = APIClient().post("/api/v1/auth/email/verify/", {"token": token}, format="json")
    assert (taken.status_code, taken.json()["code"]) == (409, "email_unavailable")  # only the mailbox sees this


def test_invitation_is_refused_for_an_account_of_another_address(org_a: Member, make_user: Callable[..., User]) -> None:
    invitation = _invite(org_a, "victim@example.test", "admin")
    attacker = make_user("attacker", "attacker@example.test")
    assert _verify(attacker, "attacker@example.test").status_code == 200
    response = _as(attacker).post("/api/v1/invitations/accept/", {"token": invitation["token"]}, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "invitation_email_mismatch")
    assert not Membership.objects.filter(user=attacker).exists()
    claimed = make_user("claimer", "victim@example.test")  # claims the address without verifying it
    unverified = _as(claimed).post("/api/v1/invitations/accept/", {"token": invitation["token"]}, format="json")
    assert unverified.json()["code"] == "invitation_email_mismatch"
    assert _verify(claimed, "victim@example.test").status_code == 200
    accepted = _as(claimed).post("/api/v1/invitations/accept/", {"token": invitation["token"]}, format="json")
    assert accepted.status_code == 200
    assert Membership.objects.get(user=claimed).role == Role.ADMIN


def test_account_made_from_an_invitation_does_not_own_the_address(
    org_a: Member, make_org: Callable[..., Member]
) -> None:
    """The squat: an admin invites someone else's address to their own organization, accepts it
    with a new account, and waits for another organization to add that address."""
    squatter_org = make_org("Squatters")
    invitation = _invite(squatter_org, "ceo@victim.test")
    created = APIClient().post(
        "/api/v1/invitations/accept/",
        {"token": invitation["token"], "username": "squatter", "password": "a sound passphrase 9"},
        format="json",
    )
    assert created.status_code == 200 and created.json()["email_verified"] is False
    squatter = User.objects.get(username="squatter")
    added = org_a.client().post(
        f"/api/v1/orgs/{org_a.organization.id}/members/", {"email": "ceo@victim.test", "role": "admin"}, format="json"
    )
    assert added.status_code == 201
    assert not Membership.objects.filter(user=squatter, organization=org_a.organization).exists()
    joined = _as(squatter).post("/api/v1/invitations/accept/", {"token": added.json()["token"]}, format="json")
    assert joined.json()["code"] == "invitation_email_mismatch"


def test_adding_by_email_invites_and_never_tells_whether_an_account_exists(
    org_a: Member, make_user: Callable[..., User]
) -> None:
    existing = make_user("known", "known@example.test")
    assert _verify(existing, "known@example.test").status_code == 200
    url = f"/api/v1/orgs/{org_a.organization.id}/members/"
    known = org_a.client().post(url, {"email": "known@example.test", "role": "viewer"}, format="json")
    unknown = org_a.client().post(url, {"email": "nobody@example.test", "role": "viewer"}, format="json")
    assert known.status_code == unknown.status_code == 201
    assert set(known.json()) == set(unknown.json())
    assert {known.json()["email"], unknown.json()["email"]} == {"known@example.test", "nobody@example.test"}
    assert not Membership.objects.filter(user=existing).exists()  # consent first: an invitation
    assert {message.to[0] for message in mail.outbox} >= {"known@example.test", "nobody@example.test"}
    joined = _as(existing).post("/api/v1/invitations/accept/", {"token": known.json()["token"]}, format="json")
    assert joined.status_code == 200
    assert Membership.objects.get(user=existing).role == Role.VIEWER
