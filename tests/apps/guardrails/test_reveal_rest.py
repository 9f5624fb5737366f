"""Reversible redaction over HTTP: a REST JSON answer, a Server-Sent Events stream and the
OpenAI-compatible completion show the caller who sent their personal data their own values,
while every stored row (run, events, chat messages, spans) holds only the placeholders. The real
ASGI app, run start, stand-in echo model and database; the rows are read back afterwards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async

from apps.runs.models import Run
from tests.apps.guardrails.test_answers_and_reveal import stored_answer
from tests.apps.guardrails.test_redaction_stored import rows_holding, set_policy
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
EMAIL, CARD = "laura.keller@example.com", "4111 1111 1111 1111"
MESSAGE = f"My email is {EMAIL} and my card is {CARD}, thanks"
REDACTED = "My email is [EMAIL_1] and my card is [CREDIT_CARD_1], thanks"


@pytest.fixture
async def client(
    org_a: Member, api_key_for: Callable[..., str], endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    from apps.config.asgi import application

    await db(endpoint)(model="standin-echo")
    flow = await db(publish_flow)()
    key = await db(api_key_for)(org_a, "editor")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as http:
        yield http, f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}"


async def assert_stored_redacted() -> None:
    run = await Run.objects.aget()
    assert run.inputs["message"] == REDACTED
    assert "[EMAIL_1]" in await stored_answer(run)  # the echo model saw (and said) placeholders
    assert "[EMAIL_1]" in run.output_text
    assert await db(rows_holding)([EMAIL, CARD]) == []


async def test_rest_json_answer_is_revealed_to_its_caller_and_stored_redacted(
    org_a: Member, client: tuple[httpx.AsyncClient, str]
) -> None:
    await db(set_policy)(org_a, reversible=True)
    http, base = client
    response = await http.post(f"{base}/run/", json={"inputs": {"message": MESSAGE}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["output_text"].endswith(MESSAGE) and "[EMAIL_1]" not in body["output_text"]
    assert body["inputs"]["message"] == MESSAGE  # the caller's own input, as they sent it
    await assert_stored_redacted()


async def test_rest_sse_stream_is_revealed_to_its_caller_and_stored_redacted(
    org_a: Member, client: tuple[httpx.AsyncClient, str]
) -> None:
    await db(set_policy)(org_a, reversible=True)
    http, base = client
    events = []
    async with http.stream("POST", f"{base}/run/", json={"inputs": {"message": MESSAGE}, "stream": True}) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["type"] == "run.finished", events[-1]
    streamed = "".join(e["data"]["text"] for e in events if e["type"] == "token")
    assert streamed.endswith(MESSAGE) and "[EMAIL_1]" not in streamed  # a split placeholder is held, then mapped
    finished = json.dumps(events[-1]["data"], ensure_ascii=False)  # the outputs, as the caller reads them
    assert EMAIL in finished and "[EMAIL_1]" not in finished
    await assert_stored_redacted()


async def test_openai_completion_is_revealed_and_without_reversible_shows_placeholders(
    org_a: Member, client: tuple[httpx.AsyncClient, str]
) -> None:
    http, base = client
    ask = {"model": "x", "messages": [{"role": "user", "content": MESSAGE}]}
    await db(set_policy)(org_a)  # redact before storing, not reversible: the caller sees placeholders
    plain = await http.post(f"{base}/openai/chat/completions", json=ask)
    assert plain.status_code == 200, plain.text
    assert "[EMAIL_1]" in plain.json()["choices"][0]["message"]["content"]
    await Run.objects.all().adelete()
    await db(set_policy)(org_a, reversible=True)
    shown = await http.post(f"{base}/openai/chat/completions", json=ask)
    assert shown.status_code == 200, shown.text
    assert shown.json()["choices"][0]["message"]["content"].endswith(MESSAGE)
    streamed = ""
    async with http.stream("POST", f"{base}/openai/chat/completions", json={**ask, "stream": True}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                for choice in json.loads(line[6:])["choices"]:
                    streamed += choice["delta"].get("content") or ""
    assert streamed.endswith(MESSAGE)
    assert await db(rows_holding)([EMAIL, CARD]) == []
