"""Input guard: personal data, prompt injection and content checks on the user's text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.guards.nodes import TEXT_PORTS, block_message_field, guard_checked, record, text_outputs
from flows.guards.policy import ContentCheck, GuardPolicy, InjectionCheck, ModerationCheck, OutputCheck, PiiCheck
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_text


class InputGuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pii: PiiCheck = Field(default_factory=PiiCheck)
    injection: InjectionCheck = Field(default_factory=InjectionCheck)
    content: ContentCheck = Field(default_factory=ContentCheck)
    moderation: ModerationCheck = Field(default_factory=ModerationCheck)
    block_message: str = block_message_field()
    dry_run: bool = Field(default=False, description="Only record what would happen")

    def policy(self) -> GuardPolicy:
        return GuardPolicy(
            pii=self.pii,
            injection=self.injection,
            content=self.content,
            moderation=self.moderation,
            output=OutputCheck(enabled=False),
            block_message=self.block_message,
            dry_run=self.dry_run,
        )


@register
class InputGuardNode(NodeType[InputGuardConfig]):
    type, version = "input_guard", 1
    title = "Input guard"
    description = "Redacts personal data and stops prompt injection or unwanted content in the user's text."
    category, icon = "guard", "shield"
    config_model = InputGuardConfig
    inputs = {"text": Port(PortType.TEXT, description="The user's text")}
    outputs = TEXT_PORTS

    async def run(
        self, config: InputGuardConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        text = to_text(inputs["text"])
        verdict = await guard_checked(config.policy(), text, stage="input", ports=ports)
        record(ctx, verdict.hits)
        return text_outputs(verdict, text)
