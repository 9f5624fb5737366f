"""The gateway's exact answer cache (apps/serving/cache.py) against the real stand-in server:
hit, miss, TTL expiry, tenant isolation, no cache at temperature > 0, no cache of a failed
stream, and the LLM node's `cached` note."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from apps.serving import accounting
from apps.serving.accounting import Meter
from apps.serving.cache import ANSWERS
from apps.serving.gateway import GatewayModels
from apps.serving.models import ModelCall
from apps.serving.selectors import model_endpoint_list
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import Organization
from flows.compiler import compile_flow
from flows.events import EventType
from flows.ports import Ports
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.flows.memory_ports import make_ports

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    ANSWERS.clear()


def _gateway(organization: Organization) -> GatewayModels:
    return GatewayModels.of(list(model_endpoint_list(organization=organization)), meter=Meter.load(organization.pk))


def _ask(organization: Organization, alias: str, prompt: str, temperature: float = 0) -> str:
    gateway = _gateway(organization)  # database reads here, not on the event loop

    async def ask() -> str:
        model = gateway.chat_model(alias, temperature=temperature, max_tokens=32)
        try:
            reply = await model.ainvoke(prompt)
        finally:
            await accounting.flush()
        return str(reply.content)

    return asyncio.run(ask())


def _served(organization: Organization, alias: str) -> list[str]:
    calls = ModelCall.objects.filter(organization=organization, alias=alias).order_by("at", "id")
    return [f"{c.served_by}:{c.status}" for c in calls]


def _echo(member: Member, standin_url: str, ttl: int, alias: str = "echo", model: str = "standin-echo") -> None:
    model_endpoint_create(
        access=member.access,
        alias=alias,
        base_url=standin_url,
        model=model,
        cache_ttl_s=ttl,
        price_input_per_1k=Decimal(1),
    )


def test_an_exact_repeat_is_answered_from_the_cache_and_costs_nothing(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=60)
    first = _ask(org_a.organization, "echo", "hello there friend")
    second = _ask(org_a.organization, "echo", "hello there friend")
    assert first == second and "hello there friend" in first
    other = _ask(org_a.organization, "echo", "something else")
    assert "something else" in other
    assert _served(org_a.organization, "echo") == ["echo:ok", "cache:ok", "echo:ok"]
    cached = ModelCall.objects.get(organization=org_a.organization, served_by="cache")
    assert (cached.cost, cached.input_tokens, cached.output_tokens) == (Decimal(0), 0, 0)


def test_the_cache_is_off_by_default_and_at_temperature_above_zero(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=0, alias="plain")
    _echo(org_a, standin_url, ttl=60, alias="warm")
    for _ in range(2):
        _ask(org_a.organization, "plain", "same words")
        _ask(org_a.organization, "warm", "same words", temperature=0.7)
    assert _served(org_a.organization, "plain") == ["plain:ok", "plain:ok"]
    assert _served(org_a.organization, "warm") == ["warm:ok", "warm:ok"]


def test_entries_expire_after_their_ttl(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=1)
    _ask(org_a.organization, "echo", "short lived")
    _ask(org_a.organization, "echo", "short lived")
    time.sleep(1.1)
    _ask(org_a.organization, "echo", "short lived")
    assert _served(org_a.organization, "echo") == ["echo:ok", "cache:ok", "echo:ok"]


def test_one_tenant_never_reads_anothers_answer(org_a: Member, org_b: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=60)
    _echo(org_b, standin_url, ttl=60)
    _ask(org_a.organization, "echo", "the same question")
    _ask(org_b.organization, "echo", "the same question")
    assert _served(org_b.organization, "echo") == ["echo:ok"]  # a miss for B, although A asked the same


def test_a_failed_stream_is_not_kept(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=60, alias="flaky", model="standin-die-2")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - whichever error the dropped stream raises
            _ask(org_a.organization, "flaky", "will break")
    assert _served(org_a.organization, "flaky") == ["flaky:failed", "flaky:failed"]


def test_the_llm_node_notes_a_cached_answer(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=60)
    graph = chat_flow(model="echo")
    graph["nodes"][2]["config"].update(temperature=0, max_tokens=32)

    def notes() -> dict[str, Any]:
        memory = make_ports()
        ports = Ports(
            models=_gateway(org_a.organization),
            retrievers=memory.retrievers,
            memory=memory.memory,
            http=memory.http,
            clock=memory.clock,
        )

        async def run() -> dict[str, Any]:
            events = [e async for e in compile_flow(graph, ports).events({"message": "cache me"})]
            await accounting.flush()
            assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
            finished = next(e for e in events if e.type == EventType.NODE_FINISHED and e.node == "llm")
            return dict(finished.data.get("notes") or {})

        return asyncio.run(run())

    assert notes() == {}
    assert notes() == {"cached": "exact"}  # which cache answered
