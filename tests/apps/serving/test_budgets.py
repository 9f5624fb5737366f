"""Budgets per flow and per widget (apps/serving/budgets.py), enforced at the one run start and
in the gateway's meter: REST runs against the real stand-in model server, the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from channels.db import database_sync_to_async

from apps.config.errors import TrellisError
from apps.runs.models import Run
from apps.runs.selectors import run_start_snapshot
from apps.serving import accounting
from apps.serving.accounting import Meter, budget_limits, month_start
from apps.serving.gateway import GatewayModels
from apps.serving.models import ModelCall
from apps.serving.selectors import model_endpoint_list
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import Role
from apps.widgets.services import widget_create
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)


def _endpoint(member: Member, standin_url: str) -> None:
    # 12 tokens an answer; 1.0 per 1,000 output tokens: 0.012 a run.
    model_endpoint_create(
        access=member.access,
        alias="standin",
        base_url=standin_url,
        model="standin-rate-0-n-12",
        price_output_per_1k=Decimal(1),
    )


def _flow(member: Member, name: str) -> dict[str, Any]:
    client, base = member.client(), f"/api/v1/orgs/{member.organization.id}/flows/"
    flow = client.post(base, {"name": name, "graph": chat_flow(model="standin")}, format="json").json()
    assert client.post(f"{base}{flow['id']}/versions/", {"note": "v1"}, format="json").status_code == 201
    return dict(flow)


def _budgets(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/model-budgets/"


@pytest.fixture
def asgi(org_a: Member, api_key_for: Callable[..., str]) -> httpx.AsyncClient:
    from apps.config.asgi import application

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {api_key_for(org_a, 'editor')}"},
        timeout=30,
    )


async def _run(asgi: httpx.AsyncClient, member: Member, flow: dict[str, Any]) -> httpx.Response:
    url = f"/api/v1/orgs/{member.organization.id}/flows/{flow['id']}/run/"
    response = await asgi.post(url, json={"inputs": {"message": "hello"}})
    await accounting.flush()  # the ledger rows the next run start reads
    return response


@pytest.mark.parametrize(
    ("limit", "words"),
    [({"monthly_token_budget": 5}, "model tokens"), ({"monthly_cost_budget": "0.01"}, "0.01 budget")],
)
async def test_a_flow_over_its_budget_is_refused_and_other_flows_still_run(
    org_a: Member, standin_url: str, asgi: httpx.AsyncClient, limit: dict[str, Any], words: str
) -> None:
    await database_sync_to_async(_endpoint)(org_a, standin_url)
    capped = await database_sync_to_async(_flow)(org_a, "Capped")
    free = await database_sync_to_async(_flow)(org_a, "Free")
    client = org_a.client()
    put = await database_sync_to_async(client.put)(_budgets(org_a), {"flow": capped["id"], **limit}, format="json")
    assert put.status_code == 200, put.content

    first = await _run(asgi, org_a, capped)
    assert first.status_code == 200 and first.json()["status"] == "completed", first.text
    refused = await _run(asgi, org_a, capped)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["code"] == "budget_exceeded"
    assert "'Capped'" in body["message"] and words in body["message"] and "raises its budget" in body["message"]
    runs = await database_sync_to_async(lambda: Run.objects.filter(flow_id=capped["id"]).count())()
    assert runs == 1  # the refused run left no row

    assert (await _run(asgi, org_a, free)).json()["status"] == "completed"  # the organization is not capped

    listed = (await database_sync_to_async(client.get)(_budgets(org_a))).json()
    assert [(b["name"], b["used_this_month"], Decimal(b["spent_this_month"])) for b in listed] == [
        ("Capped", 12 + first.json()["input_tokens"], Decimal("0.012"))
    ]


def test_a_widget_budget_counts_only_that_widgets_calls(org_a: Member, standin_url: str) -> None:
    _endpoint(org_a, standin_url)
    flow = _flow(org_a, "Support")
    widget = widget_create(access=org_a.access, flow_id=flow["id"], data={"name": "Help bubble"})
    response = org_a.client().put(
        _budgets(org_a), {"widget": str(widget.pk), "monthly_token_budget": 10}, format="json"
    )
    assert response.status_code == 200, response.content

    def meter(widget_id: UUID | None) -> Meter:
        """As the run start makes it: the one read, then the meter (which refuses over budget)."""
        snapshot = run_start_snapshot(
            flow_id=UUID(flow["id"]),
            organization_id=org_a.organization.pk,
            user_id=None,
            version_number=None,
            session_id=None,
            month_start=month_start(),
            widget_id=widget_id,
        )
        assert snapshot is not None
        limits = budget_limits(
            snapshot.flow_budget, snapshot.widget_budget, flow=snapshot.flow_id, flow_name="Support", widget=widget_id
        )
        return Meter.of_quota(
            org_a.organization.pk,
            budget=None,
            requests_per_minute=None,
            used=0,
            flow_id=snapshot.flow_id,
            widget_id=widget_id,
            limits=limits,
        )

    def ask(widget_id: UUID | None) -> None:
        gateway = GatewayModels.of(list(model_endpoint_list(organization=org_a.organization)), meter=meter(widget_id))

        async def call() -> None:
            try:
                await gateway.chat_model("standin", temperature=0, max_tokens=16).ainvoke("hi")
            finally:
                await accounting.flush()

        asyncio.run(call())

    ask(None)  # the flow run by a member: not the widget's spending
    ask(widget.pk)  # the widget's visitor: 12 tokens and more, over its 10
    assert ModelCall.objects.filter(widget_id=widget.pk).count() == 1
    with pytest.raises(TrellisError) as refused:
        meter(widget.pk)
    assert refused.value.code == "budget_exceeded" and "This assistant" in refused.value.message
    meter(None)  # members still run the flow


def test_budgets_are_admin_only_and_tenant_scoped(
    org_a: Member, org_b: Member, add_member: Callable[..., Member]
) -> None:
    flow = _flow(org_a, "Mine")
    other = _flow(org_b, "Theirs")
    admin = org_a.client()
    viewer = add_member(org_a.organization, Role.VIEWER).client()
    body = {"flow": flow["id"], "monthly_token_budget": 1000}
    assert viewer.put(_budgets(org_a), body, format="json").status_code == 403
    assert viewer.get(_budgets(org_a)).status_code == 200  # members see the budgets

    created = admin.put(_budgets(org_a), body, format="json").json()
    changed = admin.put(_budgets(org_a), {**body, "monthly_cost_budget": "2.5"}, format="json").json()
    assert changed["id"] == created["id"] and changed["monthly_cost_budget"] == "2.500000"  # replaced, not added

    refusals = [
        ({"flow": other["id"], "monthly_token_budget": 5}, 404, "flow_not_found"),  # another tenant's flow
        ({"flow": flow["id"], "widget": flow["id"], "monthly_token_budget": 5}, 400, "invalid_budget_target"),
        ({"monthly_token_budget": 5}, 400, "invalid_budget_target"),
        ({"flow": flow["id"]}, 400, "no_budget_limit"),
        ({"flow": flow["id"], "monthly_token_budget": -1}, 400, None),
        ({"flow": "not-a-uuid", "monthly_token_budget": 1}, 400, None),
    ]
    for payload, status, code in refusals:
        response = admin.put(_budgets(org_a), payload, format="json")
        assert response.status_code == status, (payload, response.content)
        assert code is None or response.json()["code"] == code
    # Neither target is not "both": the message says what is missing (it said "not both").
    neither = admin.put(_budgets(org_a), {"monthly_token_budget": 5}, format="json").json()["message"]
    assert neither == "Give the flow or the widget this budget is for."

    assert org_b.client().get(_budgets(org_b)).json() == []
    assert org_b.client().delete(f"{_budgets(org_b)}{created['id']}/").status_code == 404
    assert viewer.delete(f"{_budgets(org_a)}{created['id']}/").status_code == 403
    assert admin.delete(f"{_budgets(org_a)}{created['id']}/").status_code == 204
    assert admin.get(_budgets(org_a)).json() == []
