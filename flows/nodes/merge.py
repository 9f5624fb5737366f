from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType


class MergeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register
class MergeNode(NodeType[MergeConfig]):
    """Joins the routes of a branch: passes on whichever input arrived (the first, if both)."""

    type, version = "merge", 1
    title = "Merge"
    description = "Joins branch routes again: passes on whichever input was produced."
    category, icon = "logic", "git-merge"
    config_model = MergeConfig
    inputs = {"a": Port(PortType.ANY, required=False), "b": Port(PortType.ANY, required=False)}
    outputs = {"value": Port(PortType.ANY)}

    async def run(self, config: MergeConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        return {"value": inputs["a"] if "a" in inputs else inputs.get("b")}
