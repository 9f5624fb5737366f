from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType


class ChatInputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    placeholder: str = Field(default="Ask a question…", max_length=200)
    max_length: int = Field(default=8000, ge=1, le=100_000, description="Longest message accepted, in characters")


@register
class ChatInputNode(NodeType[ChatInputConfig]):
    type, version = "chat_input", 1
    title = "Chat input"
    description = "The user's message: where a chat run starts."
    category, icon = "input", "message-circle"
    config_model = ChatInputConfig
    outputs = {
        "message": Port(PortType.TEXT, description="The user's message"),
        "system": Port(
            PortType.TEXT, description="The caller's system message (OpenAI-compatible clients); empty otherwise"
        ),
    }
    entry = True

    async def run(
        self, config: ChatInputConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        message = str(ctx.run_inputs.get("message", ""))
        if len(message) > config.max_length:
            raise ValueError(f"The message is longer than {config.max_length} characters.")
        return {"message": message, "system": str(ctx.run_inputs.get("system") or "")}
