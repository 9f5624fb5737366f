"""Tools from OpenAPI: a document (upload or URL through the egress policy) becomes a tool set
with selectable operations; a flow calls an imported operation against a real local API with an
API key header from a secret, and the key is in no stored row; bad documents are 400s."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.integrations.models import ToolSet
from apps.runs.models import Span
from tests.apps.integrations.conftest import BusinessApi, org_url
from tests.apps.integrations.test_http_runs import publish, rows_holding, run_flow
from tests.apps.integrations.test_mcp import tool_flow
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
API_KEY_AUTH = {"type": "api_key", "header": "X-Api-Key", "token": "{{secrets.ORDERS_KEY}}"}


def import_set(member: Member, **body: Any) -> Any:
    return member.client().post(org_url(member, "tool-sets/"), {"name": "orders", **body}, format="json")


def test_upload_imports_every_operation_and_their_choice_can_change(org_a: Member, business_api: BusinessApi) -> None:
    response = import_set(org_a, document=json.dumps(business_api.document()), auth=API_KEY_AUTH)
    assert response.status_code == 201, response.json()
    imported = response.json()
    assert imported["title"] == "Orders API" and imported["base_url"] == business_api.url
    assert [(op["tool"], op["method"], op["enabled"]) for op in imported["operations"]] == [
        ("orders__getOrder", "GET", True),
        ("orders__createOrder", "POST", True),
    ]
    changed = org_a.client().patch(
        org_url(org_a, f"tool-sets/{imported['id']}/"), {"enabled_operations": ["getOrder"]}, format="json"
    )
    assert changed.status_code == 200
    names = {t["name"] for t in org_a.client().get(org_url(org_a, "integration-tools/")).json()}
    assert "orders__getOrder" in names and "orders__createOrder" not in names


def test_import_by_url_goes_through_the_egress_policy(org_a: Member, business_api: BusinessApi) -> None:
    fetched = import_set(org_a, url=f"{business_api.url}/openapi.json")
    assert fetched.status_code == 201, fetched.json()
    assert len(fetched.json()["operations"]) == 2
    refused = org_a.client().post(
        org_url(org_a, "tool-sets/"), {"name": "inside", "url": "http://192.168.1.20/openapi.json"}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "egress_refused"
    assert ToolSet.objects.count() == 1


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("not json at all: [", "openapi_invalid"),
        (json.dumps({"swagger": "2.0", "paths": {}}), "openapi_invalid"),
        (json.dumps({"openapi": "3.0.0", "paths": {}}), "openapi_invalid"),
        ("", "openapi_missing"),
    ],
)
def test_bad_documents_are_400s_that_store_nothing(org_a: Member, document: str, code: str) -> None:
    response = import_set(org_a, document=document, base_url="https://api.example.com")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert not ToolSet.objects.exists()


def test_tool_sets_are_scoped_and_need_an_editor(
    org_a: Member, org_b: Member, add_member: Callable[..., Member], business_api: BusinessApi
) -> None:
    created = import_set(org_a, document=json.dumps(business_api.document())).json()
    assert org_b.client().get(org_url(org_b, f"tool-sets/{created['id']}/")).status_code == 404
    assert org_b.client().delete(org_url(org_a, f"tool-sets/{created['id']}/")).status_code == 404
    viewer = add_member(org_a.organization, "viewer")
    assert viewer.client().delete(org_url(org_a, f"tool-sets/{created['id']}/")).status_code == 403
    assert viewer.client().get(org_url(org_a, f"tool-sets/{created['id']}/")).status_code == 200
    assert ToolSet.objects.count() == 1


async def test_an_imported_operation_calls_the_api_with_the_secret_header_never_stored(
    org_a: Member, business_api: BusinessApi, add_secret: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(add_secret)(org_a, "ORDERS_KEY", business_api.key)
    created = await db(import_set)(org_a, document=json.dumps(business_api.document()), auth=API_KEY_AUTH)
    assert created.status_code == 201
    flow = await db(publish)(org_a, tool_flow("orders__getOrder", order_id="{{message}}", fields="status"))
    response = await run_flow(org_a, await db(api_key_for)(org_a), flow, "77")
    run = response.json()
    assert run["status"] == "completed", run
    answer = run["output"]["output"]["value"]
    assert answer.startswith("HTTP 200") and "widget-77" in answer
    assert business_api.key not in response.text and "[secret]" in answer  # the API echoed the key back
    sent = business_api.seen[-1]
    assert (sent["path"], sent["query"], sent["headers"]["x-api-key"]) == (
        "/orders/77",
        {"fields": "status"},
        business_api.key,
    )
    span = await Span.objects.aget(run_id=run["id"], node="call")
    assert [(c["kind"], c["status"]) for c in span.outputs["notes"]["tool_calls"]] == [("openapi", 200)]
    assert await db(rows_holding)(business_api.key) == []
