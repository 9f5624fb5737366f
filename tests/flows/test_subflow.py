"""Sub-flows: another flow's published graph as a node or an agent tool; recursion guarded."""

from __future__ import annotations

from typing import Any

from flows.compiler import compile_flow
from flows.events import Event, EventType
from flows.nodes.subflow import CHAIN_KEY, MAX_DEPTH, referenced_flows
from flows.ports import SubflowGraph
from tests.flows.graphs import chat_flow, graph
from tests.flows.memory_ports import make_ports
from tests.flows.scripted_turns import TurnModel

CHILD = "11111111-1111-1111-1111-111111111111"


def _caller(flow: str, outputs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("sub", "subflow", flow=flow, outputs=outputs or [{"name": "output", "format": "text"}])
        .node("out", "output")
        .edge("in", "sub", "message", "message")
        .edge("sub", "out", "output", "value")
        .spec
    )


async def _run(spec: dict[str, Any], subflows: dict[str, SubflowGraph], **ports: Any) -> list[Event]:
    built = make_ports(**ports)
    built.subflows = subflows
    return [e async for e in compile_flow(spec, built).events({"message": "hi"})]


async def test_subflow_runs_the_published_graph_and_gives_its_output() -> None:
    events = await _run(_caller(CHILD), {CHILD: SubflowGraph(CHILD, "Echo", chat_flow())})
    assert events[-1].type == EventType.RUN_FINISHED
    assert events[-1].data["outputs"]["output"]["value"] == "echo: Question: hi"
    steps = [e.node for e in events if e.type == EventType.NODE_FINISHED]
    assert steps == ["in", "sub/in", "sub/prompt", "sub/llm", "sub/out", "sub", "out"]
    assert "".join(e.data["text"] for e in events if e.type == EventType.TOKEN) == "echo: Question: hi"
    assert events[-1].data["usage"]["output_tokens"] == 3  # its model's tokens count for the run


async def test_subflow_guards_recursion_by_cycle() -> None:
    a, b = "aaaaaaaa-0000-0000-0000-000000000000", "bbbbbbbb-0000-0000-0000-000000000000"
    graphs = {a: SubflowGraph(a, "A", _caller(b)), b: SubflowGraph(b, "B", _caller(a))}
    events = await _run(_caller(a), graphs)
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["code"] == "subflow_recursion"
    assert "sub/sub/sub" in {e.node for e in events if e.type == EventType.NODE_FAILED}  # A -> B -> A refused


async def test_subflow_guards_recursion_by_depth() -> None:
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(MAX_DEPTH + 2)]
    graphs = {ids[i]: SubflowGraph(ids[i], f"F{i}", _caller(ids[i + 1])) for i in range(MAX_DEPTH + 1)}
    graphs[ids[-1]] = SubflowGraph(ids[-1], "leaf", chat_flow())
    events = await _run(_caller(ids[0]), graphs)
    assert events[-1].data["code"] == "subflow_too_deep"


async def test_subflow_the_run_own_flow_on_the_chain_is_refused() -> None:
    built = make_ports()
    built.subflows = {CHILD: SubflowGraph(CHILD, "Self", _caller(CHILD))}
    built.settings[CHAIN_KEY] = [CHILD]
    events = [e async for e in compile_flow(_caller(CHILD), built).events({"message": "hi"})]
    assert events[-1].data["code"] == "subflow_recursion"


async def test_subflow_not_published_fails_with_a_reason() -> None:
    events = await _run(_caller(CHILD), {})
    assert events[-1].data["code"] == "subflow_not_found"


async def test_subflow_as_an_agent_tool() -> None:
    model = TurnModel(turns=[[("ask_echo", {"message": "ping"})], "Echo said it"], calls=[], bound=[], bound_kwargs=[])
    spec = (
        graph()
        .node("in", "chat_input")
        .node("agent", "agent", model="m", subflows=[{"flow": CHILD, "name": "ask_echo", "description": "Echoes"}])
        .node("out", "output")
        .edge("in", "agent", "message", "task")
        .edge("agent", "out", "text", "value")
        .spec
    )
    events = await _run(spec, {CHILD: SubflowGraph(CHILD, "Echo", chat_flow())}, models={"m": model, "echo": _echo()})
    assert events[-1].data["outputs"]["output"]["value"] == "Echo said it"
    assert model.calls[1][-1].content == "echo: Question: ping"
    assert "agent/step1/llm" in {e.node for e in events if e.type == EventType.NODE_FINISHED}
    tokens = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert tokens == "Echo said it"  # the tool's own tokens are not the answer


def test_subflow_referenced_flows_lists_nodes_and_agent_tools() -> None:
    spec = _caller(CHILD)
    spec["nodes"].append(
        {"id": "a", "type": "agent", "config": {"subflows": [{"flow": "f2", "name": "x", "description": "y"}]}}
    )
    assert referenced_flows(spec) == {CHILD, "f2"}


def _echo() -> Any:
    from tests.flows.memory_ports import ScriptedChatModel

    return ScriptedChatModel(reply=lambda m: f"echo: {m[-1].content}")
