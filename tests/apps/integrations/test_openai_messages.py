"""The OpenAI-compatible endpoint takes the whole `messages` list: the real OpenAI SDK sends a
system message and a 3-turn history, and the model (a stand-in that answers with every message
it was sent) shows the flow's memory held the history and its prompt the system message. `GET
.../models` lists the published flows the key may run; the organization's base URL runs the flow
that `model` names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from channels.db import database_sync_to_async

from apps.config.asgi import application
from apps.runs.models import Run
from apps.tenancy.models import ApiKeyScope, Role
from apps.tenancy.services import api_key_create
from tests.conftest import Member
from tests.flows.graphs import graph

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

HISTORY: Any = [
    {"role": "system", "content": "You answer as a ship's captain."},
    {"role": "user", "content": "My name is Ada."},
    {"role": "assistant", "content": "Welcome aboard, Ada."},
    {"role": "user", "content": "I have a parrot called Pip."},
    {"role": "assistant", "content": "A fine first mate."},
    {"role": "user", "content": [{"type": "text", "text": "What are my name and my parrot's name?"}]},
]


def memory_flow(alias: str) -> dict[str, Any]:
    """chat input -> prompt (system + question) -> LLM, with the memory node's history."""
    return (
        graph()
        .node("in", "chat_input")
        .node("memory", "memory", turns=10)
        .node("prompt", "prompt", template="{{system}}\n\nQuestion: {{question}}")
        .node("llm", "llm", model=alias)
        .node("out", "output")
        .edge("in", "prompt", "message", "question")
        .edge("in", "prompt", "system", "system")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("memory", "llm", "history", "history")
        .edge("llm", "out", "text", "value")
        .spec
    )


def sdk(base_url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=key,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=application), timeout=30),  # type: ignore[arg-type]
    )


async def test_the_sdk_with_a_three_turn_history_gets_an_answer_that_used_it(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(endpoint)(alias="transcript", model="standin-transcript")
    flow = await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"))
    key = await db(api_key_for)(org_a, Role.VIEWER)
    client = sdk(f"http://testserver/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/openai", key)
    completion = await client.chat.completions.create(model="captain", messages=HISTORY)
    answer = completion.choices[0].message.content or ""
    # What the model was sent, in order: the earlier turns (memory), then the prompt with the
    # system message and the last question.
    expected = [
        "user: My name is Ada.",
        "assistant: Welcome aboard, Ada.",
        "user: I have a parrot called Pip.",
        "assistant: A fine first mate.",
        "user: You answer as a ship's captain.",
        "Question: What are my name and my parrot's name?",
    ]
    positions = [answer.find(line) for line in expected]
    assert -1 not in positions and positions == sorted(positions), answer
    run = await Run.objects.aget(pk=completion.id.removeprefix("chatcmpl-"))
    assert run.inputs == {
        "message": "What are my name and my parrot's name?",
        "system": "You answer as a ship's captain.",
    }


async def test_models_lists_published_flows_and_the_org_base_url_runs_the_named_one(
    org_a: Member,
    org_b: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    await db(endpoint)(alias="transcript", model="standin-transcript")
    published = await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"))
    draft = await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"), publish=False)
    key = await db(api_key_for)(org_a, Role.VIEWER)
    client = sdk(f"http://testserver/api/v1/orgs/{org_a.organization.id}/openai", key)
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == [published["id"]] and draft["id"] not in str(models)
    completion = await client.chat.completions.create(
        model=published["id"], messages=[{"role": "user", "content": "Ahoy"}]
    )
    assert "Question: Ahoy" in (completion.choices[0].message.content or "")
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model=draft["id"] + "0", messages=[{"role": "user", "content": "x"}])
    # another organization's key sees nothing of this one
    theirs = sdk(f"http://testserver/api/v1/orgs/{org_a.organization.id}/openai", await db(api_key_for)(org_b))
    with pytest.raises(openai.NotFoundError):
        await theirs.models.list()
    with pytest.raises(openai.NotFoundError):
        await theirs.chat.completions.create(model=published["id"], messages=[{"role": "user", "content": "x"}])
    their_flow_url = f"http://testserver/api/v1/orgs/{org_a.organization.id}/flows/{published['id']}/openai"
    with pytest.raises(openai.NotFoundError):
        await sdk(their_flow_url, await db(api_key_for)(org_b)).models.list()
    assert await Run.objects.acount() == 1
    with pytest.raises(openai.AuthenticationError):
        await sdk(f"http://testserver/api/v1/orgs/{org_a.organization.id}/openai", "trl_bogus_x").models.list()


async def test_a_key_limited_to_other_flows_lists_only_those(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    await db(endpoint)(alias="transcript", model="standin-transcript")
    first = await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"))
    await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"))

    def limited_key() -> str:
        _, raw = api_key_create(
            access=org_a.access, name="one", role=Role.EDITOR, scope=ApiKeyScope.RUNS, flows=[first["id"]]
        )
        return raw

    client = sdk(f"http://testserver/api/v1/orgs/{org_a.organization.id}/openai", await db(limited_key)())
    assert [m.id async for m in client.models.list()] == [first["id"]]


async def test_messages_without_a_user_message_are_refused(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(endpoint)(alias="transcript", model="standin-transcript")
    flow = await db(publish_flow)(alias="transcript", graph=memory_flow("transcript"))
    client = sdk(
        f"http://testserver/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/openai",
        await db(api_key_for)(org_a),
    )
    for messages in ([{"role": "assistant", "content": "hi"}], [{"role": "system", "content": "s"}], ["nope"]):
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="x", messages=messages)  # type: ignore[arg-type]
    assert not await Run.objects.aexists()
