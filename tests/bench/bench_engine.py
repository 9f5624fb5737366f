"""Engine overhead per run: a 5-node flow vs the same chain written directly in LangChain.

    .venv/bin/python tests/bench/bench_engine.py [--runs 2000]

Both use the same instant in-memory chat model (streams 12 tokens), so the difference is the
engine's own work: scheduling, port passing, events. Also times validation of a 1,000-node graph.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from flows.compiler import compile_flow
from flows.validate import validate
from tests.flows.graphs import graph
from tests.flows.memory_ports import ScriptedChatModel, make_ports

REPLY = "one two three four five six seven eight nine ten eleven twelve"


def five_node_flow() -> dict[str, object]:
    return (
        graph()
        .node("in", "chat_input")
        .node("prompt", "prompt", template="Question: {{question}}", system="Be brief.")
        .node("llm", "llm", model="m")
        .node("format", "prompt", template="Answer: {{answer}}")
        .node("out", "output")
        .edge("in", "prompt", "message", "question")
        .edge("prompt", "llm", "messages", "prompt")
        .edge("llm", "format", "text", "answer")
        .edge("format", "out", "text", "value")
        .spec
    )


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(runs: int) -> None:
    model = ScriptedChatModel(reply=lambda m: REPLY)
    model.seen = []
    flow = compile_flow(five_node_flow(), make_ports({"m": model}))
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "Question: {question}")])
    chain = prompt | model | StrOutputParser()

    async def engine_once() -> float:
        started = time.perf_counter()
        async for _ in flow.events({"message": "hello"}):
            pass
        return time.perf_counter() - started

    async def direct_once() -> float:
        started = time.perf_counter()
        text = "".join([chunk async for chunk in chain.astream({"question": "hello"})])
        assert text == REPLY
        return time.perf_counter() - started

    for _ in range(100):  # warm both paths
        await engine_once()
        await direct_once()
    engine, direct = [], []
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        engine.append(await engine_once())
        direct.append(await direct_once())
        model.seen.clear()
    overhead = [(e - d) * 1000 for e, d in zip(engine, direct, strict=True)]
    print(f"5-node flow, {runs} runs, instant model streaming 12 tokens")
    print(
        f"  direct LangChain chain: p50 {statistics.median(direct) * 1000:.3f} ms, "
        f"p99 {percentile(direct, 0.99) * 1000:.3f} ms"
    )
    print(
        f"  Trellis engine:         p50 {statistics.median(engine) * 1000:.3f} ms, "
        f"p99 {percentile(engine, 0.99) * 1000:.3f} ms"
    )
    print(
        f"  engine overhead:        p50 {statistics.median(overhead):.3f} ms, p99 {percentile(overhead, 0.99):.3f} ms "
        f"(targets: 1 ms, 5 ms)"
    )

    g = graph().node("in", "chat_input")
    previous, port = "in", "message"
    for i in range(998):
        g.node(f"p{i}", "prompt", template="{{x}}").edge(previous, f"p{i}", port, "x")
        previous, port = f"p{i}", "text"
    g.node("out", "output").edge(previous, "out", port, "value")
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        assert validate(g.spec) == []
        timings.append((time.perf_counter() - started) * 1000)
    print(f"validate a 1,000-node graph: p50 {statistics.median(timings):.1f} ms (target: well under 100 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    asyncio.run(main(parser.parse_args().runs))
