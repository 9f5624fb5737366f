from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType


class MemoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    turns: int = Field(default=5, ge=1, le=50, description="How many past exchanges to recall")


@register
class MemoryNode(NodeType[MemoryConfig]):
    type, version = "memory", 1
    title = "Conversation memory"
    description = "The last N turns of this chat session, as messages for an LLM."
    category, icon = "input", "history"
    config_model = MemoryConfig
    outputs = {"history": Port(PortType.MESSAGES, description="Earlier messages, oldest first")}
    entry = True

    async def run(self, config: MemoryConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        return {"history": await ports.memory.history(ctx.session, config.turns)}
