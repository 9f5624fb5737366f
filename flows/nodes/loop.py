"""Loop: runs its body (the nodes fed by its `item`) once per element of a list, a few at a time,
and collects what comes back on its `result` input, in the list's order.

The body is drawn on the canvas: `item` -> ... -> `result` is the one cycle a flow may hold
(flows/loops.py checks the body). One item failing is reported per item (`errors`); whether that
fails the loop is the node's choice (`on_item_error`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flows.errors import NodeFailed
from flows.loops import BodyFailed
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_json


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concurrency: int = Field(default=4, ge=1, le=16, description="Items that run through the body at the same time")
    max_items: int = Field(default=100, ge=1, le=1000, description="A longer list fails the node")
    on_item_error: Literal["fail", "continue", "drop"] = Field(
        default="fail",
        description="fail: the loop fails; continue: that item's result is null; drop: it is left out",
    )


def _items(value: Any) -> list[Any]:
    value = to_json(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise NodeFailed(
                    "The loop's items look like JSON but do not parse.", code="loop_items_invalid"
                ) from None
        else:  # text: one item per non-empty line
            value = [line for line in text.splitlines() if line.strip()]
    if isinstance(value, dict):
        value = [{"key": key, "value": item} for key, item in value.items()]
    if not isinstance(value, list):
        raise NodeFailed(
            "The loop needs a list (JSON array, or text with one item per line).", code="loop_items_invalid"
        )
    return value


@register
class LoopNode(NodeType[LoopConfig]):
    type, version = "loop", 1
    title = "Loop"
    description = "Runs the nodes connected to 'item' once per element of a list and collects their results."
    category, icon = "logic", "repeat"
    config_model = LoopConfig
    inputs = {
        "items": Port(PortType.JSON, description="The list to go over"),
        "result": Port(PortType.ANY, required=False, description="Connect the body's last node here"),
    }
    outputs = {
        "item": Port(PortType.ANY, description="The current element (starts the body)"),
        "index": Port(PortType.JSON, description="The current element's position, from 0"),
        "results": Port(PortType.JSON, description="Every element's result, in order (after the loop)"),
        "errors": Port(PortType.JSON, description="The elements that failed: index, code, message"),
    }
    body_ports = frozenset({"item", "index"})
    return_ports = frozenset({"result"})

    async def run(self, config: LoopConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        if ctx.run_body is None:
            raise NodeFailed("The loop has no body.", code="loop_no_body")
        run_body = ctx.run_body
        items = _items(inputs.get("items"))
        if len(items) > config.max_items:
            raise NodeFailed(
                f"The list has {len(items)} items, more than this loop's limit of {config.max_items}: "
                "raise Max items or shorten the list.",
                code="loop_too_many_items",
            )
        gate = asyncio.Semaphore(config.concurrency)
        results: list[Any] = [None] * len(items)
        failed: dict[int, BodyFailed] = {}
        stop = asyncio.Event()  # on_item_error=fail: items not yet started do not start
        running = {"now": 0, "most": 0}

        async def one(index: int, item: Any) -> None:
            async with gate:
                if stop.is_set():
                    return
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
                try:
                    results[index] = await run_body(item, index)
                except BodyFailed as failure:
                    failed[index] = failure
                    if config.on_item_error == "fail":
                        stop.set()
                finally:
                    running["now"] -= 1

        await asyncio.gather(*(one(index, item) for index, item in enumerate(items)))
        errors = [
            {"index": index, "node": failure.node, "code": failure.code, "message": failure.message}
            for index, failure in sorted(failed.items())
        ]
        ctx.note("loop", {"items": len(items), "failed": len(errors), "most_at_once": running["most"]})
        if errors and config.on_item_error == "fail":
            first = errors[0]
            raise NodeFailed(
                f"Item {first['index']} failed at {first['node']}: {first['message']}", code="loop_item_failed"
            )
        if config.on_item_error == "drop":
            results = [result for index, result in enumerate(results) if index not in failed]
        return {"results": [to_json(result) for result in results], "errors": errors}
