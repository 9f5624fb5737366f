"""FlowSpec: the stored JSON of a flow graph (what the editor saves and versions freeze)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

NODE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_NODES = 2000
MAX_EDGES = 8000


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: float = 0
    y: float = 0


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=NODE_ID)
    type: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=1)
    position: Position = Field(default_factory=Position)
    label: str | None = Field(default=None, max_length=120)
    config: dict[str, Any] = Field(default_factory=dict)


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=NODE_ID)
    source: str
    source_port: str
    target: str
    target_port: str


class FlowCache(BaseModel):
    """The flow's response-cache default for its LLM nodes (a node may set its own; without
    either, the model endpoint's setting applies). Frozen with each version like the graph."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["off", "exact", "semantic"] = "off"
    ttl_s: int | None = Field(default=None, ge=1, le=30 * 86_400)
    threshold: float | None = Field(default=None, ge=0.5, le=1)
    any_temperature: bool = False


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cache: FlowCache | None = None


class FlowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[NodeSpec] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[EdgeSpec] = Field(default_factory=list, max_length=MAX_EDGES)
    settings: FlowSettings = Field(default_factory=FlowSettings)

    @model_serializer(mode="wrap")
    def _without_empty_settings(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A graph without flow settings is stored (and exported) as before: nodes and edges."""
        data: dict[str, Any] = handler(self)
        if self.settings.cache is None:
            data.pop("settings", None)
        return data

    def node(self, node_id: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.id == node_id), None)
