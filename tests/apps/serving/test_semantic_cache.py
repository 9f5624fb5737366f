"""The semantic answer cache (apps/serving/semantic.py) against the real stand-in server, the real
embedding model and pgvector: a paraphrase hits, an unrelated question misses; off by default;
scoped by tenant, flow version (publishing starts afresh), prompt and model; TTL expiry; no
caching of a failed stream or of a follow-up; runs of a published flow through REST."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from apps.serving import accounting, semantic
from apps.serving.accounting import Meter
from apps.serving.gateway import GatewayModels
from apps.serving.models import ModelCall, ModelEndpoint, SemanticCacheEntry
from apps.serving.routing import semantic_flush
from apps.serving.selectors import model_endpoint_list
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import Organization
from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db(transaction=True)

V1, V2 = uuid.uuid4(), uuid.uuid4()
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
UNRELATED = "What are your opening hours on Sunday?"


def _echo(member: Member, standin_url: str, *, threshold: float | None = 0.85, ttl: int = 60, model: str = "") -> None:
    model_endpoint_create(
        access=member.access,
        alias="echo",
        base_url=standin_url,
        model=model or "standin-echo",
        cache_ttl_s=ttl,
        semantic_cache_threshold=threshold,
        price_output_per_1k=Decimal(1),
    )


def _ask(
    organization: Organization, messages: list[BaseMessage] | str, *, version: uuid.UUID | None = V1
) -> tuple[str, dict[str, Any]]:
    meter = Meter.load(organization.pk)
    meter.version_id = version
    gateway = GatewayModels.of(list(model_endpoint_list(organization=organization)), meter=meter)

    async def ask() -> tuple[str, dict[str, Any]]:
        model = gateway.chat_model("echo", temperature=0, max_tokens=64)
        try:
            reply = await model.ainvoke(messages)
        finally:
            await accounting.flush()
            await semantic_flush()
        return str(reply.content), dict(reply.response_metadata)

    return asyncio.run(ask())


def _served(organization: Organization) -> list[str]:
    return list(
        ModelCall.objects.filter(organization=organization).order_by("at", "id").values_list("served_by", flat=True)
    )


def test_a_paraphrase_is_answered_from_the_cache_and_an_unrelated_question_is_not(
    org_a: Member, standin_url: str
) -> None:
    _echo(org_a, standin_url)
    first, _ = _ask(org_a.organization, QUESTION)
    again, meta = _ask(org_a.organization, PARAPHRASE)
    assert "How do I reset" in first
    assert again == first  # the echo model would have said "How can I…": this came from the cache
    assert meta["cached"] is True and 0.85 <= meta["similarity"] <= 1
    other, _ = _ask(org_a.organization, UNRELATED)
    assert "opening hours" in other
    assert _served(org_a.organization) == ["echo", "semantic-cache", "echo"]
    hit = ModelCall.objects.get(organization=org_a.organization, served_by="semantic-cache")
    assert hit.cost == 0 and Decimal(hit.attempts[0]["saved"]) > 0  # what the hit saved


def test_off_by_default_and_without_a_flow_version(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, threshold=None)
    _ask(org_a.organization, QUESTION)
    assert "How can I" in _ask(org_a.organization, PARAPHRASE)[0]
    ModelEndpoint.objects.filter(organization=org_a.organization).update(semantic_cache_threshold=0.85)
    _ask(org_a.organization, QUESTION, version=None)  # a draft run or a test prompt
    assert "How can I" in _ask(org_a.organization, PARAPHRASE, version=None)[0]
    assert SemanticCacheEntry.objects.count() == 0


def test_scoped_by_tenant_version_prompt_and_conversation(org_a: Member, org_b: Member, standin_url: str) -> None:
    _echo(org_a, standin_url)
    _echo(org_b, standin_url)
    _ask(org_a.organization, QUESTION)
    assert "How can I" in _ask(org_b.organization, PARAPHRASE)[0]  # another tenant: a miss
    assert "How can I" in _ask(org_a.organization, PARAPHRASE, version=V2)[0]  # a new version: a miss
    other_prompt = [SystemMessage(content="Answer like a pirate."), HumanMessage(content=PARAPHRASE)]
    assert "How can I" in _ask(org_a.organization, other_prompt)[0]  # another system prompt: a miss
    # The same prompt with other retrieved sources is the same scope: the sources follow the question.
    with_sources = [SystemMessage(content=f"{semantic.CONTEXT_HEADER} [1] Passwords live in Settings.")]
    _ask(org_a.organization, [*with_sources, HumanMessage(content="Where do I change my e-mail address?")])
    other_sources = [SystemMessage(content=f"{semantic.CONTEXT_HEADER} [1] E-mail is under Profile.")]
    cached, meta = _ask(
        org_a.organization, [*other_sources, HumanMessage(content="Where can I change my e-mail address?")]
    )
    assert meta.get("cached") is True and "Where do I" in cached
    follow_up = [HumanMessage(content=QUESTION), AIMessage(content="Use the link."), HumanMessage(content=PARAPHRASE)]
    assert "How can I" in _ask(org_a.organization, follow_up)[0]  # a conversation: never from the cache
    assert SemanticCacheEntry.objects.filter(organization=org_b.organization).count() == 1


def test_entries_expire_and_a_failed_stream_is_not_kept(org_a: Member, org_b: Member, standin_url: str) -> None:
    _echo(org_a, standin_url, ttl=1)
    _ask(org_a.organization, QUESTION)
    time.sleep(1.1)
    assert "How can I" in _ask(org_a.organization, PARAPHRASE)[0]
    _echo(org_b, standin_url, model="standin-die-2")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - whichever error the dropped stream raises
            _ask(org_b.organization, QUESTION)
    assert SemanticCacheEntry.objects.filter(organization=org_b.organization).count() == 0
    assert _served(org_b.organization) == ["echo", "echo"]


@override_settings(SEMANTIC_CACHE_MAX_ENTRIES=3)
def test_an_organization_keeps_its_newest_entries_only(org_a: Member) -> None:
    question = semantic.Question(str(org_a.organization.pk), None, "s" * 64, "q")
    vector = [1.0] + [0.0] * 383
    for n in range(5):
        semantic.store(question, vector, f"answer {n}", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
    assert semantic.sweep_organization(org_a.organization.pk) == 2
    kept = SemanticCacheEntry.objects.order_by("created_at").values_list("answer", flat=True)
    assert list(kept) == ["answer 2", "answer 3", "answer 4"]


@pytest.fixture
def asgi(org_a: Member, api_key_for: Callable[..., str]) -> httpx.AsyncClient:
    from apps.config.asgi import application

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {api_key_for(org_a, 'editor')}"},
        timeout=30,
    )


async def test_runs_of_a_published_flow_hit_until_the_next_publish(
    org_a: Member, standin_url: str, asgi: httpx.AsyncClient
) -> None:
    await database_sync_to_async(_echo)(org_a, standin_url)
    graph = chat_flow(template="{{question}}", model="echo")
    graph["nodes"][2]["config"].update(temperature=0, max_tokens=64)
    base = f"/api/v1/orgs/{org_a.organization.id}/flows/"
    client = org_a.client()
    flow = (await database_sync_to_async(client.post)(base, {"name": "Help", "graph": graph}, format="json")).json()

    async def publish() -> None:
        response = await database_sync_to_async(client.post)(f"{base}{flow['id']}/versions/", {}, format="json")
        assert response.status_code == 201, response.content

    async def run(message: str) -> str:
        response = await asgi.post(f"{base}{flow['id']}/run/", json={"inputs": {"message": message}})
        await accounting.flush()
        await semantic_flush()
        assert response.status_code == 200, response.text
        return str(response.json()["output_text"])

    await publish()
    first = await run(QUESTION)
    assert await run(PARAPHRASE) == first
    await publish()  # a new version: the old answers are not read again
    assert "How can I" in await run(PARAPHRASE)
    served = await database_sync_to_async(_served)(org_a.organization)
    assert served == ["echo", "semantic-cache", "echo"]


@override_settings(SEMANTIC_CACHE_EMBEDDER="torch")
def test_the_embedder_gives_the_models_own_vector_and_remembers_recent_questions() -> None:
    model, direct = semantic._model()
    assert direct  # the bundled model's layout: the direct path is in use
    embedder = semantic._Embedder(remember=2)
    for text in (QUESTION, "Wo finde ich meine Rechnung?", "x" * 3000):  # a long one is truncated like encode does
        expected = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        got = embedder.embed(text)
        assert max(abs(float(a) - b) for a, b in zip(expected, got, strict=True)) < 1e-4
    torch_id = semantic.TORCH_EMBEDDER_ID
    assert list(embedder._recent) == [f"{torch_id}\nWo finde ich meine Rechnung?", f"{torch_id}\n{'x' * 3000}"]
    assert embedder.embed("x" * 3000) == got


def test_small_scopes_are_searched_exactly_and_large_ones_through_the_index(
    org_a: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic, "EXACT_SCAN_MAX", 3)
    monkeypatch.setattr(semantic, "_big_scopes", {})

    def unit(*values: float) -> list[float]:
        vector = [*values, *([0.0] * (384 - len(values)))]
        norm = sum(x * x for x in vector) ** 0.5
        return [x / norm for x in vector]

    def keep(scope: str, vector: list[float], answer: str) -> None:
        question = semantic.Question(str(org_a.organization.pk), None, scope, answer)
        semantic.store(question, vector, answer, input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)

    small, large = "s" * 64, "l" * 64
    for n in range(3):
        keep(small, unit(1, n), f"small {n}")
    for n in range(6):
        keep(large, unit(1, n), f"large {n}")
    query = unit(1, 2.1)
    small_hit = semantic.lookup_vector(small, query, 0.5)
    assert small_hit is not None and small_hit.answer == "small 2"
    assert semantic.lookup_vector(small, query, 0.9999) is None  # below the threshold: a miss
    assert small not in semantic._big_scopes
    for _ in range(2):  # counted once, then straight to the index
        large_hit = semantic.lookup_vector(large, query, 0.5)
        assert large_hit is not None and large_hit.answer == "large 2"
        assert large in semantic._big_scopes
    assert semantic.lookup_vector("n" * 64, query, 0.0) is None  # an empty scope


def test_the_lookups_settings_hold_for_its_search_only(org_a: Member) -> None:
    from django.db import connection

    question = semantic.Question(str(org_a.organization.pk), None, "t" * 64, QUESTION)
    vector = semantic.EMBEDDER.embed(QUESTION)
    semantic.store(question, vector, "kept", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
    settings_sql = (
        "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('hnsw.ef_search', true),"
        " current_setting('plan_cache_mode')"
    )
    with connection.cursor() as cursor:
        cursor.execute(settings_sql)
        before = cursor.fetchone()
    for _ in range(7):  # settings and search in one round trip; prepared after psycopg's 5th use
        hit = semantic.lookup_vector(question.scope, vector, 0.9)
        assert hit is not None and hit.answer == "kept" and hit.similarity > 0.999
    with connection.cursor() as cursor:
        cursor.execute(settings_sql)
        assert cursor.fetchone() == before  # the search's own settings ended with it
    assert before[0] != "0" and before[2] == "auto"


def test_the_vector_literal_reads_back_as_the_same_vector() -> None:
    from django.db import connection

    vector = [0.1234567891, -1e-9, 3.0, -0.5, *([0.015625] * 380)]
    literal = semantic._literal(vector)
    assert literal == "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::vector::text", [literal])
        back = [float(x) for x in cursor.fetchone()[0].strip("[]").split(",")]
    assert len(back) == 384 and max(abs(a - b) for a, b in zip(vector, back, strict=True)) < 1e-6


def test_the_binary_vector_finds_what_the_text_literal_finds(org_a: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    """The question's vector bound in pgvector's binary form (the default) and as its text literal
    (BINARY_VECTOR off): the same entry at the same similarity, through both branches (an exact
    scan of a small scope, HNSW for a large one), prepared after psycopg's fifth use and not."""
    monkeypatch.setattr(semantic, "EXACT_SCAN_MAX", 2)
    monkeypatch.setattr(semantic, "_big_scopes", {})
    texts = [QUESTION, "What are your opening hours?", "Why is the sky blue?", "Where is my invoice?"]
    vectors = [semantic.EMBEDDER.embed(text) for text in texts]
    for scope, kept in (("b" * 64, 2), ("B" * 64, 4)):
        for text, vector in zip(texts[:kept], vectors, strict=False):
            question = semantic.Question(str(org_a.organization.pk), None, scope, text)
            semantic.store(question, vector, text, input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
        asked = semantic.EMBEDDER.embed(PARAPHRASE)
        found = {}
        for binary in (True, False, True, False, True, False, True, False, True, False, True, False):
            monkeypatch.setattr(semantic, "BINARY_VECTOR", binary)
            hit = semantic.lookup_vector(scope, asked, 0.5)
            assert hit is not None and hit.answer == QUESTION
            found.setdefault(binary, set()).add(round(hit.similarity, 5))
        assert found[True] == found[False] and len(found[True]) == 1, found
    assert "B" * 64 in semantic._big_scopes and "b" * 64 not in semantic._big_scopes
