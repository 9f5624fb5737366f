from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from flows.compiler import compile_flow
from flows.errors import FlowInvalid
from flows.events import Event, EventType
from tests.flows.graphs import chat_flow, graph
from tests.flows.memory_ports import ScriptedChatModel, make_ports


async def run_events(spec: dict[str, Any], inputs: dict[str, Any], **ports_kwargs: Any) -> list[Event]:
    flow = compile_flow(spec, make_ports(**ports_kwargs))
    return [event async for event in flow.events(inputs, session="s1")]


def types(events: list[Event]) -> list[str]:
    return [str(e.type) for e in events]


async def test_execute_chat_flow_streams_tokens_in_sequence() -> None:
    events = await run_events(chat_flow(), {"message": "hello there"})
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert types(events)[0] == "run.started" and types(events)[-1] == "run.finished"
    tokens = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert tokens == "echo: Question: hello there"
    final = events[-1].data
    assert final["outputs"]["output"]["value"] == tokens
    assert final["usage"]["output_tokens"] == 4
    assert final["ttft_ms"] is not None
    finished = [e for e in events if e.type == EventType.NODE_FINISHED]
    assert [e.node for e in finished] == ["in", "prompt", "llm", "out"]
    assert finished[2].data["usage"]["by_model"]["echo"]["output_tokens"] == 4


async def test_execute_compile_refuses_invalid_flow() -> None:
    spec = chat_flow()
    spec["edges"].pop()
    with pytest.raises(FlowInvalid) as caught:
        compile_flow(spec, make_ports())
    assert sorted(i.code for i in caught.value.issues) == ["node.unreachable", "port.missing_input"]


def _branch_flow(**route: Any) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("route", "branch", routes=[{"id": "refund", "label": "Refund", **route}])
        .node("refund_prompt", "prompt", template="REFUND {{q}}")
        .node("other_prompt", "prompt", template="OTHER {{q}}")
        .node("join", "merge")
        .node("out", "output")
        .edge("in", "route", "message", "input")
        .edge("route", "refund_prompt", "refund", "q")
        .edge("route", "other_prompt", "default", "q")
        .edge("refund_prompt", "join", "text", "a")
        .edge("other_prompt", "join", "text", "b")
        .edge("join", "out", "value", "value")
        .spec
    )


@pytest.mark.parametrize(
    ("route", "message", "taken", "skipped"),
    [
        ({"kind": "contains", "value": "refund"}, "I want a REFUND", "refund_prompt", "other_prompt"),
        ({"kind": "contains", "value": "refund"}, "hello", "other_prompt", "refund_prompt"),
        ({"kind": "equals", "value": "yes"}, " YES ", "refund_prompt", "other_prompt"),
        ({"kind": "regex", "value": r"order\s+#\d+"}, "where is order #42", "refund_prompt", "other_prompt"),
        (
            {"kind": "json_field", "field": "intent", "value": "refund"},
            '{"intent": "refund"}',
            "refund_prompt",
            "other_prompt",
        ),
        ({"kind": "json_field", "field": "intent", "value": "refund"}, "not json", "other_prompt", "refund_prompt"),
    ],
)
async def test_execute_branch_takes_one_route_skips_other_and_merges(
    route: dict[str, Any], message: str, taken: str, skipped: str
) -> None:
    events = await run_events(_branch_flow(**route), {"message": message})
    assert [e.node for e in events if e.type == EventType.NODE_SKIPPED] == [skipped]
    assert taken in [e.node for e in events if e.type == EventType.NODE_FINISHED]
    output = events[-1].data["outputs"]["output"]["value"]
    assert output.startswith("REFUND" if taken == "refund_prompt" else "OTHER")


async def test_execute_branch_classifier_route() -> None:
    spec = _branch_flow(kind="classifier", description="money back")
    spec["nodes"][1]["config"]["classifier_model"] = "judge"
    judge = ScriptedChatModel(reply=lambda m: "Refund")
    events = await run_events(spec, {"message": "I was charged twice"}, models={"judge": judge})
    assert [e.node for e in events if e.type == EventType.NODE_SKIPPED] == ["other_prompt"]
    assert events[-1].data["usage"]["by_model"]["judge"]["output_tokens"] == 1


