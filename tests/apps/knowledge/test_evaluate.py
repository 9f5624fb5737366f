"""A base's test questions: saved per base (editor), run per mode with the request's ranking
parameters (viewer), scored by the rank of the first expected document; the real job and model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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
    "storms.md": "# Storms\n\nA falling barometer warns the ferry captain of the coming gale.\n",
}
QUESTIONS = [
    {"question": "when does the flood tide peak at the granite quay", "expected": ["tides.md"]},
    {"question": "why smoke the hive before lifting honey frames", "expected": ["Bees"]},  # by title
    {"question": "what warns the ferry captain of a gale", "expected": ["storms.md", "missing.pdf"]},
]


@pytest.fixture
def kb(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    knowledge_base = make_kb(org_a)
    document_upload(
        access=org_a.access,
        knowledge_base_id=knowledge_base.id,
        files=[files.upload(name, text.encode()) for name, text in DOCS.items()],
    )
    assert ingest_pending(knowledge_base) == ["ready"] * 3
    return knowledge_base


def url(member: Member, kb: KnowledgeBase, what: str) -> str:
    return f"/api/v1/orgs/{member.organization.id}/knowledge-bases/{kb.id}/{what}/"


def test_saved_questions_run_per_mode_with_tuning_not_saved(
    org_a: Member, add_member: Callable[..., Member], kb: KnowledgeBase
) -> None:
    client = org_a.client()
    saved = client.put(url(org_a, kb, "questions"), {"questions": QUESTIONS}, format="json")
    assert saved.status_code == 200, saved.content
    assert client.get(url(org_a, kb, "questions")).json()["questions"] == QUESTIONS

    viewer = add_member(org_a.organization, Role.VIEWER)
    answer = viewer.client().post(url(org_a, kb, "evaluate"), {"k": 3, "bm25_k1": 2.0, "bm25_b": 0.3}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["k"], body["bm25_k1"], body["bm25_b"]) == (3, 2.0, 0.3)
    scores = {score["mode"]: score for score in body["scores"]}
    assert set(scores) == {"vector", "keyword", "hybrid"}
    for score in scores.values():
        assert score["questions"] == 3
        assert score["hit_at_1"] == 1.0 and score["mrr"] == 1.0  # three distinct topics: each ranks its page first
        assert score["p95_ms"] >= score["p50_ms"] > 0
    assert [q["unmatched"] for q in body["questions"]] == [[], [], ["missing.pdf"]]
    assert all(q["ranks"] == {"vector": 1, "keyword": 1, "hybrid": 1} for q in body["questions"])
    kb.refresh_from_db()
    assert (kb.bm25_k1, kb.bm25_b) == (1.2, 0.75)  # tuning is for the run only

    assert viewer.client().put(url(org_a, kb, "questions"), {"questions": []}, format="json").status_code == 403


def test_an_uploaded_set_runs_without_saving_and_misses_score_zero(org_a: Member, kb: KnowledgeBase) -> None:
    wrong = [{"question": "when does the flood tide peak", "expected": ["bees.md"]}]
    answer = org_a.client().post(
        url(org_a, kb, "evaluate"), {"questions": wrong, "modes": ["keyword"], "k": 1}, format="json"
    )
    assert answer.status_code == 200, answer.content
    [score] = answer.json()["scores"]
    assert (score["mode"], score["hit_at_1"], score["hit_at_k"], score["mrr"]) == ("keyword", 0.0, 0.0, 0.0)
    assert answer.json()["questions"][0]["ranks"] == {"keyword": None}
    kb.refresh_from_db()
    assert kb.test_questions == []


@pytest.mark.parametrize(
    "body",
    [
        {},  # nothing saved, nothing sent
        {"questions": [{"question": "", "expected": ["tides.md"]}]},
        {"questions": [{"question": "tides?", "expected": []}]},
        {"questions": [{"question": "tides?", "expected": ["tides.md"]}], "modes": ["semantic"]},
        {"questions": [{"question": "tides?", "expected": ["tides.md"]}], "bm25_b": 3},
    ],
)
def test_bad_question_sets_are_400(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], body: dict[str, object]
) -> None:
    kb = make_kb(org_a)
    answer = org_a.client().post(url(org_a, kb, "evaluate"), body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] and answer.json()["message"]


def test_another_tenant_cannot_read_or_run_the_questions(
    org_a: Member, org_b: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a)
    org_a.client().put(url(org_a, kb, "questions"), {"questions": QUESTIONS}, format="json")
    stranger = org_b.client()
    assert stranger.get(url(org_a, kb, "questions")).status_code == 404
    assert stranger.post(url(org_a, kb, "evaluate"), {}, format="json").status_code == 404
    assert stranger.get(url(org_b, kb, "questions")).status_code == 404
