"""Moderation calls are model calls: each is in the ModelCall ledger (alias, run, tokens) and
counts against the organization's budget, and one that the budget refuses is not made: the
policy's `on_error` decides (block the run, or flag and go on). The real run start, the stand-in
model server's classifier model, the ledger and the quota in the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.guardrails.models import GuardHit
from apps.runs.models import Run
from apps.serving.models import ModelCall, ModelQuota
from tests.apps.guardrails.test_model_checks import run_rest
from tests.apps.guardrails.test_redaction_stored import set_policy
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
MODERATION = {"enabled": True, "model": "moderator", "mode": "classifier", "thresholds": {"violence": 0.8}}
BUDGET = 100_000


@pytest.fixture
def editor_key(org_a: Member, api_key_for: Callable[..., str]) -> str:
    return api_key_for(org_a, "editor")


async def test_a_moderation_call_is_in_the_ledger_with_its_run_and_tokens(
    org_a: Member, echo_widget: dict[str, Any], editor_key: str, endpoint: Callable[..., Any]
) -> None:
    await db(endpoint)(alias="moderator", model="standin-moderator")
    await db(set_policy)(org_a, moderation=MODERATION)
    response = await run_rest(org_a, echo_widget["flow"], editor_key, "Where is my parcel?")
    assert response.status_code == 200, response.text
    run = await Run.objects.aget()
    calls = [c async for c in ModelCall.objects.filter(alias="moderator")]
    assert calls, "the moderation call is not in the ledger"
    assert {c.run_id for c in calls} == {run.pk}
    assert all(c.status == "ok" and c.input_tokens > 0 for c in calls)
    assert all(str(c.organization_id) == str(org_a.organization.id) for c in calls)


@pytest.mark.parametrize("on_error", ["block", "allow"])
async def test_a_moderation_call_over_the_budget_is_not_made_and_on_error_decides(
    org_a: Member, echo_widget: dict[str, Any], editor_key: str, endpoint: Callable[..., Any], on_error: str
) -> None:
    await db(endpoint)(alias="moderator", model="standin-moderator")
    await db(set_policy)(org_a, moderation={**MODERATION, "on_error": on_error}, block_message="Not now.")
    org = org_a.organization
    await ModelQuota.objects.acreate(organization=org, monthly_token_budget=BUDGET)
    # One token short of the budget: the run starts, the first moderation call is admitted and its
    # tokens cross the budget, so the second one (the second text input) is refused.
    await ModelCall.objects.acreate(
        organization=org, alias="earlier", served_by="earlier", status="ok", input_tokens=BUDGET - 1,
        output_tokens=0, latency_ms=1, attempts=[], at=timezone.now(),
    )  # fmt: skip
    response = await run_multi(org_a, echo_widget["flow"], editor_key)
    moderated = await ModelCall.objects.filter(alias="moderator").acount()
    assert moderated == 1  # the refused call was never made
    unavailable = await GuardHit.objects.aget(check_name="moderation", label="unavailable")
    if on_error == "block":
        assert response.status_code == 400, response.text
        assert response.json() == {"code": "guard_blocked", "message": "Not now."}
        assert unavailable.action == "block"
        assert await Run.objects.acount() == 0
    else:
        assert response.status_code == 200, response.text
        assert unavailable.action == "flag"
        # The run went on, and its own model call met the same budget: the moderation's tokens count.
        body = response.json()
        assert body["status"] == "failed" and body["error_code"] == "budget_exceeded", body


async def run_multi(member: Member, flow: str, key: str) -> Any:
    import httpx

    from apps.config.asgi import application

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ) as client:
        url = f"/api/v1/orgs/{member.organization.id}/flows/{flow}/run/"
        return await client.post(url, json={"inputs": {"message": "Hello there", "note": "A second text input"}})