async def test_execute_failure_in_middle_node_fails_run_naming_it() -> None:
    spec = chat_flow(model="flaky")
    events = await run_events(
        spec, {"message": "hi"}, models={"flaky": ScriptedChatModel(reply=lambda m: "one two three", fail_after=2)}
    )
    assert types(events)[-2:] == ["node.failed", "run.failed"]
    assert events[-1].data["node"] == "llm"
    assert events[-1].data["code"] == "node_failed"
    partial = "".join(e.data["text"] for e in events if e.type == EventType.TOKEN)
    assert partial == "one two"
    assert "out" not in [e.node for e in events if e.type == EventType.NODE_STARTED]


async def test_execute_unknown_model_alias_is_model_unavailable() -> None:
    events = await run_events(chat_flow(model="ghost"), {"message": "hi"})
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["code"] == "model_unavailable"


async def test_execute_stalled_model_times_out_with_model_timeout() -> None:
    stalled = ScriptedChatModel(reply=lambda m: "a b c", stall_after=1)
    started = time.perf_counter()
    events = await run_events(chat_flow(model="slow"), {"message": "hi"}, models={"slow": stalled}, idle_timeout=0.2)
    assert time.perf_counter() - started < 2
    assert events[-1].data["code"] == "model_timeout"


async def test_execute_cancellation_stops_generation_within_a_second() -> None:
    slow = ScriptedChatModel(reply=lambda m: " ".join(["tok"] * 1000), delay=0.01)
    flow = compile_flow(chat_flow(model="slow"), make_ports({"slow": slow}))
    stream = flow.events({"message": "go"})
    tokens = 0
    async for event in stream:
        if event.type == EventType.TOKEN:
            tokens += 1
            if tokens == 5:
                break
    started = time.perf_counter()
    await stream.aclose()
    assert time.perf_counter() - started < 1
    await asyncio.sleep(0.1)
    assert tokens == 5


async def test_execute_cancel_from_outside_emits_run_cancelled() -> None:
    slow = ScriptedChatModel(reply=lambda m: " ".join(["tok"] * 100), delay=0.05)
    flow = compile_flow(chat_flow(model="slow"), make_ports({"slow": slow}))
    seen: list[Event] = []

    async def consume() -> None:
        async for event in flow.events({"message": "go"}):
            seen.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[-1].type == EventType.TOKEN  # the consumer was cancelled mid-stream


async def test_execute_retrieve_passes_citations_to_output() -> None:
    kb = uuid.uuid4()
    spec = (
        graph()
        .node("in", "chat_input")
        .node("r", "retrieve", knowledge_base=str(kb), top_k=1)
        .node("p", "prompt", template="{{q}}")
        .node("llm", "llm", model="echo")
        .node("out", "output")
        .edge("in", "r", "message", "query")
        .edge("in", "p", "message", "q")
        .edge("p", "llm", "messages", "prompt")
        .edge("r", "llm", "documents", "context")
        .edge("llm", "out", "text", "value")
        .edge("llm", "out", "sources", "sources")
        .spec
    )
    corpus = {kb: ["cats purr softly", "the refund window is 30 days"]}
    model = ScriptedChatModel(reply=lambda m: "30 days [1]")
    model.seen = []
    events = await run_events(spec, {"message": "refund window"}, corpus=corpus, models={"echo": model})
    output = events[-1].data["outputs"]["output"]
    assert output["citations"][0]["chunk"] == "chunk-1"
    system = model.seen[-1][0]
    assert system.type == "system" and "[1] the refund window is 30 days" in str(system.content)


async def test_execute_llm_sees_context_and_history() -> None:
    model = ScriptedChatModel(reply=lambda m: "fine")
    model.seen = []
    spec = (
        graph()
        .node("in", "chat_input")
        .node("mem", "memory", turns=1)
        .node("llm", "llm", model="m", system_prompt="Be brief.")
        .node("out", "output")
        .edge("in", "llm", "message", "prompt")
        .edge("mem", "llm", "history", "history")
        .edge("llm", "out", "text", "value")
        .spec
    )
    sessions = {
        "s1": [
            HumanMessage(content="old q"),
            AIMessage(content="old a"),
            HumanMessage(content="q2"),
            AIMessage(content="a2"),
        ]
    }
    await run_events(spec, {"message": "now?"}, models={"m": model}, sessions=sessions)
    seen = model.seen[-1]
    assert [m.type for m in seen] == ["system", "human", "ai", "human"]
    assert seen[0].content == "Be brief."
    assert [m.content for m in seen[1:]] == ["q2", "a2", "now?"]


async def test_execute_tool_node_calculator() -> None:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("calc", "tool", tool="calculator", arguments={"expression": "{{x}}"})
        .node("out", "output")
        .edge("in", "calc", "message", "x")
        .edge("calc", "out", "result", "value")
        .spec
    )
    events = await run_events(spec, {"message": "(2 + 3) * 4"})
    assert events[-1].data["outputs"]["output"]["value"] == "20"


