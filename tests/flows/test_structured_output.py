"""Structured output: a JSON Schema filled by the model, validated, retried once, a port per field."""

from __future__ import annotations

from typing import Any

import pytest

from flows.compiler import compile_flow
from flows.events import Event, EventType
from flows.validate import validate
from tests.flows.graphs import graph
from tests.flows.memory_ports import make_ports
from tests.flows.scripted_turns import Turn, TurnModel

SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": ["refund", "question"], "description": "What they want"},
        "amount": {"type": "number", "minimum": 0},
    },
    "required": ["intent"],
}


def _extract_then_branch(**config: Any) -> dict[str, Any]:
    """in -> extract -> branch on the intent field -> two prompts -> merge -> out."""
    return (
        graph()
        .node("in", "chat_input")
        .node("extract", "structured_output", model="m", json_schema=SCHEMA, **config)
        .node("route", "branch", routes=[{"id": "refund", "label": "Refund", "kind": "equals", "value": "refund"}])
        .node("refund", "prompt", template="REFUND of {{ amount }}{{ gate }}")
        .node("other", "prompt", template="OTHER {{ intent }}")
        .node("join", "merge")
        .node("out", "output")
        .edge("in", "extract", "message", "text")
        .edge("extract", "route", "intent", "input")
        .edge("route", "refund", "refund", "gate")
        .edge("extract", "refund", "amount", "amount")
        .edge("route", "other", "default", "intent")
        .edge("refund", "join", "text", "a")
        .edge("other", "join", "text", "b")
        .edge("join", "out", "value", "value")
        .spec
    )


async def _run(spec: dict[str, Any], *turns: Turn, **model: Any) -> tuple[list[Event], TurnModel]:
    chat = TurnModel(turns=list(turns), calls=[], bound=[], bound_kwargs=[], repeat_last=False, **model)
    flow = compile_flow(spec, make_ports({"m": chat}))
    return [e async for e in flow.events({"message": "I want 20 euros back"})], chat


def _answer(events: list[Event]) -> Any:
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    return events[-1].data["outputs"]["output"]["value"]


def test_structured_output_has_a_typed_port_per_field() -> None:
    spec = _extract_then_branch()
    assert validate(spec) == []
    from flows.registry import REGISTRY

    node = REGISTRY.get("structured_output", 1)
    assert node is not None
    ports = node.output_ports(node.parse_config({"model": "m", "json_schema": SCHEMA}))
    assert {name: str(port.type) for name, port in ports.items()} == {
        "data": "json",
        "intent": "text",
        "amount": "json",
    }


async def test_structured_output_by_tool_calling_routes_a_branch_on_a_field() -> None:
    spec = _extract_then_branch()
    events, chat = await _run(spec, [("record", {"intent": "refund", "amount": 20})])
    assert _answer(events).startswith("REFUND of 20")
    assert chat.bound == [["record"]]


async def test_structured_output_retries_once_with_the_validation_error() -> None:
    spec = _extract_then_branch()
    events, chat = await _run(
        spec, [("record", {"intent": "refund", "amount": -5})], [("record", {"intent": "refund", "amount": 5})]
    )
    assert _answer(events).startswith("REFUND of 5")
    correction = chat.calls[1][-1]
    assert correction.type == "tool" and "amount" in str(correction.content) and "minimum" in str(correction.content)
    finished = next(e for e in events if e.type == EventType.NODE_FINISHED and e.node == "extract")
    assert finished.data["notes"]["structured_output"]["attempts"] == 2


async def test_structured_output_fails_after_the_retry() -> None:
    events, chat = await _run(_extract_then_branch(), "not json at all", '{"intent": "complaint"}')
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["code"] == "structured_output_invalid"
    assert "is not one of" in events[-1].data["message"]
    assert len(chat.calls) == 2


async def test_structured_output_reads_json_from_a_model_without_tools() -> None:
    events, chat = await _run(_extract_then_branch(), '```json\n{"intent": "question"}\n```', native_tools=False)
    assert _answer(events) == "OTHER question"
    assert "JSON Schema" in str(chat.calls[0][0].content)


async def test_structured_output_json_mode_asks_the_api_for_json() -> None:
    events, chat = await _run(_extract_then_branch(method="json_mode"), '{"intent": "question"}')
    assert _answer(events) == "OTHER question"
    assert chat.bound == [] and chat.bound_kwargs == [{"response_format": {"type": "json_object"}}]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array"},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"data": {"type": "string"}}},
        {"type": "object", "properties": {"bad name": {"type": "string"}}},
        {"type": "object", "properties": {"x": {"type": "nonsense"}}},
    ],
)
def test_structured_output_refuses_a_bad_schema(schema: dict[str, Any]) -> None:
    spec = graph().node("in", "chat_input").node("x", "structured_output", model="m", json_schema=schema).spec
    assert "node.invalid_config" in {i.code for i in validate(spec)}


async def test_structured_output_auto_reads_json_when_the_server_refuses_tools() -> None:
    from flows.errors import ModelUnavailable

    class RefusesTools(TurnModel):
        async def _astream(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("tools"):
                self.calls.append(messages)
                raise ModelUnavailable("The server of model 'm' answered HTTP 400.")
            async for chunk in super()._astream(messages, *args, **kwargs):
                yield chunk

    chat = RefusesTools(turns=["(refused)", '{"intent": "question"}'], calls=[], bound=[], bound_kwargs=[])
    flow = compile_flow(_extract_then_branch(), make_ports({"m": chat}))
    events = [e async for e in flow.events({"message": "hello?"})]
    assert _answer(events) == "OTHER question"
    notes = next(e.data["notes"] for e in events if e.type == EventType.NODE_FINISHED and e.node == "extract")
    assert notes["structured_output"] == {"method": "prompt", "attempts": 1}
