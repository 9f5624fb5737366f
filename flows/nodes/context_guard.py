"""Context guard: indirect prompt injection in retrieved chunks (or tool results) before they
reach a prompt; the chunk's source is recorded with each hit."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field

from flows.guards.injection import scan_injection
from flows.guards.nodes import record
from flows.guards.pii import ALL_ENTITIES, scan_pii
from flows.guards.policy import Hit
from flows.guards.redact import redact
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_documents


class ContextGuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(default=0.5, ge=0, le=1, description="Injection score from which a chunk is caught")
    action: Literal["drop", "flag"] = Field(default="drop", description="drop: the chunk never reaches the prompt")
    redact_pii: bool = Field(default=False, description="Replace personal data in chunks with placeholders")
    pii_entities: list[str] = Field(default_factory=lambda: list(ALL_ENTITIES))
    dry_run: bool = Field(default=False, description="Only record what would happen")


def _source(document: Document, index: int) -> str:
    meta = document.metadata or {}
    for key in ("document", "source", "document_id", "title", "id"):
        if meta.get(key):
            return f"document:{meta[key]}"
    return f"document:#{index}"


@register
class ContextGuardNode(NodeType[ContextGuardConfig]):
    type, version = "context_guard", 1
    title = "Context guard"
    description = "Drops retrieved chunks that carry instructions for the model (indirect prompt injection)."
    category, icon = "guard", "shield-alert"
    config_model = ContextGuardConfig
    inputs = {"documents": Port(PortType.DOCUMENTS, description="Retrieved chunks or tool results")}
    outputs = {
        "documents": Port(PortType.DOCUMENTS, description="The chunks that passed"),
        "flagged": Port(PortType.DOCUMENTS, required=False, description="The chunks that were caught"),
    }

    async def run(
        self, config: ContextGuardConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        kept: list[Document] = []
        caught: list[Document] = []
        hits: list[Hit] = []
        for index, original in enumerate(to_documents(inputs["documents"])):
            document = original
            source = _source(document, index)
            result = scan_injection(document.page_content, source="document")
            if result.score >= config.threshold and result.findings:
                action = "flag" if config.dry_run or config.action == "flag" else "block"
                label = max(result.findings, key=lambda f: f.score).label
                start = min(f.start for f in result.findings)
                end = max(f.end for f in result.findings)
                intended = "block" if config.dry_run and config.action == "drop" else ""
                hits.append(Hit("injection", label, action, result.score, start, end, intended, source))
                if action == "block":
                    caught.append(document)
                    continue
            if config.redact_pii:
                found = scan_pii(document.page_content, entities=config.pii_entities)
                if found:
                    action = "flag" if config.dry_run else "redact"
                    hits.extend(Hit("pii", f.label, action, f.score, f.start, f.end, source=source) for f in found)
                    if not config.dry_run:
                        content = redact(document.page_content, found).text
                        document = Document(page_content=content, metadata=dict(document.metadata))
            kept.append(document)
        record(ctx, hits)
        outputs: dict[str, Any] = {"documents": kept}
        if caught:
            outputs["flagged"] = caught
        return outputs
