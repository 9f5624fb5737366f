"""The gateway's routing and accounting through real HTTP: fallbacks, retries only before the
first token, budgets and rate limits per organization, and the ModelCall ledger — flows run over
the real ASGI app (the REST run endpoint) against the stand-in server and a refused port."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.serving import accounting
from apps.serving.accounting import BudgetExceeded, BudgetExhausted, Meter
from apps.serving.models import ModelCall, ModelQuota
from apps.serving.services import model_endpoint_create
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.support.egress import nothing_listens_url

pytestmark = pytest.mark.django_db(transaction=True)


def _flow(member: Member, alias: str) -> str:
    from apps.builder.services import flow_create, flow_version_publish

    flow = flow_create(access=member.access, name=f"flow {alias}", description="", graph=chat_flow(model=alias))
    flow_version_publish(access=member.access, flow_id=flow.pk, note="v1")
    return str(flow.pk)


async def _run(member: Member, key: str, flow_id: str) -> httpx.Response:
    from apps.config.asgi import application

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as client:
        response = await client.post(
            f"/api/v1/orgs/{member.organization.id}/flows/{flow_id}/run/", json={"inputs": {"message": "hello"}}
        )
    await accounting.flush()
    return response


async def _calls(member: Member, run_id: str) -> list[ModelCall]:
    return [call async for call in ModelCall.objects.filter(organization=member.organization, run_id=run_id)]


async def test_routing_falls_back_when_the_primary_refuses_connections(
    org_a: Member, standin_url: str, api_key_for: Callable[..., str]
) -> None:
    def setup() -> tuple[str, str]:
        model_endpoint_create(access=org_a.access, alias="backup", base_url=standin_url, model="standin")
        model_endpoint_create(
            access=org_a.access,
            alias="primary",
            base_url=nothing_listens_url(),  # nothing listens: connection refused
            model="m",
            fallbacks=["backup"],
            max_retries=1,
            price_output_per_1k=Decimal("2"),
        )
        return _flow(org_a, "primary"), api_key_for(org_a)

    flow_id, key = await database_sync_to_async(setup)()
    response = await _run(org_a, key, flow_id)
    assert response.status_code == 200, response.text
    run = response.json()
    assert (
        run["status"] == "completed"
        and run["output_text"] == "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
    )
    [call] = await _calls(org_a, run["id"])
    assert (call.alias, call.served_by, call.status) == ("primary", "backup", "ok")
    assert [a["alias"] for a in call.attempts] == ["primary", "primary"]  # one retry, then the fallback
    assert "cannot be reached" in call.attempts[0]["error"]
    assert call.output_tokens == 12 and call.cost == Decimal("0")  # priced as the fallback that served it

    listed = await database_sync_to_async(
        lambda: org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/model-calls/?run={run['id']}").json()
    )()
    assert listed[0]["served_by"] == "backup" and listed[0]["attempts"][0]["alias"] == "primary"
    trace = await database_sync_to_async(
        lambda: org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/{run['id']}/").json()
    )()  # the run's trace says it was served by the fallback
    [traced] = trace["model_calls"]
    assert (traced["alias"], traced["served_by"], len(traced["attempts"])) == ("primary", "backup", 2)


async def test_routing_fails_with_every_attempt_named_when_no_candidate_answers(
    org_a: Member, api_key_for: Callable[..., str]
) -> None:
    def setup() -> tuple[str, str]:
        for alias, fallbacks in (("second", []), ("first", ["second"])):
            model_endpoint_create(
                access=org_a.access,
                alias=alias,
                base_url=nothing_listens_url(),
                model="m",
                fallbacks=fallbacks,
            )
        return _flow(org_a, "first"), api_key_for(org_a)

    flow_id, key = await database_sync_to_async(setup)()
    run = (await _run(org_a, key, flow_id)).json()
    assert run["status"] == "failed" and run["error_code"] == "model_unavailable"
    assert "'first'" in run["error_message"] and "second" in run["error_message"]
    [call] = await _calls(org_a, run["id"])
    assert call.status == "failed" and [a["alias"] for a in call.attempts] == ["first", "second"]


async def test_routing_never_retries_after_the_first_token(
    org_a: Member, standin_url: str, api_key_for: Callable[..., str]
) -> None:
    def setup() -> tuple[str, str]:
        model_endpoint_create(access=org_a.access, alias="backup", base_url=standin_url, model="standin")
        model_endpoint_create(
            access=org_a.access,
            alias="flaky",
            base_url=standin_url,
            model="standin-die-3",  # three tokens, then the connection drops
            fallbacks=["backup"],
            max_retries=2,
        )
        return _flow(org_a, "flaky"), api_key_for(org_a)

    flow_id, key = await database_sync_to_async(setup)()
    run = (await _run(org_a, key, flow_id)).json()
    assert run["status"] == "failed" and run["error_code"] == "model_unavailable"
    assert run["output_text"] == "alpha bravo charlie"  # the partial answer is kept, nothing replayed
    [call] = await _calls(org_a, run["id"])
    assert (call.served_by, call.status, call.attempts, call.output_tokens) == ("flaky", "failed", [], 3)


async def test_budget_refuses_an_organization_over_it_and_not_another(
    org_a: Member, org_b: Member, standin_url: str, api_key_for: Callable[..., str]
) -> None:
    def setup() -> tuple[str, str, str, str]:
        for member in (org_a, org_b):
            model_endpoint_create(access=member.access, alias="standin", base_url=standin_url, model="standin")
        ModelQuota.objects.create(organization=org_a.organization, monthly_token_budget=100)
        ModelQuota.objects.create(organization=org_b.organization, monthly_token_budget=1_000_000)
        for member in (org_a, org_b):
            ModelCall.objects.create(
                organization=member.organization,
                alias="standin",
                status="ok",
                input_tokens=60,
                output_tokens=60,
                at=timezone.now(),
            )
        # last month's spending does not count
        ModelCall.objects.create(
            organization=org_b.organization,
            alias="standin",
            status="ok",
            input_tokens=10**7,
            at=timezone.now() - timedelta(days=40),
        )
        return _flow(org_a, "standin"), api_key_for(org_a), _flow(org_b, "standin"), api_key_for(org_b)

    flow_a, key_a, flow_b, key_b = await database_sync_to_async(setup)()
    refused = await _run(org_a, key_a, flow_a)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["code"] == "budget_exceeded" and "120 of its 100 model tokens" in body["message"]
    accepted = await _run(org_b, key_b, flow_b)
    assert accepted.status_code == 200 and accepted.json()["status"] == "completed"


def test_budget_meter_refuses_the_next_call_once_spent(org_a: Member) -> None:
    ModelQuota.objects.create(organization=org_a.organization, monthly_token_budget=50)
    meter = Meter.load(org_a.organization.pk)
    meter.admit()
    meter.record(
        accounting.ledger_call(
            alias="m",
            served_by="m",
            status="ok",
            input_tokens=30,
            output_tokens=30,
            cost=Decimal(0),
            ttft_ms=1.0,
            latency_ms=2.0,
            attempts=[],
        )
    )
    with pytest.raises(BudgetExhausted, match="60 of its 50"):
        meter.admit()
    with pytest.raises(BudgetExceeded):
        Meter.load(org_a.organization.pk)


async def test_rate_limit_refuses_calls_over_the_limit(
    org_a: Member, standin_url: str, api_key_for: Callable[..., str]
) -> None:
    def setup() -> tuple[str, str]:
        model_endpoint_create(access=org_a.access, alias="standin", base_url=standin_url, model="standin-rate-0-n-2")
        ModelQuota.objects.create(organization=org_a.organization, requests_per_minute=2)
        return _flow(org_a, "standin"), api_key_for(org_a)

    flow_id, key = await database_sync_to_async(setup)()
    runs = [(await _run(org_a, key, flow_id)).json() for _ in range(3)]
    assert [r["status"] for r in runs] == ["completed", "completed", "failed"]
    assert runs[2]["error_code"] == "rate_limited"
    accounting._calls.clear()


async def test_rate_limit_counts_calls_other_workers_made(
    org_a: Member, org_b: Member, standin_url: str, api_key_for: Callable[..., str]
) -> None:
    """Another web worker's calls are in the ledger, not in this process's window: they count."""

    def setup() -> tuple[str, str, str, str]:
        for member in (org_a, org_b):
            model_endpoint_create(
                access=member.access, alias="standin", base_url=standin_url, model="standin-rate-0-n-2"
            )
            ModelQuota.objects.create(organization=member.organization, requests_per_minute=2)
        calls = [(org_a, timezone.now()), (org_a, timezone.now()), (org_b, timezone.now() - timedelta(minutes=2))]
        for member, at in calls:
            ModelCall.objects.create(organization=member.organization, alias="standin", status="ok", at=at)
        return _flow(org_a, "standin"), api_key_for(org_a), _flow(org_b, "standin"), api_key_for(org_b)

    flow_a, key_a, flow_b, key_b = await database_sync_to_async(setup)()
    refused = (await _run(org_a, key_a, flow_a)).json()
    assert (refused["status"], refused["error_code"]) == ("failed", "rate_limited")
    assert (await _run(org_b, key_b, flow_b)).json()["status"] == "completed"  # its calls are older


@pytest.fixture(autouse=True)
def _fresh_counters() -> Any:
    accounting._calls.clear()
    accounting._spent_since_load.clear()
    yield
