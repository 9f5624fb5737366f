from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows.ports import Ports
from flows.query_rewrite import fused, rewritten
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_text


class RetrieveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    knowledge_base: UUID = Field(json_schema_extra={"format": "knowledge-base"})
    top_k: int = Field(default=4, ge=1, le=50)
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    score_threshold: float | None = Field(default=None, ge=0, le=1)
    # A cross-encoder behind one of the organization's model endpoints (its /rerank API): the
    # best rerank_top_n results are rescored and the best top_k of them kept.
    rerank_model: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "model-alias"})
    rerank_top_n: int = Field(default=20, ge=1, le=100)
    # More queries written by a chat model (flows/query_rewrite.py): multi_query asks for
    # rewrite_queries other phrasings, hyde for a passage that would answer; the lists are fused.
    query_rewrite: Literal["none", "multi_query", "hyde"] = "none"
    rewrite_model: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "model-alias"})
    rewrite_queries: int = Field(default=3, ge=1, le=5)

    @model_validator(mode="after")
    def _rewrite_needs_a_model(self) -> RetrieveConfig:
        if self.query_rewrite != "none" and not self.rewrite_model:
            raise ValueError("query rewriting needs a rewrite_model")
        return self


@register
class RetrieveNode(NodeType[RetrieveConfig]):
    type, version = "retrieve", 1
    title = "Retrieve"
    description = "Searches a knowledge base and returns the best chunks with citations."
    category, icon = "knowledge", "search"
    config_model = RetrieveConfig
    inputs = {"query": Port(PortType.TEXT, description="What to search for")}
    outputs = {"documents": Port(PortType.DOCUMENTS, description="Ranked chunks with citation metadata")}

    async def run(
        self, config: RetrieveConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        rerank: dict[str, Any] = (
            {"rerank": config.rerank_model, "rerank_top_n": config.rerank_top_n} if config.rerank_model else {}
        )
        question = to_text(inputs["query"])
        queries = [question]
        if config.query_rewrite != "none" and config.rewrite_model:
            queries += await rewritten(
                ports,
                strategy=config.query_rewrite,
                model=config.rewrite_model,
                question=question,
                n=config.rewrite_queries,
            )
        lists = [
            await ports.retrievers.retrieve(
                config.knowledge_base,
                query,
                k=config.top_k,
                mode=config.mode,
                score_threshold=config.score_threshold,
                **rerank,
            )
            for query in queries
        ]
        documents = lists[0] if len(lists) == 1 else fused(lists, queries, config.top_k)
        return {"documents": documents}
