"""What the guard node types share: a verdict onto ports, and the hits into the node's trace."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import Field

from flows.guards.policy import DEFAULT_BLOCK_MESSAGE, GuardPolicy, Hit, Models, Stage, Verdict, guard_text
from flows.ports import Ports
from flows.registry import NodeContext, Port
from flows.types import PortType

TEXT_PORTS = {
    "text": Port(PortType.TEXT, description="The text that passed, redacted where a check says so"),
    "blocked": Port(PortType.TEXT, required=False, description="The block message, when a check blocks"),
    "flagged": Port(PortType.TEXT, required=False, description="The text, when a check routes it here"),
}


def block_message_field() -> Any:
    return Field(default=DEFAULT_BLOCK_MESSAGE, max_length=1000, description="What a blocked run answers")


async def guard_checked(policy: GuardPolicy, text: str, *, stage: Stage, ports: Ports) -> Verdict:
    """`guard_text` with the run's model-based checks; off the event loop when the policy asks a
    model (the classifier embeds, a moderation model is called)."""
    models = Models(classify=ports.guard_classify, moderate=ports.guard_moderate)
    uses_models = (policy.injection.enabled and policy.injection.classifier) or policy.moderation.enabled
    if not uses_models:
        return guard_text(policy, text, stage=stage, source="user")
    return await asyncio.to_thread(guard_text, policy, text, stage=stage, source="user", models=models)


def text_outputs(verdict: Verdict, original: str) -> dict[str, Any]:
    """Exactly one port carries a value (like a branch): the executor skips what hangs off the others."""
    if verdict.action == "block":
        return {"blocked": verdict.message}
    if verdict.action == "route":
        return {"flagged": original}
    return {"text": verdict.text}


def record(ctx: NodeContext, hits: list[Hit]) -> None:
    """The hits go into node.finished `notes` (the run's trace); the matched text never does."""
    note: Callable[[str, Any], None] | None = getattr(ctx, "note", None)
    if hits and note is not None:
        note("guard_hits", [hit.to_dict() for hit in hits])
