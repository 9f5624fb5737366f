"""FlowSpec: the stored JSON of a flow graph (what the editor saves and versions freeze)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class FlowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[NodeSpec] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[EdgeSpec] = Field(default_factory=list, max_length=MAX_EDGES)

    def node(self, node_id: str) -> NodeSpec | None:
        return next((n for n in self.nodes if n.id == node_id), None)
