"""Sub-flow: runs another flow's published version as one node (or as an agent's tool).

The app loads the published graphs a run may call before it starts (`Ports.subflows`); the
engine compiles one when the node runs. Its chat input takes this node's `message`; each of its
output nodes named in the config is an output port here (text or JSON, as that output node
gives it). Its nodes' events come through as steps of this node (`summary/llm`).

Recursion is guarded twice: a flow already on the chain of calls (A -> B -> A) is refused, and
so is a chain deeper than MAX_DEPTH.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.errors import FlowInvalid, NodeFailed
from flows.events import Event, EventType
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, child_span_id, register
from flows.types import PortType
from flows.values import to_text

MAX_DEPTH = 4
CHAIN_KEY = "subflow_chain"  # Ports.settings: the flow ids from the run's own flow down to this one
OUTPUT_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,40}$"


class SubflowOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=OUTPUT_NAME, description="The name of one of its output nodes")
    format: Literal["text", "json"] = "text"


class SubflowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(
        min_length=1, max_length=64, json_schema_extra={"format": "flow-ref"}, description="A published flow"
    )
    outputs: list[SubflowOutput] = Field(
        default_factory=lambda: [SubflowOutput(name="output")],
        max_length=20,
        description="Its output nodes, each an output of this node",
    )

    @field_validator("outputs")
    @classmethod
    def _unique(cls, outputs: list[SubflowOutput]) -> list[SubflowOutput]:
        names = [o.name for o in outputs]
        if len(names) != len(set(names)) or "outputs" in names:
            raise ValueError("Output names must be unique (and not 'outputs').")
        return outputs


async def run_subflow(
    flow_id: str, message: str, ports: Ports, ctx: NodeContext, *, span: str, stream: bool
) -> dict[str, Any]:
    """Runs the published flow `flow_id` with `message`; its outputs by name. Its node events are
    steps of `ctx`'s node under `span`; tokens come through only with `stream`."""
    chain = [str(f) for f in ports.settings.get(CHAIN_KEY, [])]
    if flow_id in chain:
        raise NodeFailed(
            "This flow calls itself through its sub-flows (a flow cannot call a flow that is already running it).",
            code="subflow_recursion",
        )
    if len(chain) >= MAX_DEPTH:
        raise NodeFailed(f"Sub-flows are nested deeper than {MAX_DEPTH} levels.", code="subflow_too_deep")
    found = ports.subflows.get(flow_id)
    if found is None:
        raise NodeFailed(
            "The sub-flow has no published version here: publish it, or pick another flow.", code="subflow_not_found"
        )
    child_ports = dataclasses.replace(ports, settings={**ports.settings, CHAIN_KEY: [*chain, flow_id]})
    if ctx.compile_graph is None:
        raise NodeFailed("Sub-flows run inside the flow executor.", code="subflow_failed")
    try:
        compiled = ctx.compile_graph(found.graph, child_ports)
    except FlowInvalid as exc:
        raise NodeFailed(
            f"The published version of “{found.name}” does not validate: {exc.message}", code="subflow_invalid"
        ) from None
    result: dict[str, Any] = {}

    def forward(event: Event) -> None:
        if event.type == EventType.RUN_FINISHED:
            result["outputs"] = event.data.get("outputs", {})
            for model, usage in event.data.get("usage", {}).get("by_model", {}).items():
                ctx.usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0), model)
        elif event.type == EventType.RUN_FAILED:
            result["failed"] = event.data
        elif event.node is not None:
            step = child_span_id(span, event.node)
            if event.type == EventType.TOKEN:
                if stream:
                    ctx.token_as(step, str(event.data.get("text", "")))
            else:
                ctx.span(str(event.type), step, event.data)

    await compiled.execute({"message": message}, sink=forward, session=None)
    if "failed" in result:
        failed = result["failed"]
        raise NodeFailed(
            f"The sub-flow “{found.name}” failed: {failed.get('message', '')}",
            code=failed.get("code", "subflow_failed"),
        )
    outputs: dict[str, Any] = result.get("outputs", {})
    return outputs


@register
class SubflowNode(NodeType[SubflowConfig]):
    type, version = "subflow", 1
    title = "Sub-flow"
    description = "Runs another flow's published version with a message and returns its outputs."
    category, icon = "logic", "workflow"
    config_model = SubflowConfig
    inputs = {"message": Port(PortType.TEXT, description="Its chat input's message")}
    outputs = {"outputs": Port(PortType.JSON, description="All its outputs by name")}

    def output_ports(self, config: SubflowConfig) -> dict[str, Port]:
        ports = {
            o.name: Port(PortType.TEXT if o.format == "text" else PortType.JSON, description=f"Its output “{o.name}”")
            for o in config.outputs
        }
        return {**ports, **self.outputs}

    async def run(
        self, config: SubflowConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        outputs = await run_subflow(
            config.flow, to_text(inputs.get("message")), ports, ctx, span=ctx.node_id, stream=True
        )
        produced: dict[str, Any] = {"outputs": {name: out.get("value") for name, out in outputs.items()}}
        for wanted in config.outputs:
            if wanted.name in outputs:
                value = outputs[wanted.name].get("value")
                produced[wanted.name] = to_text(value) if wanted.format == "text" else value
        missing = [o.name for o in config.outputs if o.name not in outputs]
        if missing:
            ctx.note("missing_outputs", missing)  # a branch of the sub-flow not taken, or a renamed output
        return produced


def referenced_flows(graph: dict[str, Any]) -> set[str]:
    """The flow ids a graph may call (sub-flow nodes, agents' sub-flow tools): what the app loads."""
    found: set[str] = set()
    for node in graph.get("nodes", []) if isinstance(graph, dict) else []:
        if not isinstance(node, dict):
            continue
        config = node.get("config") or {}
        if node.get("type") == "subflow" and isinstance(config.get("flow"), str):
            found.add(config["flow"])
        if node.get("type") == "agent":
            for tool in config.get("subflows") or []:
                if isinstance(tool, dict) and isinstance(tool.get("flow"), str):
                    found.add(tool["flow"])
    return found
