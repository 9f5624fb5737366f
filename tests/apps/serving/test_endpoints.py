"""Model endpoints over the API: roles, encrypted keys that never come back, audit, the builtin
local model of every organization, and the test prompt through the real gateway."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test.utils import CaptureQueriesContext

from apps.config.crypto import decrypt
from apps.serving.models import BUILTIN_ALIAS, BUILTIN_MODEL, ModelEndpoint
from apps.serving.services import model_endpoint_create, model_endpoint_ensure_builtin
from apps.tenancy.models import AuditEvent, Role
from tests.apps.serving.conftest import StubServer
from tests.conftest import Member
from tests.support.egress import nothing_listens_url

pytestmark = pytest.mark.django_db

SECRET = "sk-test-8c1f0e2d4b"


def _url(member: Member, endpoint_id: int | None = None, suffix: str = "") -> str:
    base = f"/api/v1/orgs/{member.organization.id}/models/"
    return base if endpoint_id is None else f"{base}{endpoint_id}/{suffix}"


def _new(**overrides: Any) -> dict[str, Any]:
    return {"alias": "gpt", "name": "GPT", "base_url": "https://api.example.com/v1", "model": "gpt-x", **overrides}


def test_model_endpoint_every_new_organization_gets_the_builtin_local_model(org_a: Member) -> None:
    [endpoint] = ModelEndpoint.objects.filter(organization=org_a.organization)
    assert (endpoint.alias, endpoint.model, endpoint.is_builtin) == (BUILTIN_ALIAS, BUILTIN_MODEL, True)
    assert endpoint.base_url == settings.LOCAL_MODEL_URL.rstrip("/")
    assert model_endpoint_ensure_builtin(organization=org_a.organization) == endpoint
    assert ModelEndpoint.objects.filter(organization=org_a.organization).count() == 1


def test_model_endpoint_builtin_respects_an_admins_choice(org_a: Member) -> None:
    builtin = ModelEndpoint.objects.get(organization=org_a.organization)
    builtin.alias, builtin.base_url = "tiny", "http://vllm:8001/v1"
    builtin.save()
    assert model_endpoint_ensure_builtin(organization=org_a.organization) == builtin
    builtin.delete()
    model_endpoint_ensure_builtin(organization=org_a.organization)
    assert ModelEndpoint.objects.get(organization=org_a.organization).alias == BUILTIN_ALIAS


def test_model_endpoint_admin_creates_and_the_key_is_encrypted_and_never_returned(org_a: Member) -> None:
    response = org_a.client().post(_url(org_a), _new(api_key=SECRET, price_input_per_1k="0.0025"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["has_api_key"] is True
    assert SECRET not in response.content.decode()
    assert not {"api_key", "api_key_encrypted"} & set(body)
    assert (body["alias"], body["kind"], body["price_input_per_1k"], body["is_builtin"]) == (
        "gpt",
        "chat",
        "0.002500",
        False,
    )
    stored = ModelEndpoint.objects.get(pk=body["id"])
    assert SECRET not in stored.api_key_encrypted
    assert decrypt(stored.api_key_encrypted) == SECRET
    listed = org_a.client().get(_url(org_a)).content.decode()
    assert SECRET not in listed
    assert SECRET not in org_a.client().get(_url(org_a, stored.pk)).content.decode()
    event = AuditEvent.objects.get(action="model_endpoint.create")
    assert event.data["has_api_key"] is True
    assert SECRET not in str(event.data)


def test_model_endpoint_name_defaults_to_alias_and_defaults_apply(org_a: Member) -> None:
    body = org_a.client().post(_url(org_a), _new(name=""), format="json").json()
    assert body["name"] == "gpt"
    assert (body["connect_timeout_s"], body["first_token_timeout_s"], body["idle_timeout_s"]) == (5.0, 60.0, 30.0)
    assert body["has_api_key"] is False
    assert body["base_url"] == "https://api.example.com/v1"


def test_model_endpoint_update_changes_fields_and_keys(org_a: Member) -> None:
    endpoint = model_endpoint_create(
        access=org_a.access, alias="gpt", base_url="http://h/v1", model="a", api_key=SECRET
    )
    client = org_a.client()
    response = client.patch(_url(org_a, endpoint.pk), {"model": "b", "idle_timeout_s": 12}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["model"], response.json()["idle_timeout_s"], response.json()["has_api_key"]) == (
        "b",
        12.0,
        True,
    )
    endpoint.refresh_from_db()
    assert decrypt(endpoint.api_key_encrypted) == SECRET  # left out: kept
    client.patch(_url(org_a, endpoint.pk), {"api_key": "sk-new"}, format="json")
    endpoint.refresh_from_db()
    assert decrypt(endpoint.api_key_encrypted) == "sk-new"
    assert client.patch(_url(org_a, endpoint.pk), {"api_key": ""}, format="json").json()["has_api_key"] is False
    changes = [e.data["changes"] for e in AuditEvent.objects.filter(action="model_endpoint.update").order_by("id")]
    assert changes == [
        {"model": ["a", "b"], "idle_timeout_s": [30.0, 12.0]},
        {"api_key": "set"},
        {"api_key": "removed"},
    ]


def test_model_endpoint_delete(org_a: Member) -> None:
    endpoint = model_endpoint_create(access=org_a.access, alias="gpt", base_url="http://h/v1", model="a")
    assert org_a.client().delete(_url(org_a, endpoint.pk)).status_code == 204
    assert not ModelEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert AuditEvent.objects.filter(action="model_endpoint.delete", target_id=str(endpoint.pk)).exists()
    assert org_a.client().get(_url(org_a, endpoint.pk)).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_model_endpoint_below_admin_reads_but_cannot_write(
    org_a: Member, add_member: Callable[..., Member], role: str
) -> None:
    endpoint = model_endpoint_create(access=org_a.access, alias="gpt", base_url="http://h/v1", model="a")
    client = add_member(org_a.organization, role).client()
    assert client.get(_url(org_a)).status_code == 200
    assert client.get(_url(org_a, endpoint.pk)).json()["alias"] == "gpt"
    before = list(ModelEndpoint.objects.values_list("id", "alias", "model").order_by("id"))
    assert client.post(_url(org_a), _new(alias="x"), format="json").status_code == 403
    assert client.patch(_url(org_a, endpoint.pk), {"model": "z"}, format="json").status_code == 403
    assert client.delete(_url(org_a, endpoint.pk)).status_code == 403
    assert list(ModelEndpoint.objects.values_list("id", "alias", "model").order_by("id")) == before


def test_model_endpoint_alias_is_unique_per_organization(org_a: Member, org_b: Member) -> None:
    assert org_a.client().post(_url(org_a), _new(), format="json").status_code == 201
    duplicate = org_a.client().post(_url(org_a), _new(model="other"), format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "alias_taken"
    assert org_b.client().post(_url(org_b), _new(), format="json").status_code == 201  # another tenant may
    other = model_endpoint_create(access=org_a.access, alias="other", base_url="http://h/v1", model="a")
    renamed = org_a.client().patch(_url(org_a, other.pk), {"alias": "gpt"}, format="json")
    assert renamed.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_new(base_url="ftp://files.example.com/"), "base_url"),
        (_new(base_url="not a url"), "base_url"),
        (_new(base_url="http://user:pw@example.com/v1"), "base_url"),
        (_new(alias="has spaces"), "alias"),
        (_new(kind="audio"), "kind"),
        (_new(price_output_per_1k="-1"), "price_output_per_1k"),
        (_new(connect_timeout_s=0), "connect_timeout_s"),
        (_new(first_token_timeout_s=100000), "first_token_timeout_s"),
        (_new(is_builtin=True), "is_builtin"),
        (_new(api_key_encrypted="x"), "api_key_encrypted"),
        ({"alias": "a"}, "base_url"),
    ],
)
def test_model_endpoint_bad_input_names_the_field(org_a: Member, body: dict[str, Any], field: str) -> None:
    before = ModelEndpoint.objects.count()
    response = org_a.client().post(_url(org_a), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert ModelEndpoint.objects.count() == before


def test_model_endpoint_base_url_may_be_a_service_name(org_a: Member) -> None:
    response = org_a.client().post(_url(org_a), _new(base_url="http://vllm:8001/v1/"), format="json")
    assert response.status_code == 201
    assert response.json()["base_url"] == "http://vllm:8001/v1"


def test_model_endpoint_test_prompt_reaches_the_real_local_model(
    local_model: str, make_org: Callable[..., Member], add_member: Callable[..., Member]
) -> None:
    member = make_org("Testers")
    builtin = ModelEndpoint.objects.get(organization=member.organization)
    editor = add_member(member.organization, Role.EDITOR).client()
    body = {"prompt": "Say hello.", "max_tokens": 8}
    response = editor.post(_url(member, builtin.pk, "test/"), body, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["text"].strip()
    assert body["input_tokens"] > 0
    assert 0 < body["output_tokens"] <= 8
    assert body["latency_ms"] > 0


def test_model_endpoint_test_needs_editor(org_a: Member, add_member: Callable[..., Member]) -> None:
    builtin = ModelEndpoint.objects.get(organization=org_a.organization)
    viewer = add_member(org_a.organization, Role.VIEWER).client()
    assert viewer.post(_url(org_a, builtin.pk, "test/"), {"prompt": "hi"}, format="json").status_code == 403


def test_model_endpoint_test_unreachable_model_is_502(org_a: Member) -> None:
    endpoint = model_endpoint_create(access=org_a.access, alias="gone", base_url=nothing_listens_url(), model="m")
    response = org_a.client().post(_url(org_a, endpoint.pk, "test/"), {"prompt": "hi"}, format="json")
    assert response.status_code == 502
    assert response.json()["code"] == "model_unavailable"
    assert "gone" in response.json()["message"]


def test_model_endpoint_test_silent_model_is_a_502_timeout(org_a: Member, stub: StubServer) -> None:
    endpoint = model_endpoint_create(
        access=org_a.access,
        alias="slow",
        base_url=f"{stub.origin}/stall/v1",
        model="m",
        first_token_timeout_s=0.5,
    )
    response = org_a.client().post(_url(org_a, endpoint.pk, "test/"), {"prompt": "hi"}, format="json")
    assert response.status_code == 502
    assert response.json()["code"] == "model_timeout"


def test_model_endpoint_test_refuses_embedding_models_and_bad_prompts(org_a: Member) -> None:
    endpoint = model_endpoint_create(
        access=org_a.access, alias="embed", kind="embedding", base_url="http://h/v1", model="e"
    )
    client = org_a.client()
    refused = client.post(_url(org_a, endpoint.pk, "test/"), {"prompt": "hi"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (400, "not_a_chat_model")
    builtin = ModelEndpoint.objects.get(organization=org_a.organization, alias=BUILTIN_ALIAS)
    for body in [
        {},
        {"prompt": ""},
        {"prompt": "x" * 4001},
        {"prompt": "hi", "model": "x"},
        {"prompt": "hi", "max_tokens": 0},
    ]:
        assert client.post(_url(org_a, builtin.pk, "test/"), body, format="json").status_code == 400


def test_model_endpoint_key_stays_out_of_logs_and_sql(
    org_a: Member, stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    from django.db import connection

    caplog.set_level(logging.DEBUG)
    with CaptureQueriesContext(connection) as queries:
        created = org_a.client().post(
            _url(org_a), _new(alias="paid", base_url=f"{stub.origin}/v1", api_key=SECRET), format="json"
        )
        endpoint_id = created.json()["id"]
        tested = org_a.client().post(_url(org_a, endpoint_id, "test/"), {"prompt": "hi"}, format="json")
    assert tested.status_code == 200, tested.json()
    assert stub.seen[-1].headers["authorization"] == f"Bearer {SECRET}"  # it did travel, to the model only
    assert SECRET not in caplog.text
    assert all(SECRET not in query["sql"] for query in queries.captured_queries)
    assert ModelEndpoint.objects.get(pk=endpoint_id).price_input_per_1k == Decimal(0)
