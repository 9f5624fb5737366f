"""The agent node: tool loop (native and ReAct), budgets, a span per step, streamed answer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import StructuredTool

from flows.compiler import compile_flow
from flows.errors import ModelUnavailable
from flows.events import Event, EventType
from tests.flows.graphs import graph
from tests.flows.memory_ports import make_ports
from tests.flows.scripted_turns import Turn, TurnModel

KB = uuid.UUID("00000000-0000-0000-0000-00000000beef")


def _agent_flow(**agent: Any) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("agent", "agent", model="m", **agent)
        .node("out", "output")
        .edge("in", "agent", "message", "task")
        .edge("agent", "out", "text", "value")
        .spec
    )


async def _run(spec: dict[str, Any], model: TurnModel, message: str = "what is 6*7?", **ports: Any) -> list[Event]:
    flow = compile_flow(spec, make_ports({"m": model}, **ports))
    return [e async for e in flow.events({"message": message})]


def _model(*turns: Turn, **kw: Any) -> TurnModel:
    return TurnModel(turns=list(turns), calls=[], bound=[], bound_kwargs=[], **kw)


async def test_agent_calls_a_tool_then_answers_with_a_span_per_step() -> None:
    model = _model([("calculator", {"expression": "6*7"})], "The answer is 42")
    events = await _run(_agent_flow(tools=["calculator"]), model)
    assert events[-1].type == EventType.RUN_FINISHED
    assert events[-1].data["outputs"]["output"]["value"] == "The answer is 42"
    tool_message = model.calls[1][-1]
    assert tool_message.type == "tool" and tool_message.content == "42"
    spans = [(e.type, e.node) for e in events if e.node and e.node.startswith("agent/")]
    assert spans == [
        (EventType.NODE_STARTED, "agent/step1"),
        (EventType.NODE_FINISHED, "agent/step1"),
        (EventType.NODE_STARTED, "agent/step1/calculator"),
        (EventType.NODE_FINISHED, "agent/step1/calculator"),
        (EventType.NODE_STARTED, "agent/step2"),
        (EventType.NODE_FINISHED, "agent/step2"),
    ]
    tokens = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert tokens == "The answer is 42"  # the final answer streamed, nothing else
    assert model.bound == [["calculator"]]
    assert events[-1].data["usage"]["input_tokens"] == 10  # both calls counted


async def test_agent_stops_at_max_iterations() -> None:
    model = _model([("calculator", {"expression": "1+1"})])  # never answers
    events = await _run(_agent_flow(tools=["calculator"], max_iterations=3), model)
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["code"] == "agent_max_iterations"
    assert len(model.calls) == 3


async def test_agent_stops_at_its_token_budget() -> None:
    model = _model([("calculator", {"expression": "1+1"})], tokens_per_turn=60)
    events = await _run(_agent_flow(tools=["calculator"], token_budget=150, max_iterations=10), model)
    assert events[-1].data["code"] == "agent_token_budget"
    assert len(model.calls) == 3  # 60, 120, 180 > 150


async def test_agent_stops_at_its_time_budget() -> None:
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    sleeper = StructuredTool.from_function(coroutine=slow, name="sleeper", description="Sleeps")
    model = _model([("sleeper", {"seconds": 30})])
    started = asyncio.get_running_loop().time()
    events = await _run(_agent_flow(tools=["sleeper"], time_budget_s=1), model, extra_tools={"sleeper": sleeper})
    assert events[-1].data["code"] == "agent_time_budget"
    assert asyncio.get_running_loop().time() - started < 5


async def test_agent_tool_error_goes_back_to_the_model() -> None:
    model = _model([("calculator", {"expression": "1/0"})], [("nope", {})], "sorry")
    events = await _run(_agent_flow(tools=["calculator"]), model)
    assert events[-1].data["outputs"]["output"]["value"] == "sorry"
    assert "Division by zero" in str(model.calls[1][-1].content)
    assert "no tool named 'nope'" in str(model.calls[2][-1].content)
    failed = [e.node for e in events if e.type == EventType.NODE_FAILED]
    assert failed == ["agent/step1/calculator", "agent/step2/nope"]


async def test_agent_falls_back_to_react_without_native_tools() -> None:
    model = _model(
        'Thought: I need to compute.\nAction: calculator\nAction Input: {"expression": "6*7"}',
        "Thought: done.\nFinal Answer: It is 42.",
        native_tools=False,
    )
    events = await _run(_agent_flow(tools=["calculator"]), model)
    assert events[-1].data["outputs"]["output"]["value"] == "It is 42."
    assert "Action Input" in str(model.calls[0][0].content)  # the ReAct format is in the system prompt
    assert str(model.calls[1][-1].content) == "Observation: 42"
    tokens = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert tokens.strip() == "It is 42."  # only the final answer streamed, not the thoughts


async def test_agent_searches_selected_knowledge_bases() -> None:
    seen: list[list[BaseMessage]] = []
    model = _model([("search_knowledge_1", {"query": "refund window"})], "30 days", on_call=seen.append)
    spec = _agent_flow(knowledge_bases=[{"knowledge_base": str(KB), "description": "Policies"}])
    events = await _run(spec, model, corpus={KB: ["The refund window is 30 days.", "Shipping is free."]})
    assert events[-1].data["outputs"]["output"]["value"] == "30 days"
    assert "The refund window is 30 days." in str(seen[1][-1].content)
    assert model.bound == [["search_knowledge_1"]]


async def test_agent_uses_tools_the_ports_provide() -> None:
    async def lookup(order: str) -> str:
        return f"order {order} shipped"

    extra = StructuredTool.from_function(coroutine=lookup, name="mcp_orders", description="Order status")
    model = _model([("mcp_orders", {"order": "A7"})], "It shipped")
    events = await _run(_agent_flow(tools=["mcp_orders", "current_time"]), model, extra_tools={"mcp_orders": extra})
    assert events[-1].data["outputs"]["output"]["value"] == "It shipped"
    assert model.calls[1][-1].content == "order A7 shipped"


class _RefusesTools(TurnModel):
    """A server that answers HTTP 400 when tools are sent (the built-in local model does)."""

    async def _astream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("tools"):
            self.calls.append(messages)
            raise ModelUnavailable("The server of model 'm' answered HTTP 400.")
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


async def test_agent_auto_falls_back_to_react_when_the_server_refuses_tools() -> None:
    model = _RefusesTools(
        turns=["(refused)", 'Action: calculator\nAction Input: {"expression": "2+3"}', "Final Answer: 5"],
        calls=[],
        bound=[],
        bound_kwargs=[],
    )
    events = await _run(_agent_flow(tools=["calculator"]), model)
    assert events[-1].data["outputs"]["output"]["value"] == "5"
    assert str(model.calls[2][-1].content) == "Observation: 5"
    notes = next(e.data["notes"] for e in events if e.type == EventType.NODE_FINISHED and e.node == "agent")
    assert notes["agent"]["mode"] == "react"


async def test_agent_native_mode_does_not_fall_back() -> None:
    model = _RefusesTools(turns=["x"], calls=[], bound=[], bound_kwargs=[])
    events = await _run(_agent_flow(tools=["calculator"], mode="native"), model)
    assert events[-1].data["code"] == "model_unavailable"
