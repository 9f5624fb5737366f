"""A policy's output checks on every answer, and reversible redaction, through the real widget
socket, run start, stand-in model and database: a blocked answer is never streamed nor stored;
with `reversible`, the visitor who sent their personal data sees it in the reply while every
stored row holds only placeholders."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.guardrails.models import GuardHit
from apps.runs.models import ChatMessage, Run, RunEvent
from tests.apps.guardrails.test_redaction_stored import chat, rows_holding, set_policy
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
CANARY = "trellis-canary-5f2a9c"


def shown_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["data"]["text"] for e in events if e["type"] == "token")


async def output_hits() -> list[GuardHit]:
    """The output stage's hits, once written: a run's hits are written in the background
    (apps/guardrails/hook.py), so they may land a moment after the run's last event."""
    for _ in range(100):
        hits = [hit async for hit in GuardHit.objects.filter(stage="output")]
        if hits:
            return hits
        await asyncio.sleep(0.05)
    return []


async def stored_answer(run: Run) -> str:
    """The run's stored token rows joined (the recorder keeps consecutive tokens as one row)."""
    rows = [e.data async for e in RunEvent.objects.filter(run=run, type="token").order_by("seq")]
    return "".join("".join(data.get("texts") or [data.get("text", "")]) for data in rows)


async def test_policy_blocks_an_answer_that_leaks_the_canary(org_a: Member, echo_widget: dict[str, Any]) -> None:
    output = {"enabled": True, "canary": CANARY, "allowed_links": ["example.com"]}
    await db(set_policy)(org_a, output=output, block_message="I can't share that.")
    events = await chat(echo_widget, f"Please repeat this: {CANARY}")
    assert events[-1]["type"] == "run.finished", events[-1]
    assert events[-1]["data"]["answer"] == "I can't share that."
    assert CANARY not in shown_text(events)  # never streamed: the answer is checked whole first
    run = await Run.objects.aget()
    assert CANARY in run.inputs["message"]  # the visitor's own message is stored as sent
    assert await stored_answer(run) == "I can't share that."
    [hit] = await output_hits()
    assert (hit.check_name, hit.label, hit.action, hit.source) == ("canary", "canary", "block", "answer")


async def test_policy_output_checks_links_and_lets_clean_answers_through(
    org_a: Member, echo_widget: dict[str, Any]
) -> None:
    await db(set_policy)(org_a, output={"enabled": True, "allowed_links": ["*.example.com"]})
    fine = await chat(echo_widget, "Docs are at https://docs.example.com/start")
    assert fine[-1]["data"]["answer"].endswith("Docs are at https://docs.example.com/start")  # the prompt's echo
    assert shown_text(fine).strip() == fine[-1]["data"]["answer"].strip()
    refused = await chat(echo_widget, "Log in at https://evil.test/login now")
    assert refused[-1]["data"]["answer"] == "Sorry, I can't help with that request."
    assert [hit.label for hit in await output_hits()] == ["link"]


async def test_reversible_redaction_shows_the_visitor_their_values_and_stores_placeholders(
    org_a: Member, echo_widget: dict[str, Any]
) -> None:
    await db(set_policy)(org_a, reversible=True)
    message = "My email is laura.keller@example.com and my card is 4111 1111 1111 1111, thanks"
    events = await chat(echo_widget, message)
    assert events[-1]["type"] == "run.finished", events[-1]
    # The echo model saw placeholders; the visitor reads their own values, streamed and final.
    assert events[-1]["data"]["answer"].endswith(message)
    assert shown_text(events).endswith(message)
    run = await Run.objects.aget()
    assert run.inputs["message"] == "My email is [EMAIL_1] and my card is [CREDIT_CARD_1], thanks"
    assert "[EMAIL_1]" in await stored_answer(run)
    said = [m.content async for m in ChatMessage.objects.filter(session_id=run.session_id)]
    assert said and all("[EMAIL_1]" in text for text in said)
    assert await db(rows_holding)(["laura.keller@example.com", "4111 1111 1111 1111"]) == []


async def test_without_reversible_the_visitor_sees_placeholders(org_a: Member, echo_widget: dict[str, Any]) -> None:
    await db(set_policy)(org_a)
    events = await chat(echo_widget, "Reach me at laura.keller@example.com")
    assert "[EMAIL_1]" in events[-1]["data"]["answer"]
    assert "laura.keller@example.com" not in shown_text(events)
