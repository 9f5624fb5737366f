from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.knowledge import ingestion
from apps.knowledge.ingestion import document_ingest, pipeline_drain
from apps.knowledge.models import ACTIVE_STATUSES, Document, KnowledgeBase
from apps.knowledge.services import knowledge_base_create
from tests.conftest import Member


def ingest_pending(knowledge_base: KnowledgeBase) -> list[str]:
    """What the huey worker does, in this thread: every unfinished document, to the end."""
    pending = Document.objects.filter(knowledge_base=knowledge_base, status__in=ACTIVE_STATUSES)
    outcomes = [document_ingest(doc_id, generation) for doc_id, generation in pending.values_list("id", "generation")]
    pipeline_drain()  # nothing left running into the next test
    return outcomes


@pytest.fixture(autouse=True)
def _pipelines_drained() -> Iterator[None]:
    """A job's pipeline outlives it (it embeds the next queued documents): none runs into the next
    test, and nothing one test prepared ahead is taken by another."""
    pipeline_drain()
    ingestion._prepared.clear()
    yield
    pipeline_drain()
    ingestion._prepared.clear()


@pytest.fixture
def serial() -> Iterator[Callable[[], None]]:
    """Turns the pipeline off (PARSE_AHEAD = 0) for the rest of the test."""
    saved = ingestion.PARSE_AHEAD

    def off() -> None:
        ingestion.PARSE_AHEAD = 0

    yield off
    ingestion.PARSE_AHEAD = saved


@pytest.fixture
def make_kb() -> Callable[..., KnowledgeBase]:
    def make(member: Member, name: str = "Handbook", **settings: Any) -> KnowledgeBase:
        return knowledge_base_create(access=member.access, name=name, **settings)

    return make
