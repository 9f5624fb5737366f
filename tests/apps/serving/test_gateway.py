"""The serving gateway: aliases -> OpenAI-protocol chat models, loaded with the async ORM, against the real
local model and a stand-in server for what the local model cannot show (API keys, failures)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from langchain_core.messages import AIMessageChunk

from apps.serving.gateway import EndpointSnapshot, GatewayModels, Timeouts
from apps.serving.models import ModelEndpoint, ModelKind
from apps.serving.routing import RoutedChatModel
from apps.serving.services import model_endpoint_create
from apps.serving.streaming import OpenAIStreamingChat
from flows.errors import ModelTimeout, ModelUnavailable
from tests.apps.serving.conftest import StubServer
from tests.conftest import Member
from tests.support.egress import nothing_listens_url


def _snapshot(alias: str = "m", **overrides: object) -> EndpointSnapshot:
    values: dict[str, object] = {
        "alias": alias,
        "kind": ModelKind.CHAT,
        "base_url": "http://h:9/v1",
        "model": "m",
        "supports_tools": False,
        "price_input_per_1k": Decimal("0.5"),
        "price_output_per_1k": Decimal("1.5"),
        "timeouts": Timeouts(connect=2.0, first_token=3.0, idle=4.0),
        **overrides,
    }
    return EndpointSnapshot(**values)  # type: ignore[arg-type]


@pytest.fixture
async def async_orm() -> AsyncIterator[None]:
    """The async ORM opens its connection in asgiref's worker thread; close it there afterwards, or
    the test database cannot be dropped at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_gateway_streams_from_the_local_model(
    local_model: str, make_org: Callable[..., Member], async_orm: None
) -> None:
    member = await sync_to_async(make_org)("Streamers")
    models = await GatewayModels.load(member.organization.id)  # async ORM: a sync query here would raise
    assert models.aliases == ["local"]
    chat = models.chat_model("local", temperature=0, max_tokens=8)
    chunks = [chunk async for chunk in chat.astream("Hi")]
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert len(texts) >= 2
    reply = AIMessageChunk(content="")
    for chunk in chunks:
        reply = reply + chunk
    assert reply.usage_metadata is not None
    assert 1 <= reply.usage_metadata["output_tokens"] <= 8
    assert reply.usage_metadata["input_tokens"] > 20  # the chat template's system turn counts


@pytest.mark.django_db(transaction=True)
async def test_gateway_loads_only_the_organizations_endpoints(make_org: Callable[..., Member], async_orm: None) -> None:
    acme, globex = await sync_to_async(make_org)("Acme"), await sync_to_async(make_org)("Globex")
    await sync_to_async(model_endpoint_create)(
        access=globex.access, alias="secret-model", base_url="http://h:9/v1", model="m"
    )
    assert (await GatewayModels.load(acme.organization.id)).aliases == ["local"]
    assert (await GatewayModels.load(globex.organization.id)).aliases == ["local", "secret-model"]
    with pytest.raises(ModelUnavailable):
        (await GatewayModels.load(acme.organization.id)).chat_model("secret-model", temperature=0, max_tokens=1)


def test_gateway_builds_the_client_from_the_endpoint() -> None:
    routed = GatewayModels([_snapshot()]).chat_model("m", temperature=0.3, max_tokens=42)
    assert isinstance(routed, RoutedChatModel) and [c.alias for c in routed.candidates] == ["m"]
    chat = routed.candidates[0].model
    assert isinstance(chat, OpenAIStreamingChat)
    assert (chat.model_name, chat.base_url, chat.alias) == ("m", "http://h:9/v1", "m")
    assert (chat.temperature, chat.max_tokens) == (0.3, 42)
    timeout = chat.timeout
    assert isinstance(timeout, httpx.Timeout)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2.0, 4.0, 10.0, 5.0)


def test_gateway_unknown_alias_and_embedding_models_are_unavailable() -> None:
    models = GatewayModels([_snapshot("embed", kind=ModelKind.EMBEDDING)])
    with pytest.raises(ModelUnavailable):
        models.chat_model("nope", temperature=0, max_tokens=1)
    with pytest.raises(ModelUnavailable):
        models.chat_model("embed", temperature=0, max_tokens=1)
    with pytest.raises(ModelUnavailable):
        models.price("nope")


def test_gateway_prices_costs_and_timeouts() -> None:
    models = GatewayModels([_snapshot("a"), _snapshot("b", price_input_per_1k=Decimal(0))])
    assert models.price("a") == (Decimal("0.5"), Decimal("1.5"))
    assert models.prices() == {"a": (Decimal("0.5"), Decimal("1.5")), "b": (Decimal(0), Decimal("1.5"))}
    assert models.cost("a", 1000, 2000) == Decimal("3.5")
    assert models.timeouts("a") == Timeouts(connect=2.0, first_token=3.0, idle=4.0)


@pytest.mark.django_db
def test_gateway_sends_the_decrypted_key_and_never_shows_it(org_a: Member, stub: StubServer) -> None:
    from asgiref.sync import async_to_sync

    endpoint = model_endpoint_create(
        access=org_a.access, alias="paid", base_url=f"{stub.origin}/v1", model="m", api_key="sk-very-secret"
    )
    models = GatewayModels.of([endpoint])
    assert "sk-very-secret" not in repr(models.endpoint("paid"))
    chat = models.chat_model("paid", temperature=0, max_tokens=5)
    assert "sk-very-secret" not in repr(chat)
    result = async_to_sync(models.probe)("paid", "hello")
    assert result.text == "canned answer"
    assert (result.input_tokens, result.output_tokens) == (3, 2)
    request = stub.seen[-1]
    assert request.headers["authorization"] == "Bearer sk-very-secret"
    sent = json.loads(request.body)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 64


async def test_gateway_sends_a_placeholder_key_when_there_is_none(stub: StubServer) -> None:
    models = GatewayModels([_snapshot("free", base_url=f"{stub.origin}/v1")])
    await models.probe("free", "hello")
    assert stub.seen[-1].headers["authorization"] == "Bearer none"


async def test_gateway_probe_reports_an_unreachable_server() -> None:
    models = GatewayModels([_snapshot("gone", base_url=nothing_listens_url())])
    with pytest.raises(ModelUnavailable) as caught:
        await models.probe("gone", "hello")
    assert caught.value.code == "model_unavailable"


async def test_gateway_probe_reports_an_http_error(stub: StubServer) -> None:
    models = GatewayModels([_snapshot("wrong", base_url=f"{stub.origin}/nowhere/v1")])
    with pytest.raises(ModelUnavailable) as caught:
        await models.probe("wrong", "hello")
    assert "HTTP 404" in caught.value.message


async def test_gateway_probe_times_out_waiting_for_the_first_token(stub: StubServer) -> None:
    timeouts = Timeouts(connect=1.0, first_token=0.5, idle=10.0)
    models = GatewayModels([_snapshot("slow", base_url=f"{stub.origin}/stall/v1", timeouts=timeouts)])
    with pytest.raises(ModelTimeout) as caught:
        await models.probe("slow", "hello")
    assert caught.value.code == "model_timeout"


@pytest.mark.django_db
def test_gateway_unreadable_key_is_model_unavailable(org_a: Member, settings: object) -> None:
    endpoint = model_endpoint_create(access=org_a.access, alias="k", base_url="http://h/v1", model="m", api_key="sk")
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(api_key_encrypted="garbage")
    endpoint.refresh_from_db()
    with pytest.raises(ModelUnavailable) as caught:
        GatewayModels.of([endpoint]).chat_model("k", temperature=0, max_tokens=1)
    assert "unreadable" in caught.value.message
