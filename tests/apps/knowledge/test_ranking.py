"""Keyword ranking (BM25 from PostgreSQL with statistics kept by ingestion), languages, hybrid
fusion and structure-aware HTML: real files through the sandboxed parser, the real embedding
model and the real database."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from apps.knowledge.models import Chunk, KeywordCorpus, KeywordTerm, KnowledgeBase
from apps.knowledge.search import knowledge_search
from apps.knowledge.services import document_delete, document_replace, document_upload, knowledge_base_update
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

# The case: a question naming one rare function and the word "return"; chunks that
# repeat "return" many times must not outrank the one chunk that names the function.
RETURNS = [
    f"# Note {i}\n\nThe call will return a value. Return early, return often; every return returns what "
    f"return statements return. A return is a return. Return the result and return. {'Filler text. ' * 5}"
    for i in range(6)
]
RARE = (
    "# Parsing\n\nThe function frobnicate_headers parses the raw header block and gives back a dictionary. "
    "It is used by the mail reader."
)


def _upload(member: Member, kb: KnowledgeBase, named: dict[str, str]) -> None:
    uploads = [files.upload(name, text.encode()) for name, text in named.items()]
    document_upload(access=member.access, knowledge_base_id=kb.id, files=uploads)
    assert set(ingest_pending(kb)) == {"ready"}


def _true_stats(kb: KnowledgeBase) -> tuple[dict[str, int], int, int]:
    """Document frequencies, chunk count and total length recomputed from the active chunks."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.lexeme, count(*) FROM knowledge_chunk c, unnest(tsvector_to_array(c.search_vector)) t(lexeme)
               WHERE c.knowledge_base_id = %s AND c.active GROUP BY t.lexeme""",
            [kb.id],
        )
        df = {str(term): int(n) for term, n in cursor.fetchall()}
        cursor.execute(
            "SELECT count(*), coalesce(sum(search_length), 0) FROM knowledge_chunk WHERE knowledge_base_id = %s "
            "AND active",
            [kb.id],
        )
        chunks, length = cursor.fetchone()  # type: ignore[misc]
    return df, int(chunks), int(length)


def _stored_stats(kb: KnowledgeBase) -> tuple[dict[str, int], int, int]:
    corpus = KeywordCorpus.objects.filter(knowledge_base=kb).first()
    df = dict(KeywordTerm.objects.filter(knowledge_base=kb).values_list("term", "df"))
    return df, corpus.chunks if corpus else 0, corpus.length if corpus else 0


def test_bm25_rare_term_outranks_repeated_common_word(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=128, chunk_overlap=0)
    _upload(org_a, kb, {f"returns-{i}.md": text for i, text in enumerate(RETURNS)} | {"parsing.md": RARE})
    result = knowledge_search(knowledge_base=kb, query="What does frobnicate_headers return?", k=5, mode="keyword")
    assert result.hits[0].document_name == "parsing.md", [h.document_name for h in result.hits]
    assert "frobnicate_headers" in result.hits[0].passage
    assert 0 < result.hits[-1].score <= result.hits[0].score <= 1
    assert "return" in result.terms


def test_bm25_scores_follow_the_formula(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=128, chunk_overlap=0)
    _upload(org_a, kb, {"a.md": "Otters swim. Otters play. Otters sleep.", "b.md": "Otters and beavers build dams."})
    knowledge_base_update(access=org_a.access, knowledge_base_id=kb.id, bm25_k1=1.5, bm25_b=0.5)
    kb.refresh_from_db()
    hits = knowledge_search(knowledge_base=kb, query="beavers otters", k=5, mode="keyword").hits
    df, n, total = _true_stats(kb)
    average = total / n
    lengths = dict(Chunk.objects.filter(knowledge_base=kb, active=True).values_list("document__name", "search_length"))
    tf = {"a.md": {"otter": 3, "beaver": 0}, "b.md": {"otter": 1, "beaver": 1}}

    def bm25(name: str) -> float:
        score = 0.0
        for term in ("otter", "beaver"):
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            f = tf[name][term]
            score += idf * f * 2.5 / (f + 1.5 * (1 - 0.5 + 0.5 * lengths[name] / average))
        best = sum(math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in ("otter", "beaver")) * 2.5
        return score / best

    assert [h.document_name for h in hits] == ["b.md", "a.md"]
    for hit in hits:
        assert hit.score == pytest.approx(bm25(hit.document_name), rel=1e-4)
    # quotes, backslashes and tsquery operators in a question are words, not syntax
    for odd in ("otters' \\ 'dams' & | ! <-> :*", "\\", "'", "back\\slash otters"):
        found = knowledge_search(knowledge_base=kb, query=odd, k=3, mode="keyword").hits
        assert all(h.document_name in ("a.md", "b.md") for h in found)


def test_bm25_max_score_reads_rare_terms_first_and_stays_exact(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates are read term by term, rarest first: the common term's chunks are read only
    when they could still enter the top k, and the ranking is the one-query ranking."""
    from apps.knowledge import keywords

    kb = make_kb(org_a, chunk_size=128, chunk_overlap=0)
    named = {f"h{i}.md": f"The harbour at dawn, note {i}. Boats leave the harbour." for i in range(9)}
    named |= {f"z{i}.md": f"Zanzibar spice ships, log {i}: {'reach the harbour' if i else 'sail'}." for i in range(3)}
    _upload(org_a, kb, named)
    tsqueries: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "MATERIALIZED" in sql:
            tsqueries.append(next(p for p in params if isinstance(p, str) and "'" in p))
        return execute(sql, params, many, context)

    def ranked(k: int, first_stage: int) -> list[tuple[str, float]]:
        monkeypatch.setattr(keywords, "FIRST_STAGE_POSTINGS", first_stage)
        tsqueries.clear()
        with connection.execute_wrapper(watch):
            hits = knowledge_search(knowledge_base=kb, query="zanzibar harbour", k=k, mode="keyword").hits
        return [(h.document_name, h.score) for h in hits]

    one_query = ranked(3, 10**9)
    assert tsqueries == ["'zanzibar' | 'harbour'"]
    assert {name for name, _ in one_query} == {"z0.md", "z1.md", "z2.md"}, one_query
    assert ranked(3, 0) == one_query
    assert tsqueries == ["'zanzibar'"]  # the harbour chunks could not enter the top 3: never read
    everything = ranked(10, 10**9)
    assert ranked(10, 0) == everything  # the top 10 needs harbour-only chunks: a second stage
    assert tsqueries == ["'zanzibar'", "('harbour') & !('zanzibar')"]
    assert len(everything) == 10 and everything[:3] == one_query
    # past the postings cap the common term is dropped from the candidates: the rare chunks stay
    monkeypatch.setattr(keywords, "MAX_CANDIDATE_POSTINGS", 1)
    capped = ranked(10, 0)
    assert tsqueries == ["'zanzibar'"]
    assert capped == one_query


