"""The OpenAI-compatible endpoint, called by the real OpenAI SDK through the real ASGI app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from channels.db import database_sync_to_async

from apps.config.asgi import application
from apps.runs.models import Run
from apps.tenancy.models import Role
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"


def sdk(org_id: object, flow_id: object, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"http://testserver/api/v1/orgs/{org_id}/flows/{flow_id}/openai",
        api_key=key,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=application)),
    )


async def test_openai_sdk_calls_the_published_flow(
    org_a: Member, endpoint: Callable[..., Any], publish_flow: Callable[..., Any], api_key_for: Callable[..., str]
) -> None:
    await db(endpoint)()
    flow = await db(publish_flow)()
    key = await db(api_key_for)(org_a, Role.VIEWER)
    client = sdk(org_a.organization.id, flow["id"], key)
    messages: Any = [{"role": "system", "content": "ignored"}, {"role": "user", "content": "Hello"}]
    completion = await client.chat.completions.create(model="whatever-they-send", messages=messages)
    assert completion.choices[0].message.content == WORDS
    assert completion.usage is not None and completion.usage.completion_tokens == 12
    assert completion.model == "whatever-they-send"
    run = await Run.objects.select_related("version").aget(pk=completion.id.removeprefix("chatcmpl-"))
    assert (
        run.source == "openai" and run.version is not None and run.inputs == {"message": "Hello", "system": "ignored"}
    )

    stream = await client.chat.completions.create(
        model="x", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == WORDS and len([p for p in pieces if p]) == 12
    assert usage is not None and usage.completion_tokens == 12


async def test_openai_endpoint_refuses_other_tenants_missing_keys_and_unpublished_flows(
    org_a: Member,
    org_b: Member,
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    api_key_for: Callable[..., str],
) -> None:
    from tests.apps.builder.conftest import create_flow, publish

    await db(endpoint)()
    draft_only = await db(publish_flow)(publish=False)
    theirs = await db(create_flow)(org_b, "Their flow")
    await db(publish)(org_b, theirs)
    key = await db(api_key_for)(org_a, Role.VIEWER)
    messages: Any = [{"role": "user", "content": "hi"}]
    for org, flow, status in (
        (org_b.organization.id, theirs["id"], 404),  # their org
        (org_a.organization.id, theirs["id"], 404),  # our org, their flow
        (org_a.organization.id, "not-a-uuid", 404),
        (org_a.organization.id, draft_only["id"], 400),  # never published: nothing to run
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk(org, flow, key).chat.completions.create(model="x", messages=messages)
        assert caught.value.status_code == status
    with pytest.raises(openai.AuthenticationError):
        await sdk(org_a.organization.id, draft_only["id"], "trl_bogus_key").chat.completions.create(
            model="x", messages=messages
        )
    assert not await Run.objects.aexists()
