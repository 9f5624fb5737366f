"""The semantic cache's lookup started early (apps.serving.semantic.Pending): the question's
embedding starts in the cache's own thread while the exact cache is checked; a stopped lookup
never searches nor takes a connection, one told to go hands its connection back, a cancelled
wait stops it, an exact hit stops it, and a failing embedder is a miss (the model answers).
Real embedder, real PostgreSQL + pgvector, the real stand-in model server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from apps.serving import semantic
from apps.serving.models import ModelCall, SemanticCacheEntry
from tests.apps.serving.test_semantic_cache import QUESTION, _ask, _echo, _served
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

PARAPHRASE = "How can I reset my password?"


def _pool() -> Any:
    pool = getattr(connection, "pool", None)
    assert pool is not None, "the test settings pool their connections"
    return pool


def _requests() -> int:
    return int(_pool().get_stats().get("requests_num", 0))


def _held() -> int:
    stats = _pool().get_stats()
    return int(stats.get("pool_size", 0)) - int(stats.get("pool_available", 0))


def _given_back(held: int) -> bool:
    """True once no more connections are out of the pool than `held` (a connection the pool is
    still opening in the background counts as out until it is in: wait for it)."""
    deadline = time.monotonic() + 10
    while _held() > held:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _stored(org: Member) -> semantic.Question:
    question = semantic.Question(str(org.organization.pk), None, "e" * 64, QUESTION)
    vector = semantic.EMBEDDER.embed(QUESTION)
    semantic.store(question, vector, "kept", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
    return question


def _done(pending: semantic.Pending) -> None:
    deadline = time.monotonic() + 10
    while not pending.future.done():
        assert time.monotonic() < deadline, "the lookup's thread did not end"
        time.sleep(0.01)


def test_a_stopped_lookup_never_searches_and_its_thread_ends(org_a: Member) -> None:
    stored = _stored(org_a)
    semantic.EMBEDDER.forget(PARAPHRASE)
    requests = _requests()
    pending = semantic.start(semantic.Question(stored.organization_id, None, stored.scope, PARAPHRASE), 0.5)
    pending.stop()
    assert asyncio.run(pending.result()) is None
    _done(pending)
    assert _requests() == requests  # no connection was asked for


def test_a_lookup_told_to_go_finds_the_entry_and_hands_its_connection_back(org_a: Member) -> None:
    stored = _stored(org_a)
    semantic.EMBEDDER.forget(PARAPHRASE)
    held, requests = _held(), _requests()
    pending = semantic.start(semantic.Question(stored.organization_id, None, stored.scope, PARAPHRASE), 0.85)
    pending.go()
    looked = asyncio.run(pending.result())
    assert looked is not None and looked.hit is not None and looked.hit.answer == "kept"
    assert looked.vector == semantic.EMBEDDER.embed(PARAPHRASE)  # the embedder's own vector, remembered
    assert looked.embed_ms >= looked.embed_cpu_ms * 0.5 and looked.lookup_ms > 0
    assert _requests() == requests + 1 and _given_back(held)  # one connection, given back


def test_a_cancelled_wait_stops_the_lookup(org_a: Member) -> None:
    stored = _stored(org_a)
    semantic.EMBEDDER.forget(PARAPHRASE)
    requests = _requests()
    pending = semantic.start(semantic.Question(stored.organization_id, None, stored.scope, PARAPHRASE), 0.5)

    async def caller() -> None:
        waiting = asyncio.get_running_loop().create_task(pending.result())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(caller())
    _done(pending)
    assert _requests() == requests


def test_an_exact_hit_stops_the_semantic_lookup(org_a: Member, standin_url: str) -> None:
    _echo(org_a, standin_url)
    first, _ = _ask(org_a.organization, QUESTION)
    held = _held()
    again, meta = _ask(org_a.organization, QUESTION)
    assert again == first and meta["cache"] == "exact"
    assert _served(org_a.organization) == ["echo", "cache"]
    assert _given_back(held)  # no connection left with the stopped lookup
    assert semantic._threads._work_queue.empty()  # nothing of it left queued


@pytest.fixture
def broken_embedder(tmp_path: Path) -> Iterator[None]:
    """A corrupt export of the question embedder (a real failure of the real loader)."""
    folder = tmp_path / semantic_folder()
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not an onnx model")
    semantic._onnx.cache_clear()
    semantic.EMBEDDER.forget()
    try:
        with override_settings(MODEL_EXPORT_DIR=tmp_path):
            yield
    finally:
        semantic._onnx.cache_clear()
        semantic.EMBEDDER.forget()


def semantic_folder() -> str:
    from apps.serving import question_embedder

    return question_embedder.FOLDER


def test_a_failing_embedder_is_a_miss_and_the_model_answers(
    org_a: Member, standin_url: str, broken_embedder: None
) -> None:
    _echo(org_a, standin_url)
    for early in (True, False):  # the early start and the previous path
        semantic.EARLY_START = early
        try:
            answer, meta = _ask(org_a.organization, PARAPHRASE + (" now" if early else " then"))
        finally:
            semantic.EARLY_START = True
        assert "How can I reset" in answer and not meta.get("cached")
    assert _served(org_a.organization) == ["echo", "echo"]
    assert ModelCall.objects.filter(organization=org_a.organization, status=ModelCall.Status.OK).count() == 2
    assert SemanticCacheEntry.objects.count() == 0  # no vector: nothing kept


def test_a_lookup_never_told_ends_as_a_miss_without_a_connection(org_a: Member) -> None:
    stored = _stored(org_a)
    requests, wait = _requests(), semantic.DECISION_WAIT_S
    semantic.DECISION_WAIT_S = 0.05
    try:
        pending = semantic.start(semantic.Question(stored.organization_id, None, stored.scope, QUESTION), 0.5)
        _done(pending)
    finally:
        semantic.DECISION_WAIT_S = wait
    pending.go()  # too late: a miss
    assert asyncio.run(pending.result()) is None
    assert _requests() == requests
