"""A reranking stage: a cross-encoder served by one of the organization's model endpoints,
through the rerank API that vLLM (`/v1/rerank`, the score API's rerank form), Infinity, TEI's
OpenAI-style routers, Jina and Cohere-compatible servers share:

    POST {base_url}/rerank {"model", "query", "documents": [...], "top_n"}
    -> {"results": [{"index": i, "relevance_score": s}, ...]}

The call goes through the instance's outbound policy like the embedding endpoints. Failures say
a code (rerank_failed, egress_refused) and a generic message; the server's answer is logged only.
"""

from __future__ import annotations

import json
import logging

from apps.config.crypto import decrypt
from apps.config.errors import InvalidInput, TrellisError
from apps.tenancy.models import Organization
from flows.errors import EgressRefused

logger = logging.getLogger(__name__)
MAX_RERANK_DOCUMENTS = 100


class RerankFailed(TrellisError):
    status, code = 502, "rerank_failed"


class EndpointReranker:
    def __init__(self, *, name: str, base_url: str, model: str, api_key: str, timeout: float) -> None:
        self.name, self.base_url, self.model, self.api_key, self.timeout = name, base_url, model, api_key, timeout

    def scores(self, query: str, texts: list[str]) -> list[float]:
        """The relevance of each text to the query, in the texts' order."""
        if not texts:
            return []
        from apps.serving.egress import EgressPolicy, vetted_post_sync

        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key or 'none'}"}
        payload = {"model": self.model, "query": query, "documents": texts, "top_n": len(texts)}
        try:
            status, body = vetted_post_sync(
                self.base_url.rstrip("/") + "/rerank",
                body=json.dumps(payload).encode(),
                headers=headers,
                timeout=self.timeout,
                policy=EgressPolicy(),
            )
        except EgressRefused as refused:
            logger.warning("rerank endpoint %r: %s", self.name, refused.message)
            if refused.code == "egress_refused":
                raise InvalidInput(
                    f"The rerank endpoint {self.name!r} is refused: {refused.message}", code="egress_refused"
                ) from None
            raise RerankFailed(f"The rerank endpoint {self.name!r} cannot be reached.") from None
        if status >= 400:
            logger.warning("rerank endpoint %r answered HTTP %s: %.500r", self.name, status, body)
            raise RerankFailed(f"The rerank endpoint {self.name!r} answered HTTP {status}.")
        try:
            results = json.loads(body)["results"]
            scores: dict[int, float] = {}
            for item in results:
                score = item.get("relevance_score", item.get("score"))
                scores[int(item["index"])] = float(score)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("rerank endpoint %r sent an unreadable answer: %.500r", self.name, body)
            raise RerankFailed(f"The rerank endpoint {self.name!r} sent an unreadable answer.") from None
        if set(scores) != set(range(len(texts))):
            raise RerankFailed(f"The rerank endpoint {self.name!r} scored {len(scores)} of {len(texts)} passages.")
        return [scores[i] for i in range(len(texts))]


def reranker_for(*, organization: Organization, alias: str) -> EndpointReranker:
    """The organization's model endpoint with this alias, called as a reranker."""
    from apps.serving.models import ModelEndpoint

    endpoint = ModelEndpoint.objects.filter(organization=organization, alias=alias).first()
    if endpoint is None:
        raise InvalidInput(f"No model with the alias {alias!r} to rerank with.", code="unknown_rerank_model")
    return EndpointReranker(
        name=endpoint.alias,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else "",
        timeout=max(endpoint.first_token_timeout_s, 10.0),
    )
