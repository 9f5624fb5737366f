"""The loop node: a body drawn on the canvas, run per item with a concurrency limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from flows.compiler import compile_flow
from flows.events import Event, EventType
from flows.validate import validate
from tests.flows.graphs import graph
from tests.flows.memory_ports import ScriptedChatModel, make_ports


def _loop_flow(**loop: Any) -> dict[str, Any]:
    """in -> template (a JSON list from the message) -> loop { item -> prompt -> llm -> result } -> out."""
    return (
        graph()
        .node("in", "chat_input")
        .node("split", "template_transform", template="{{ message }}", output="json")
        .node("each", "loop", **loop)
        .node("ask", "prompt", template="Shout {{ item }} for {{ question }}")
        .node("llm", "llm", model="slow")
        .node("out", "output", format="json")
        .edge("in", "split", "message", "message")
        .edge("split", "each", "json", "items")
        .edge("each", "ask", "item", "item")
        .edge("in", "ask", "message", "question")
        .edge("ask", "llm", "messages", "prompt")
        .edge("llm", "each", "text", "result")
        .edge("each", "out", "results", "value")
        .spec
    )


class Gauge:
    def __init__(self) -> None:
        self.now = 0
        self.most = 0


def _slow_model(gauge: Gauge, fail_on: str | None = None) -> ScriptedChatModel:
    class Slow(ScriptedChatModel):
        async def _astream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
            gauge.now += 1
            gauge.most = max(gauge.most, gauge.now)
            try:
                await asyncio.sleep(0.02)
                if fail_on and fail_on in str(messages[-1].content):
                    raise ConnectionResetError("model server went away")
                async for chunk in super()._astream(messages, *args, **kwargs):
                    yield chunk
            finally:
                gauge.now -= 1

    return Slow(reply=lambda m: str(m[-1].content).upper())


async def _run(spec: dict[str, Any], message: Any, model: ScriptedChatModel) -> list[Event]:
    flow = compile_flow(spec, make_ports({"slow": model}))
    text = message if isinstance(message, str) else json.dumps(message)
    return [e async for e in flow.events({"message": text})]


async def test_loop_maps_body_over_items_in_order_within_concurrency() -> None:
    gauge = Gauge()
    items = [f"w{i}" for i in range(7)]
    events = await _run(_loop_flow(concurrency=2), items, _slow_model(gauge))
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    assert events[-1].data["outputs"]["output"]["value"] == [
        f"SHOUT W{i} FOR " + json.dumps(items).upper() for i in range(7)
    ]
    assert gauge.most == 2  # never more than the limit at once, and it did run two at once
    finished = {e.node for e in events if e.type == EventType.NODE_FINISHED}
    assert {"llm[0]", "llm[6]", "ask[3]"} <= finished  # each item's nodes are spans of their own
    assert not any(e.type == EventType.TOKEN for e in events)  # the items' tokens are not the answer
    notes = next(e.data["notes"] for e in events if e.type == EventType.NODE_FINISHED and e.node == "each")
    assert notes["loop"] == {"items": 7, "failed": 0, "most_at_once": 2}


async def test_loop_one_item_failing_is_reported_per_item_with_continue() -> None:
    events = await _run(_loop_flow(on_item_error="continue"), ["ok", "bad", "fine"], _slow_model(Gauge(), "Shout bad"))
    assert events[-1].type == EventType.RUN_FINISHED
    values = events[-1].data["outputs"]["output"]["value"]
    assert values[1] is None and values[0].startswith("SHOUT OK") and values[2].startswith("SHOUT FINE")
    failed = [e for e in events if e.type == EventType.NODE_FAILED]
    assert [e.node for e in failed] == ["llm[1]"] and "went away" in failed[0].data["message"]
    loop = next(e for e in events if e.type == EventType.NODE_FINISHED and e.node == "each")
    assert '"index": 1' in loop.data["outputs"]["errors"] and '"node": "llm[1]"' in loop.data["outputs"]["errors"]


async def test_loop_one_item_failing_fails_the_loop_by_default() -> None:
    events = await _run(_loop_flow(concurrency=1), ["ok", "bad", "later"], _slow_model(Gauge(), "Shout bad"))
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["code"] == "loop_item_failed" and events[-1].data["node"] == "each"
    assert "Item 1 failed at llm[1]" in events[-1].data["message"]
    assert not any(e.node == "llm[2]" for e in events)  # with one at a time, the item after it never started


async def test_loop_drop_leaves_failed_items_out() -> None:
    events = await _run(_loop_flow(on_item_error="drop"), ["ok", "bad"], _slow_model(Gauge(), "Shout bad"))
    assert len(events[-1].data["outputs"]["output"]["value"]) == 1


async def test_loop_refuses_a_list_over_its_limit() -> None:
    events = await _run(_loop_flow(max_items=2), ["a", "b", "c"], _slow_model(Gauge()))
    assert events[-1].data["code"] == "loop_too_many_items"


def test_loop_body_cycle_is_allowed_but_other_cycles_are_not() -> None:
    assert validate(_loop_flow()) == []
    spec = _loop_flow()
    spec["edges"].append({"id": "back", "source": "llm", "source_port": "text", "target": "ask", "target_port": "x"})
    spec["nodes"][3]["config"]["template"] = "{{ item }} {{ question }} {{ x }}"
    codes = {i.code for i in validate(spec)}
    assert "graph.cycle" in codes


def test_loop_body_must_not_leak_or_hold_an_output() -> None:
    spec = _loop_flow()
    spec["nodes"].append({"id": "peek", "type": "output", "config": {"name": "peek"}})
    spec["edges"].append(
        {"id": "leak", "source": "llm", "source_port": "text", "target": "peek", "target_port": "value"}
    )
    issues = validate(spec)
    assert {i.code for i in issues} >= {"loop.output_in_body"}
    spec = _loop_flow()
    spec["edges"] = [e for e in spec["edges"] if e["target_port"] != "result"]
    assert "loop.no_result" in {i.code for i in validate(spec)}
    spec = _loop_flow()
    spec["edges"] = [e for e in spec["edges"] if e["target_port"] != "result"]
    spec["edges"].append(
        {"id": "r", "source": "split", "source_port": "text", "target": "each", "target_port": "result"}
    )
    spec["nodes"][1]["config"]["output"] = "json"
    assert "loop.result_outside" in {i.code for i in validate(spec)}


def test_loop_node_fed_from_the_body_and_after_the_loop_is_a_leak() -> None:
    spec = _loop_flow()
    spec["nodes"].append({"id": "after", "type": "merge", "config": {}})
    spec["edges"].append({"id": "l1", "source": "llm", "source_port": "text", "target": "after", "target_port": "a"})
    spec["edges"].append(
        {"id": "l2", "source": "each", "source_port": "results", "target": "after", "target_port": "b"}
    )
    issues = [i for i in validate(spec) if i.code == "loop.body_leak"]
    assert [i.edge for i in issues] == ["l2"] and "once per item" in issues[0].message


@pytest.mark.parametrize("message", ["first\nsecond\n\nthird"])
async def test_loop_over_text_takes_one_item_per_line(message: str) -> None:
    spec = _loop_flow()
    spec["edges"] = [e for e in spec["edges"] if "split" not in (e["source"], e["target"])]
    spec["nodes"] = [n for n in spec["nodes"] if n["id"] != "split"]
    spec["edges"].append(
        {"id": "t", "source": "in", "source_port": "message", "target": "each", "target_port": "items"}
    )
    events = await _run(spec, message, _slow_model(Gauge()))
    assert len(events[-1].data["outputs"]["output"]["value"]) == 3


async def test_loop_nested_loops_map_a_list_of_lists() -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("parse", "template_transform", template="{{ message }}", output="json")
        .node("rows", "loop", concurrency=2)
        .node("cells", "loop", concurrency=3)
        .node("shape", "template_transform", template="{{ row_no }}:{{ cell|upper }}")
        .node("out", "output", format="json")
        .edge("in", "parse", "message", "message")
        .edge("parse", "rows", "json", "items")
        .edge("rows", "cells", "item", "items")
        .edge("rows", "shape", "index", "row_no")
        .edge("cells", "shape", "item", "cell")
        .edge("shape", "cells", "text", "result")
        .edge("cells", "rows", "results", "result")
        .edge("rows", "out", "results", "value")
        .spec
    )
    assert validate(spec) == []
    events = await _run(spec, [["a", "b"], ["c"]], _slow_model(Gauge()))
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    assert events[-1].data["outputs"]["output"]["value"] == [["0:A", "0:B"], ["1:C"]]
    assert "shape[1][0]" in {e.node for e in events if e.type == EventType.NODE_FINISHED}
