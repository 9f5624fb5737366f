"""`api_key_authenticate` reads a key in one prepared statement (not the ORM): the key it returns
is the stored row, with its organization, its creator and the creator's role read alongside."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tenancy.models import ApiKey, ApiKeyScope, Membership, Role
from apps.tenancy.services import MalformedApiKey, api_key_authenticate
from tests.conftest import Member

pytestmark = pytest.mark.django_db


def _key(member: Member, **body: object) -> tuple[ApiKey, str]:
    response = member.client().post(
        f"/api/v1/orgs/{member.organization.id}/api-keys/", {"name": "bot", "role": "editor", **body}, format="json"
    )
    assert response.status_code == 201, response.json()
    raw = str(response.json()["key"])
    return ApiKey.objects.get(prefix=raw.split("_")[1]), raw


def test_the_key_comes_back_as_stored_with_its_relations(org_a: Member) -> None:
    flow = "1f0e8a0c-4a4d-4b8e-9d7e-3c2b1a000001"
    expires = timezone.now() + timedelta(days=3)
    stored, raw = _key(org_a, scope=ApiKeyScope.RUNS, flows=[flow], expires_at=expires.isoformat())
    key = api_key_authenticate(raw=raw)
    assert key is not None
    for field in ApiKey._meta.concrete_fields:
        if field.name != "last_used_at":  # written by this very call
            assert getattr(key, field.attname) == getattr(stored, field.attname), field.name
    assert key.flows == [flow]  # the JSON column parsed, as the ORM does
    assert key.expires_at == stored.expires_at and key.expires_at is not None and key.expires_at.tzinfo is not None
    assert key._state.adding is False
    with CaptureQueriesContext(connection) as queries:  # read with the key: no query of their own
        assert key.organization == org_a.organization
        assert key.organization.name == org_a.organization.name
        assert key.created_by == org_a.user
        assert key.created_by is not None and key.created_by.username == org_a.user.username
        assert key.creator_role == Role.OWNER  # type: ignore[attr-defined]
    assert len(queries) == 0
    assert key.last_used_at is not None
    ApiKey.objects.filter(pk=key.pk).update(name="renamed")  # the instance saves like an ORM one
    key.refresh_from_db()
    assert key.name == "renamed"


def test_a_key_whose_creator_left_or_was_deleted_acts_as_nobody(
    org_a: Member, add_member: Callable[..., Member]
) -> None:
    editor = add_member(org_a.organization, Role.ADMIN, "leaver")
    _, raw = _key(editor)
    assert api_key_authenticate(raw=raw) is not None
    Membership.objects.filter(user=editor.user).delete()  # left without the service (no revocation)
    assert api_key_authenticate(raw=raw) is None
    editor.user.delete()  # created_by set to NULL
    assert api_key_authenticate(raw=raw) is None


def test_wrong_secret_unknown_prefix_revoked_and_malformed(org_a: Member) -> None:
    stored, raw = _key(org_a)
    assert api_key_authenticate(raw=raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")) is None
    assert api_key_authenticate(raw="trl_00000000_" + raw.split("_", 2)[2]) is None
    with pytest.raises(MalformedApiKey):
        api_key_authenticate(raw="trl_short_secret")
    ApiKey.objects.filter(pk=stored.pk).update(revoked_at=timezone.now())
    assert api_key_authenticate(raw=raw) is None
