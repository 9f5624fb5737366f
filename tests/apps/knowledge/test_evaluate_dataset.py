"""A knowledge base's test-question run over an evaluation dataset version (apps/evaluation): its
items' messages as questions, their expected sources as the expected documents; same figures as
saved questions. Tenant-scoped: another organization's dataset is not found."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.evaluation.services import dataset_create, dataset_items_replace
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.services import document_upload
from apps.tenancy.models import Role
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db

DOCS = {
    "tides.md": "# Tides\n\nThe flood tide at Brest peaks near the granite quay twice a day.\n",
    "bees.md": "# Bees\n\nThe beekeeper smokes the hive before lifting the honey frames.\n",
}


@pytest.fixture
def kb(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    knowledge_base = make_kb(org_a)
    document_upload(
        access=org_a.access,
        knowledge_base_id=knowledge_base.id,
        files=[files.upload(name, text.encode()) for name, text in DOCS.items()],
    )
    assert ingest_pending(knowledge_base) == ["ready"] * 2
    return knowledge_base


def evaluate_url(member: Member, kb: KnowledgeBase) -> str:
    return f"/api/v1/orgs/{member.organization.id}/knowledge-bases/{kb.id}/evaluate/"


def test_evaluate_dataset_version_serves_as_the_question_set(
    org_a: Member, org_b: Member, add_member: Callable[..., Member], kb: KnowledgeBase
) -> None:
    dataset = dataset_create(
        access=org_a.access,
        name="Harbour questions",
        items=[
            {"message": "when does the flood tide peak at the granite quay", "expected_sources": ["tides.md"]},
            {"message": "a question with no expected source is not a retrieval question"},
        ],
    )
    dataset_items_replace(
        access=org_a.access,
        dataset_id=dataset.id,
        items=[
            {"message": "when does the flood tide peak at the granite quay", "expected_sources": ["tides.md"]},
            {"message": "why smoke the hive before lifting honey frames", "expected_sources": ["Bees"]},
            {"message": "what warns the ferry captain of a gale", "expected_sources": ["storms.md"]},
        ],
    )
    viewer = add_member(org_a.organization, Role.VIEWER)
    latest = viewer.client().post(
        evaluate_url(org_a, kb), {"dataset": str(dataset.id), "k": 3, "modes": ["keyword", "hybrid"]}, format="json"
    )
    assert latest.status_code == 200, latest.content
    body = latest.json()
    assert [q["question"] for q in body["questions"]] == [
        "when does the flood tide peak at the granite quay",
        "why smoke the hive before lifting honey frames",
        "what warns the ferry captain of a gale",
    ]
    assert body["questions"][2]["unmatched"] == ["storms.md"]
    assert body["questions"][0]["ranks"]["hybrid"] == 1 and body["questions"][1]["ranks"]["keyword"] == 1
    hybrid = next(score for score in body["scores"] if score["mode"] == "hybrid")
    assert hybrid["questions"] == 3 and hybrid["hit_at_1"] == pytest.approx(2 / 3, abs=1e-3)
    assert hybrid["mrr"] == pytest.approx(2 / 3, abs=1e-3) and hybrid["p95_ms"] >= hybrid["p50_ms"] > 0

    first = org_a.client().post(
        evaluate_url(org_a, kb), {"dataset": str(dataset.id), "dataset_version": 1, "k": 3}, format="json"
    )
    assert first.status_code == 200, first.content
    assert [q["question"] for q in first.json()["questions"]] == ["when does the flood tide peak at the granite quay"]

    # another tenant's dataset, a missing version, both questions and a dataset: 4xx with a code
    theirs = dataset_create(access=org_b.access, name="Theirs", items=[{"message": "q", "expected_sources": ["x"]}])
    stranger = org_a.client().post(evaluate_url(org_a, kb), {"dataset": str(theirs.id)}, format="json")
    assert stranger.status_code == 404 and stranger.json()["code"]
    missing = org_a.client().post(
        evaluate_url(org_a, kb), {"dataset": str(dataset.id), "dataset_version": 9}, format="json"
    )
    assert missing.status_code == 404 and missing.json()["code"] == "dataset_version_not_found"
    both = org_a.client().post(
        evaluate_url(org_a, kb),
        {"dataset": str(dataset.id), "questions": [{"question": "q", "expected": ["tides.md"]}]},
        format="json",
    )
    assert both.status_code == 400 and both.json()["code"]


def test_evaluate_dataset_without_expected_sources_is_a_400(org_a: Member, kb: KnowledgeBase) -> None:
    dataset = dataset_create(access=org_a.access, name="Chat only", items=[{"message": "hello there"}])
    answer = org_a.client().post(evaluate_url(org_a, kb), {"dataset": str(dataset.id)}, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "no_questions"
    assert "expected sources" in answer.json()["message"]