async def test_execute_llm_tool_binding_calls_tool_and_answers() -> None:
    model = ScriptedChatModel(
        reply=lambda m: f"The answer is {m[-1].content}",
        tool_call={"name": "calculator", "args": '{"expression": "6*7"}'},
    )
    spec = chat_flow(model="m")
    spec["nodes"][2]["config"]["tools"] = ["calculator"]
    events = await run_events(spec, {"message": "what is 6*7"}, models={"m": model})
    assert events[-1].data["outputs"]["output"]["value"] == "The answer is 42"


async def test_execute_independent_nodes_run_concurrently() -> None:
    slow_a = ScriptedChatModel(reply=lambda m: "a", delay=0.3)
    slow_b = ScriptedChatModel(reply=lambda m: "b", delay=0.3)
    spec = (
        graph()
        .node("in", "chat_input")
        .node("la", "llm", model="a")
        .node("lb", "llm", model="b")
        .node("p", "prompt", template="{{x}} {{y}}")
        .node("out", "output")
        .edge("in", "la", "message", "prompt")
        .edge("in", "lb", "message", "prompt")
        .edge("la", "p", "text", "x")
        .edge("lb", "p", "text", "y")
        .edge("p", "out", "text", "value")
        .spec
    )
    started = time.perf_counter()
    events = await run_events(spec, {"message": "go"}, models={"a": slow_a, "b": slow_b})
    assert time.perf_counter() - started < 0.55
    assert events[-1].data["outputs"]["output"]["value"] == "a b"


async def test_execute_oversized_message_fails_cleanly() -> None:
    spec = chat_flow()
    spec["nodes"][0]["config"] = {"max_length": 10}
    events = await run_events(spec, {"message": "x" * 11})
    assert events[-1].type == EventType.RUN_FAILED
    assert events[-1].data["node"] == "in"


async def test_execute_compiled_flow_is_a_runnable() -> None:
    flow = compile_flow(chat_flow(), make_ports())
    result = await flow.ainvoke({"message": "hi"})
    assert result["output"]["value"] == "echo: Question: hi"


async def test_execute_hands_each_event_to_the_sink_in_the_runs_own_task() -> None:
    flow = compile_flow(chat_flow(), make_ports())
    seen: list[tuple[Event, asyncio.Task[Any] | None]] = []
    runner = asyncio.current_task()
    await flow.execute({"message": "hi"}, sink=lambda e: seen.append((e, asyncio.current_task())), run_id="r1")
    events = [e for e, _ in seen]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.run for e in events} == {"r1"} and events[-1].type == EventType.RUN_FINISHED
    # No queue in between: every event, tokens included, is delivered in the caller's task.
    assert {task for _, task in seen} == {runner}


async def test_execute_cancelled_tells_the_sink_then_raises() -> None:
    slow = ScriptedChatModel(reply=lambda m: " ".join(["tok"] * 100), delay=0.02)
    flow = compile_flow(chat_flow(model="slow"), make_ports({"slow": slow}))
    seen: list[Event] = []
    task = asyncio.create_task(flow.execute({"message": "go"}, sink=seen.append))
    while sum(e.type == EventType.TOKEN for e in seen) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[-1].type == EventType.RUN_CANCELLED
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))


async def test_execute_model_silent_from_the_start_times_out_on_the_first_token() -> None:
    silent = ScriptedChatModel(reply=lambda m: "a b c", stall_after=0)
    started = time.perf_counter()
    events = await run_events(
        chat_flow(model="slow"), {"message": "hi"}, models={"slow": silent}, first_token_timeout=0.2, idle_timeout=5
    )
    assert time.perf_counter() - started < 2
    assert events[-1].data["code"] == "model_timeout"
    assert "first token" in events[-1].data["message"]


async def test_execute_steady_tokens_outlast_the_idle_timeout() -> None:
    # 40 tokens 20 ms apart (0.8 s) with a 0.15 s idle timeout: the watchdog re-arms, never fires.
    steady = ScriptedChatModel(reply=lambda m: " ".join(["tok"] * 40), delay=0.02)
    events = await run_events(chat_flow(model="s"), {"message": "hi"}, models={"s": steady}, idle_timeout=0.15)
    assert events[-1].type == EventType.RUN_FINISHED
    assert sum(e.type == EventType.TOKEN for e in events) == 40
