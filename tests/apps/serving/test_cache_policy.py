"""The response cache chosen per flow and per LLM node (flows.nodes.llm's `cache*` fields, the
graph's `settings.cache`; apps.serving.gateway.cache_settings), against the real stand-in server,
the real embedding model and pgvector, through REST runs of published flows: hit and miss, the
node over the flow over the endpoint, TTL expiry, invalidation on publish, tenant isolation, the
temperature bypass unless asked, no caching of a streamed error, the `cached` marker in the trace,
and a wrong setting refused with a 400."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client

from apps.serving import accounting
from apps.serving.cache import ANSWERS
from apps.serving.gateway import EndpointSnapshot, Timeouts, cache_settings
from apps.serving.models import ModelCall, SemanticCacheEntry
from apps.serving.routing import semantic_flush
from apps.serving.services import model_endpoint_create
from flows.ports import CachePolicy
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    ANSWERS.clear()


def _endpoint(
    member: Member, standin_url: str, *, ttl: int = 0, threshold: float | None = None, model: str = ""
) -> None:
    model_endpoint_create(
        access=member.access,
        alias="echo",
        base_url=standin_url,
        model=model or "standin-echo",
        cache_ttl_s=ttl,
        price_output_per_1k=Decimal(1),
    )


def _graph(*, temperature: float = 0, flow_cache: dict[str, Any] | None = None, **node: Any) -> dict[str, Any]:
    graph = chat_flow(template="{{question}}", model="echo")
    graph["nodes"][2]["config"].update(temperature=temperature, max_tokens=64, **node)
    if flow_cache is not None:
        graph["settings"] = {"cache": flow_cache}
    return graph


class Flows:
    """One organization's flows over REST: create, publish, run (as its editor's API key)."""

    def __init__(self, member: Member, key: str) -> None:
        self.member, self.client = member, member.client()
        self.base = f"/api/v1/orgs/{member.organization.id}/flows/"
        self.headers = {"Authorization": f"Bearer {key}"}

    def create(self, graph: dict[str, Any]) -> str:
        response = self.client.post(self.base, {"name": "Help", "graph": graph}, format="json")
        assert response.status_code == 201, response.content
        return str(response.json()["id"])

    def publish(self, flow_id: str) -> None:
        response = self.client.post(f"{self.base}{flow_id}/versions/", {}, format="json")
        assert response.status_code == 201, response.content

    def run(self, flow_id: str, message: str) -> dict[str, Any]:
        import asyncio

        from apps.config.asgi import application

        async def post() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1", timeout=30
            ) as http:
                try:
                    return await http.post(
                        f"{self.base}{flow_id}/run/", json={"inputs": {"message": message}}, headers=self.headers
                    )
                finally:
                    await accounting.flush()
                    await semantic_flush()

        response = asyncio.run(post())
        assert response.status_code == 200, response.text
        return dict(response.json())

    def served(self) -> list[str]:
        calls = ModelCall.objects.filter(organization=self.member.organization).order_by("at", "id")
        return [f"{c.served_by}:{c.status}" for c in calls]


@pytest.fixture
def flows_for(api_key_for: Callable[..., str]) -> Callable[[Member], Flows]:
    return lambda member: Flows(member, api_key_for(member, "editor"))


def test_a_node_caches_exact_repeats_on_an_endpoint_without_a_cache_and_the_trace_says_so(
    org_a: Member, standin_url: str, flows_for: Callable[[Member], Flows]
) -> None:
    _endpoint(org_a, standin_url)  # the endpoint caches nothing
    flows = flows_for(org_a)
    flow = flows.create(_graph(cache="exact"))
    flows.publish(flow)
    first = flows.run(flow, "hello there friend")
    second = flows.run(flow, "hello there friend")
    assert second["output_text"] == first["output_text"] and "hello there friend" in first["output_text"]
    flows.run(flow, "something else")  # a miss
    assert flows.served() == ["echo:ok", "cache:ok", "echo:ok"]
    trace = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/{second['id']}/").json()
    llm = next(span for span in trace["spans"] if span["node"] == "llm")
    assert llm["outputs"]["notes"]["cached"] == "exact"  # the marker in the trace
    assert [c["served_by"] for c in trace["model_calls"]] == ["cache"]
    first_trace = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/{first['id']}/").json()
    assert "cached" not in (next(s for s in first_trace["spans"] if s["node"] == "llm")["outputs"].get("notes") or {})


def test_a_publish_starts_a_new_cache_and_an_answer_expires_after_its_ttl(
    org_a: Member, standin_url: str, flows_for: Callable[[Member], Flows]
) -> None:
    _endpoint(org_a, standin_url)
    flows = flows_for(org_a)
    flow = flows.create(_graph(cache="exact", cache_ttl_s=1))
    flows.publish(flow)
    flows.run(flow, "same words")
    flows.run(flow, "same words")
    flows.publish(flow)  # a new version: the old version's answers are not read
    flows.run(flow, "same words")
    time.sleep(1.1)  # the node's TTL
    flows.run(flow, "same words")
    assert flows.served() == ["echo:ok", "cache:ok", "echo:ok", "echo:ok"]


def test_the_flows_semantic_default_the_nodes_off_over_it_and_the_endpoint_as_fallback(
    org_a: Member, standin_url: str, flows_for: Callable[[Member], Flows]
) -> None:
    _endpoint(org_a, standin_url, ttl=60)  # the endpoint: exact only
    flows = flows_for(org_a)
    semantic_flow = flows.create(_graph(flow_cache={"mode": "semantic", "threshold": 0.85}))
    flows.publish(semantic_flow)
    first = flows.run(semantic_flow, QUESTION)["output_text"]
    assert flows.run(semantic_flow, PARAPHRASE)["output_text"] == first  # the flow's semantic cache
    off_flow = flows.create(_graph(flow_cache={"mode": "semantic", "threshold": 0.85}, cache="off"))
    flows.publish(off_flow)
    flows.run(off_flow, QUESTION)
    flows.run(off_flow, QUESTION)  # the node's "off" wins over the flow and the endpoint
    plain_flow = flows.create(_graph())
    flows.publish(plain_flow)
    flows.run(plain_flow, QUESTION)
    flows.run(plain_flow, QUESTION)  # no flow or node setting: the endpoint's exact cache
    assert "How can I" in flows.run(plain_flow, PARAPHRASE)["output_text"]  # ...and no semantic one
    assert flows.served() == ["echo:ok", "semantic-cache:ok", "echo:ok", "echo:ok", "echo:ok", "cache:ok", "echo:ok"]
    assert SemanticCacheEntry.objects.filter(organization=org_a.organization).count() == 1


def test_a_temperature_above_zero_skips_the_cache_unless_asked(
    org_a: Member, standin_url: str, flows_for: Callable[[Member], Flows]
) -> None:
    _endpoint(org_a, standin_url)
    flows = flows_for(org_a)
    sampled = flows.create(_graph(temperature=0.7, cache="exact"))
    asked = flows.create(_graph(temperature=0.7, cache="exact", cache_any_temperature=True))
    for flow in (sampled, asked):
        flows.publish(flow)
        flows.run(flow, "warm words")
        flows.run(flow, "warm words")
    assert flows.served() == ["echo:ok", "echo:ok", "echo:ok", "cache:ok"]


def test_tenants_never_share_and_a_streamed_error_is_not_kept(
    org_a: Member, org_b: Member, standin_url: str, flows_for: Callable[[Member], Flows]
) -> None:
    _endpoint(org_a, standin_url)
    _endpoint(org_b, standin_url, model="standin-die-2")  # B's model drops its stream after two chunks
    a, b = flows_for(org_a), flows_for(org_b)
    flow_a, flow_b = a.create(_graph(cache="semantic")), b.create(_graph(cache="semantic"))
    a.publish(flow_a)
    b.publish(flow_b)
    a.run(flow_a, QUESTION)
    assert a.run(flow_a, QUESTION)["output_text"]
    for _ in range(2):
        assert b.run(flow_b, QUESTION)["status"] == "failed"  # the same question, a miss for B both times
    assert a.served() == ["echo:ok", "cache:ok"]
    assert b.served() == ["echo:failed", "echo:failed"]
    assert SemanticCacheEntry.objects.filter(organization=org_b.organization).count() == 0


def test_a_wrong_cache_setting_is_refused_with_a_400(org_a: Member, standin_url: str) -> None:
    _endpoint(org_a, standin_url)
    client: Client = org_a.client()
    base = f"/api/v1/orgs/{org_a.organization.id}/flows/"
    bad_flow = _graph(flow_cache={"mode": "sometimes"})
    response = client.post(base, {"name": "Bad", "graph": bad_flow}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_graph", response.content
    flow = client.post(base, {"name": "Draft", "graph": _graph(cache_threshold=0.2)}, format="json").json()
    response = client.post(f"{base}{flow['id']}/versions/", {}, format="json")  # a draft saves; publishing checks
    assert response.status_code == 400 and response.json()["message"], response.content


def _snapshot(ttl: float = 0, threshold: float | None = None) -> EndpointSnapshot:
    return EndpointSnapshot(
        alias="m",
        kind="chat",
        base_url="http://127.0.0.1:9/v1",
        model="m",
        supports_tools=False,
        price_input_per_1k=Decimal(0),
        price_output_per_1k=Decimal(0),
        timeouts=Timeouts(1, 1, 1),
        cache_ttl_s=ttl,
        semantic_threshold=threshold,
    )


def test_the_policy_over_the_endpoint_over_the_defaults() -> None:
    assert cache_settings(_snapshot(), None, 0) == (0, None)
    assert cache_settings(_snapshot(60, 0.8), None, 0) == (60, 0.8)
    assert cache_settings(_snapshot(60, 0.8), None, 0.5) == (0, None)
    assert cache_settings(_snapshot(60, 0.8), CachePolicy("off"), 0) == (0, None)
    assert cache_settings(_snapshot(60, 0.8), CachePolicy("exact"), 0) == (60, None)
    assert cache_settings(_snapshot(), CachePolicy("semantic"), 0) == (3600, 0.9)
    assert cache_settings(_snapshot(60, 0.8), CachePolicy("semantic", ttl_s=5, threshold=0.95), 0) == (5, 0.95)
    assert cache_settings(_snapshot(), CachePolicy("exact"), 0.5) == (0, None)
    assert cache_settings(_snapshot(), CachePolicy("exact", any_temperature=True), 0.5) == (3600, None)
