from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import citations, to_documents, to_json, to_text


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="output", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$", description="Key in the run result")
    format: Literal["text", "json"] = "text"


@register
class OutputNode(NodeType[OutputConfig]):
    type, version = "output", 1
    title = "Output"
    description = "What the run answers. Sources wired in are returned as citations."
    category, icon = "output", "flag"
    config_model = OutputConfig
    inputs = {
        "value": Port(PortType.ANY, description="The answer"),
        "sources": Port(PortType.DOCUMENTS, required=False, description="Documents to cite"),
    }
    outputs = {"result": Port(PortType.JSON)}
    terminal = True

    async def run(self, config: OutputConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        value = inputs.get("value")
        rendered = to_text(value) if config.format == "text" else to_json(value)
        result: dict[str, Any] = {"name": config.name, "value": rendered}
        sources = to_documents(inputs.get("sources"))
        if sources:
            result["citations"] = citations(sources)
        return {"result": result}