def test_keyword_statistics_follow_upload_replace_delete(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=0)
    _upload(org_a, kb, {"one.md": "# One\n\nAlpha beta gamma.", "two.md": "# Two\n\nBeta delta. " * 30})
    assert _stored_stats(kb) == _true_stats(kb)
    two = kb.documents.get(name="two.md")
    document_replace(
        access=org_a.access,
        knowledge_base_id=kb.id,
        document_id=two.id,
        file=files.upload("two.md", b"# Two\n\nEpsilon zeta only now."),
    )
    assert _stored_stats(kb)[0].get("delta") == _true_stats(kb)[0].get("delta")  # old chunks still answer
    assert ingest_pending(kb) == ["ready"]
    assert _stored_stats(kb) == _true_stats(kb)
    assert "delta" not in _stored_stats(kb)[0]
    knowledge_base_update(access=org_a.access, knowledge_base_id=kb.id, chunk_size=128)
    assert set(ingest_pending(kb)) == {"ready"}
    assert _stored_stats(kb) == _true_stats(kb)
    document_delete(access=org_a.access, knowledge_base_id=kb.id, document_id=kb.documents.get(name="one.md").id)
    assert _stored_stats(kb) == _true_stats(kb)
    assert "alpha" not in _stored_stats(kb)[0]


