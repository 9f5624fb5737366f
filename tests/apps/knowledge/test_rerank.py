"""The reranking stage against a stand-in cross-encoder server (a real HTTP server speaking the
/v1/rerank API that vLLM and Cohere-compatible servers share), through the outbound policy."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.knowledge.adapters import KnowledgeRetrievers
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.rerank import RerankFailed
from apps.knowledge.search import knowledge_search
from apps.knowledge.services import document_upload
from apps.serving.models import ModelEndpoint
from flows.errors import FlowError
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member
from tests.support.egress import allow_egress

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS = {
    f"boats-{i}.md": f"# Boats {i}\n\nBoat number {i} is moored in the harbour. Boats pay fees per night. {word}"
    for i, word in enumerate(["Sloop.", "Ketch.", "Dinghy.", "Schooner with two masts.", "Yawl."])
}


class StandIn:
    """Scores a passage 0.9 when it holds the query's last word, else 0.1 (the opposite of what a
    fused ranking that weighs 'boats' and 'harbour' prefers); `fail` answers HTTP 500."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append({"path": self.path, **body})
                if stand_in.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                word = body["query"].lower().split()[-1].strip("?")
                results = [
                    {"index": i, "relevance_score": 0.9 if word in doc.lower() else 0.1}
                    for i, doc in enumerate(body["documents"])
                ]
                payload = json.dumps({"results": sorted(results, key=lambda r: -r["relevance_score"])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        allow_egress(self.url)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def boats(org_a: Member, make_kb: Callable[..., KnowledgeBase], stand_in: StandIn) -> KnowledgeBase:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=0)
    document_upload(
        access=org_a.access,
        knowledge_base_id=kb.id,
        files=[files.upload(name, text.encode()) for name, text in DOCUMENTS.items()],
    )
    assert set(ingest_pending(kb)) == {"ready"}
    ModelEndpoint.objects.create(
        organization=org_a.organization,
        alias="cross-encoder",
        name="Stand-in cross-encoder",
        kind="chat",
        base_url=f"{stand_in.url}/v1",
        model="bge-reranker-stand-in",
    )
    return kb


def test_rerank_reorders_top_n_and_reports_scores(boats: KnowledgeBase, stand_in: StandIn) -> None:
    query = "Which boats in the harbour pay fees, the schooner?"
    plain = knowledge_search(knowledge_base=boats, query=query, k=5, mode="hybrid")
    reranked = knowledge_search(
        knowledge_base=boats, query=query, k=2, mode="hybrid", rerank="cross-encoder", rerank_top_n=5
    )
    assert len(reranked.hits) == 2
    assert reranked.hits[0].document_name == "boats-3.md"
    assert reranked.hits[0].rerank_score == pytest.approx(0.9)
    assert reranked.hits[1].rerank_score == pytest.approx(0.1)
    assert plain.hits[0].rerank_score is None
    (request,) = stand_in.requests
    assert request["path"] == "/v1/rerank" and request["model"] == "bge-reranker-stand-in"
    assert request["query"] == query and request["top_n"] == 5 and len(request["documents"]) == 5
    assert all(doc.startswith(("boats-", "Boats")) for doc in request["documents"])


def test_rerank_errors_answer_codes(org_a: Member, boats: KnowledgeBase, stand_in: StandIn) -> None:
    url = f"/api/v1/orgs/{org_a.organization.id}/knowledge-bases/{boats.id}/search/"
    client = org_a.client()
    response = client.post(url, {"query": "schooner", "rerank": "nobody"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_rerank_model"
    response = client.post(url, {"query": "schooner", "rerank": "cross-encoder", "rerank_top_n": 0}, format="json")
    assert response.status_code == 400
    response = client.post(url, {"query": "schooner", "rerank": "cross-encoder", "k": 1}, format="json")
    assert response.status_code == 200 and response.json()["hits"][0]["rerank_score"] == pytest.approx(0.9)
    stand_in.fail = True
    response = client.post(url, {"query": "schooner", "rerank": "cross-encoder"}, format="json")
    assert response.status_code == 502 and response.json()["code"] == "rerank_failed"
    with pytest.raises(RerankFailed):
        knowledge_search(knowledge_base=boats, query="schooner", k=1, rerank="cross-encoder")


def test_retrieve_port_reranks_and_puts_scores_in_citations(
    org_a: Member, boats: KnowledgeBase, stand_in: StandIn
) -> None:
    retrievers = KnowledgeRetrievers(org_a.organization.id)
    documents = retrievers._retrieve(boats.id, "boats harbour fees yawl", 1, "hybrid", None, "cross-encoder", 5)
    assert documents[0].metadata["document_name"] == "boats-4.md"
    assert documents[0].metadata["rerank_score"] == pytest.approx(0.9)
    assert documents[0].metadata["passage"]
    with pytest.raises(FlowError) as failed:
        retrievers._retrieve(boats.id, "yawl", 1, "hybrid", None, "missing-model", 5)
    assert failed.value.code == "unknown_rerank_model"
