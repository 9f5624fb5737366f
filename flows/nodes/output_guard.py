"""Output guard: checks the model's answer (personal data, a leaked system prompt, links, schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.guards.nodes import TEXT_PORTS, block_message_field, guard_checked, record, text_outputs
from flows.guards.policy import ContentCheck, GuardPolicy, InjectionCheck, ModerationCheck, OutputCheck, PiiCheck
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_text


class OutputGuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pii: PiiCheck = Field(default_factory=PiiCheck)
    output: OutputCheck = Field(default_factory=OutputCheck)
    content: ContentCheck = Field(default_factory=ContentCheck)
    moderation: ModerationCheck = Field(default_factory=ModerationCheck)
    block_message: str = block_message_field()
    dry_run: bool = Field(default=False, description="Only record what would happen")

    def policy(self) -> GuardPolicy:
        return GuardPolicy(
            pii=self.pii,
            injection=InjectionCheck(enabled=False),
            content=self.content,
            moderation=self.moderation,
            output=self.output,
            block_message=self.block_message,
            dry_run=self.dry_run,
        )


@register
class OutputGuardNode(NodeType[OutputGuardConfig]):
    type, version = "output_guard", 1
    title = "Output guard"
    description = "Checks the answer before it is shown: personal data, a leaked system prompt, links, JSON schema."
    category, icon = "guard", "shield-check"
    config_model = OutputGuardConfig
    inputs = {"text": Port(PortType.TEXT, description="The model's answer")}
    outputs = TEXT_PORTS

    async def run(
        self, config: OutputGuardConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        text = to_text(inputs["text"])
        verdict = await guard_checked(config.policy(), text, stage="output", ports=ports)
        record(ctx, verdict.hits)
        return text_outputs(verdict, text)
