from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from flows.context import REFIT_KEY
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.templating import render, variables
from flows.types import PortType
from flows.values import to_text


class PromptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(
        min_length=1,
        max_length=50_000,
        description="The user message; {{name}} inserts the input port 'name'",
        json_schema_extra={"format": "prompt"},
    )
    system: str = Field(
        default="",
        max_length=50_000,
        description="Optional system message; may use {{variables}} too",
        json_schema_extra={"format": "prompt"},
    )


@register
class PromptNode(NodeType[PromptConfig]):
    type, version = "prompt", 1
    title = "Prompt template"
    description = "Fills {{variables}} from upstream outputs into a prompt (and an optional system message)."
    category, icon = "prompt", "file-text"
    config_model = PromptConfig
    outputs = {
        "text": Port(PortType.TEXT, description="The rendered user message"),
        "messages": Port(PortType.MESSAGES, description="System + user messages for an LLM"),
    }

    def input_ports(self, config: PromptConfig) -> dict[str, Port]:
        names = variables(config.system) + [v for v in variables(config.template) if v not in variables(config.system)]
        return {name: Port(PortType.ANY, description=f"Fills {{{{{name}}}}}") for name in names}

    async def run(self, config: PromptConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        messages = _messages(config, inputs)
        documents = next((name for name, value in inputs.items() if _is_documents(value)), None)
        if documents is not None:
            # Retrieved documents rendered into the prompt: the LLM node may render it again with
            # fewer of them to fit its model's context window (flows/context.py).
            def rerender(kept: list[Document]) -> list[BaseMessage]:
                return _messages(config, {**inputs, documents: kept if kept else ""})

            messages[-1].additional_kwargs[REFIT_KEY] = (list(inputs[documents]), rerender)
        return {"text": str(messages[-1].content), "messages": messages}


def _is_documents(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Document) for v in value)


def _messages(config: PromptConfig, inputs: dict[str, Any]) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    if config.system:
        messages.append(SystemMessage(content=render(config.system, inputs, to_text)))
    messages.append(HumanMessage(content=render(config.template, inputs, to_text)))
    return messages
