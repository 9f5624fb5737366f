from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.templating import render, variables
from flows.tool_calls import tool_config
from flows.tools import checked_result, resolve_tool
from flows.types import PortType
from flows.values import to_text


class ToolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"format": "tool-name"},
        description="calculator, current_time, http_request, knowledge_search",
    )
    arguments: dict[str, str] = Field(
        default_factory=dict, description='Argument templates, e.g. {"expression": "{{question}}"}'
    )


@register
class ToolNode(NodeType[ToolConfig]):
    type, version = "tool", 1
    title = "Tool call"
    description = "Runs a named tool with arguments templated from upstream outputs."
    category, icon = "tools", "wrench"
    config_model = ToolConfig
    outputs = {"result": Port(PortType.TEXT, description="What the tool returned")}

    def input_ports(self, config: ToolConfig) -> dict[str, Port]:
        names: dict[str, None] = {}
        for template in config.arguments.values():
            names.update(dict.fromkeys(variables(template)))
        return {name: Port(PortType.ANY, description=f"Fills {{{{{name}}}}}") for name in names}

    async def run(self, config: ToolConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        tool = resolve_tool(config.tool, ports)
        arguments = {key: render(template, inputs, to_text) for key, template in config.arguments.items()}
        result = str(await tool.ainvoke(arguments, config=tool_config(ctx)))
        return {"result": await checked_result(ports, config.tool, result)}