@pytest.mark.parametrize(
    ("language", "document", "query", "expect"),
    [
        ("german", "Die Häuser am Fluss wurden im Frühling gestrichen.", "Haus streichen", "Häuser"),
        ("french", "Les chevaux mangent de l'avoine chaque matin.", "cheval mange", "chevaux"),
        ("spanish", "Las ciudades costeras reciben turistas en verano.", "ciudad costera", "ciudades"),
        ("portuguese", "As bibliotecas públicas abrem aos domingos.", "biblioteca pública", "bibliotecas"),
        ("chinese", "本系统支持机器学习模型的在线部署与监控。", "机器学习部署", "机器学习"),
        ("vietnamese", "Thư viện mở cửa vào sáng thứ bảy hàng tuần.", "thư viện thứ bảy", "Thư viện"),
    ],
)
def test_keyword_language_stemming_and_tokenisation(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], language: str, document: str, query: str, expect: str
) -> None:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=0, language=language)
    _upload(org_a, kb, {"target.txt": document, "other.txt": "Lorem ipsum dolor sit amet 12345."})
    hits = knowledge_search(knowledge_base=kb, query=query, k=3, mode="keyword").hits
    assert hits and hits[0].document_name == "target.txt" and expect in hits[0].text
    assert len(hits) == 1  # the other document shares no term


NAVIGATION_HTML = """<!doctype html><html><head><title>Harbour guide</title></head><body>
<header class="site-header"><a href="/">Home</a> <a href="/about">About the ferries</a></header>
<nav><ul><li><a href="/prev">Previous: Ferries to the islands</a></li>
<li><a href="/next">Next: Harbour fees and ferries</a></li></ul></nav>
<div class="document"><div class="sphinxsidebar" role="navigation"><h3>Contents</h3><ul>
<li><a href="#fees">Fees</a></li><li><a href="#berths">Berths</a></li><li><a href="#ferries">Ferries</a></li></ul></div>
<main><h1 id="harbour">Harbour<a class="headerlink" href="#harbour">¶</a></h1>
<p>The harbour master assigns berths every morning at six.</p>
<section id="fees"><h2>Fees</h2><p>Mooring is charged per metre of hull.</p>
<table><thead><tr><th>Boat</th><th>Per night</th></tr></thead>
<tr><td>Dinghy</td><td>4 crowns</td></tr><tr><td>Schooner</td><td>19 crowns</td></tr></table></section>
</main><footer>Ferries to the islands leave from pier nine. Copyright 2026.</footer></div></body></html>"""


def test_html_structure_citations_and_noise(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=0, chunk_strategy="markdown")
    _upload(org_a, kb, {"harbour.html": NAVIGATION_HTML})
    document = kb.documents.get()
    assert document.title == "Harbour guide"
    text = " ".join(Chunk.objects.filter(knowledge_base=kb).values_list("text", flat=True))
    for noise in ("Previous:", "Next:", "About the ferries", "Copyright", "¶", "Contents", "pier nine"):
        assert noise not in text, noise
    assert "Dinghy | 4 crowns" in text and "Boat | Per night" in text
    hits = knowledge_search(knowledge_base=kb, query="What does a schooner pay per night?", k=1, mode="hybrid").hits
    assert hits[0].heading_path == ["Harbour", "Fees"]
    assert hits[0].anchor == "fees"
    assert hits[0].title == "Harbour guide"
    assert "Schooner | 19 crowns" in hits[0].passage and "Boat | Per night\n" in hits[0].passage
    # no chunk answers for words only the navigation or the footer held
    assert knowledge_search(knowledge_base=kb, query="ferries islands pier", k=3, mode="keyword").hits == []


def test_search_api_returns_citation_fields_and_refuses_bad_weights(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=0, chunk_strategy="markdown")
    _upload(org_a, kb, {"harbour.html": NAVIGATION_HTML})
    url = f"/api/v1/orgs/{org_a.organization.id}/knowledge-bases/{kb.id}/search/"
    client = org_a.client()
    body: dict[str, Any] = {"query": "mooring fee per metre", "mode": "hybrid", "k": 2, "keyword_weight": 2}
    response = client.post(url, body, format="json")
    assert response.status_code == 200, response.json()
    top = response.json()["hits"][0]
    assert top["anchor"] == "fees" and top["title"] == "Harbour guide" and "Mooring" in top["passage"]
    for bad in ({"vector_weight": -1}, {"depth": 0}, {"keyword_weight": "many"}):
        response = client.post(url, {"query": "fees", **bad}, format="json")
        assert response.status_code == 400 and response.json()["code"], bad
