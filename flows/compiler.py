"""compile(spec, ports) -> CompiledFlow, a LangChain runnable; execute() streams typed events.

Each node's `build` gives a LangChain runnable. The compiled flow runs them in topological
layers (independent nodes of a layer concurrently), passes each output port along its edges,
and skips whatever hangs only off a port that produced nothing (a branch's untaken routes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from flows.errors import FlowError, FlowInvalid
from flows.events import TERMINAL, TOKEN, Event, EventType, preview
from flows.loops import BodyFailed, loop_shape
from flows.ports import FLOW_CACHE_KEY, Ports
from flows.registry import CONTEXT_KEY, REGISTRY, SPAN_ID_LIMIT, NodeContext, Registry, child_span_id
from flows.spec import FlowSpec
from flows.validate import ResolvedNode, parse_spec, resolve_nodes, topological_order, validate


@dataclass(frozen=True)
class Wire:
    source: str
    source_port: str
    target_port: str


@dataclass
class Body:
    """A loop's body: its own nodes in layers (nested loops' bodies are theirs), and the wires
    that bring each item's result back to the loop."""

    layers: list[list[str]]
    results: list[Wire]


@dataclass
class CompiledNode:
    id: str
    type: str
    label: str | None
    runnable: Runnable[dict[str, Any], dict[str, Any]]
    resolved: ResolvedNode
    incoming: list[Wire] = field(default_factory=list)
    body: Body | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    by_model: dict[str, list[int]] = field(default_factory=dict)

    def add(self, input_tokens: int, output_tokens: int, model: str | None) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if model:
            totals = self.by_model.setdefault(model, [0, 0])
            totals[0] += input_tokens
            totals[1] += output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "by_model": {m: {"input_tokens": i, "output_tokens": o} for m, (i, o) in self.by_model.items()},
        }


def _error_code(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, FlowError):
        return exc.code, exc.message
    name = type(exc).__name__
    # Model-client errors, recognised by name so the engine needs no HTTP-client imports.
    if "Timeout" in name:
        return "model_timeout", f"The model did not answer in time ({name})."
    if name in {
        "APIConnectionError",
        "ConnectError",
        "RemoteProtocolError",
        "ReadError",
        "APIStatusError",
        "InternalServerError",
        "ServiceUnavailableError",
    }:
        return "model_unavailable", f"The model server failed: {exc}"
    if isinstance(exc, ValueError):
        return "node_failed", str(exc)
    return "node_failed", f"{name}: {exc}"


class _RunState:
    def __init__(self, run_id: str, emit: Any) -> None:
        self.run_id = run_id
        self.emit = emit
        self.usage = Usage()
        self.node_usage: dict[str, Usage] = defaultdict(Usage)
        self.first_token_at: float | None = None

    def token(self, node: str, text: str) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.emit(TOKEN, node, {"text": text})

    def add_usage(self, node: str, input_tokens: int, output_tokens: int, model: str | None) -> None:
        self.usage.add(input_tokens, output_tokens, model)
        self.node_usage[node].add(input_tokens, output_tokens, model)

    def span(self, kind: str, span_id: str, data: dict[str, Any]) -> None:
        self.emit(EventType(kind), span_id, data)


class CompiledFlow(Runnable[dict[str, Any], dict[str, Any]]):
    """A flow as one LangChain runnable: `ainvoke(inputs)` -> outputs; `events()` streams."""

    def __init__(self, nodes: dict[str, CompiledNode], layers: list[list[str]], ports: Ports) -> None:
        self.nodes = nodes
        self.layers = layers
        self.ports = ports

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return asyncio.run(self.ainvoke(input, config))

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        async for event in self.events(input):
            if event.type == EventType.RUN_FINISHED:
                result = event.data["outputs"]
            elif event.type == EventType.RUN_FAILED:
                raise FlowError(event.data["message"], code=event.data["code"])
        return result

    async def execute(
        self,
        inputs: dict[str, Any],
        *,
        sink: Callable[[Event], None],
        run_id: str | None = None,
        session: str | None = None,
        start_seq: int = 1,
    ) -> None:
        """Run the flow to its end, handing each event to `sink` as it happens: in order, in this
        task, with no queue or task switch per event (a streamed token is one call). Ends with a
        terminal event; cancelling the caller emits run.cancelled and re-raises. `sink` must not
        raise (an exception would fail the node that emitted the event)."""
        run = run_id or str(uuid.uuid4())
        seq = start_seq

        def emit(kind: EventType, node: str | None, data: dict[str, Any]) -> None:
            nonlocal seq
            sink(Event(seq, kind, run, node, data))
            seq += 1

        await self._drive(inputs, session, _RunState(run, emit))

    async def events(
        self, inputs: dict[str, Any], *, run_id: str | None = None, session: str | None = None, start_seq: int = 1
    ) -> AsyncIterator[Event]:
        """`execute` as an async iterator. Closing the iterator cancels the run (and its model calls)."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        task = asyncio.create_task(
            self.execute(inputs, sink=queue.put_nowait, run_id=run_id, session=session, start_seq=start_seq)
        )
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                yield event
                if event.type in TERMINAL:
                    break
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _drive(self, inputs: dict[str, Any], session: str | None, state: _RunState) -> None:
        started = time.perf_counter()
        state.emit(EventType.RUN_STARTED, None, {"nodes": len(self.nodes)})
        values: dict[tuple[str, str], Any] = {}
        outputs: dict[str, Any] = {}
        try:
            await self._run_layers(self.layers, values, inputs, session, state, outputs, "")
        except asyncio.CancelledError:
            state.emit(EventType.RUN_CANCELLED, None, self._summary(state, started))
            raise
        except _NodeError as failure:
            state.emit(
                EventType.RUN_FAILED,
                None,
                {
                    "code": failure.code,
                    "message": failure.message,
                    "node": failure.node,
                    **self._summary(state, started),
                },
            )
            return
        state.emit(EventType.RUN_FINISHED, None, {"outputs": outputs, **self._summary(state, started)})

    async def _run_layers(
        self,
        layers: list[list[str]],
        values: dict[tuple[str, str], Any],
        inputs: dict[str, Any],
        session: str | None,
        state: _RunState,
        outputs: dict[str, Any],
        suffix: str,
    ) -> None:
        """Run `layers` (the flow's, or a loop body's for one item: `suffix` names the item)."""
        for layer in layers:
            ready: list[tuple[CompiledNode, dict[str, Any]]] = []
            for node_id in layer:
                gathered = self._gather(self.nodes[node_id], values)
                if gathered is None:
                    state.emit(
                        EventType.NODE_SKIPPED, node_id + suffix, {"reason": "no input arrived on a taken route"}
                    )
                else:
                    ready.append((self.nodes[node_id], gathered))
            if len(ready) == 1:
                await self._run_node(*ready[0], values, inputs, session, state, outputs, suffix)
            elif ready:
                await asyncio.gather(
                    *(
                        self._run_node(node, gathered, values, inputs, session, state, outputs, suffix)
                        for node, gathered in ready
                    )
                )

    def _body_runner(
        self,
        node: CompiledNode,
        values: dict[tuple[str, str], Any],
        inputs: dict[str, Any],
        session: str | None,
        state: _RunState,
        suffix: str,
    ) -> Any:
        body = node.body
        if body is None:
            return None

        async def run_body(item: Any, index: int) -> Any:
            """One item through the body, in its own copy of the values; its events name the
            item (`summarize[3]`). A failing node raises BodyFailed."""
            scope = dict(values)
            for port in node.resolved.node_type.body_ports:
                scope[(node.id, port)] = index if port == "index" else item
            try:
                await self._run_layers(body.layers, scope, inputs, session, state, {}, f"{suffix}[{index}]")
            except _NodeError as failure:
                raise BodyFailed(failure.node, failure.code, failure.message) from None
            for wire in body.results:
                if (wire.source, wire.source_port) in scope:
                    return scope[(wire.source, wire.source_port)]
            return None

        return run_body

    @staticmethod
    def _summary(state: _RunState, started: float) -> dict[str, Any]:
        ttft = None if state.first_token_at is None else round((state.first_token_at - started) * 1000, 2)
        return {
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "ttft_ms": ttft,
            "usage": state.usage.as_dict(),
        }

    @staticmethod
    def _gather(node: CompiledNode, values: dict[tuple[str, str], Any]) -> dict[str, Any] | None:
        """The node's inputs, or None when it must be skipped (nothing arrived where needed)."""
        gathered: dict[str, Any] = {}
        for wire in node.incoming:
            key = (wire.source, wire.source_port)
            if key in values and wire.target_port not in gathered:
                gathered[wire.target_port] = values[key]  # several wires into one port: the first live one
        if node.incoming and not gathered:
            return None
        for name, port in node.resolved.inputs.items():
            if port.required and name not in gathered:
                return None
        return gathered

    async def _run_node(
        self,
        node: CompiledNode,
        gathered: dict[str, Any],
        values: dict[tuple[str, str], Any],
        inputs: dict[str, Any],
        session: str | None,
        state: _RunState,
        outputs: dict[str, Any],
        suffix: str = "",
    ) -> None:
        span_id = node.id + suffix if len(node.id + suffix) <= SPAN_ID_LIMIT else child_span_id(node.id, suffix)
        state.emit(
            EventType.NODE_STARTED, span_id, {"type": node.type, "inputs": {k: preview(v) for k, v in gathered.items()}}
        )
        ctx = NodeContext(
            node_id=span_id,
            run_inputs=inputs,
            session=session,
            # A loop body's tokens are not the run's answer (its results reach an output node).
            emit_token=_quiet if suffix else state.token,
            add_usage=state.add_usage,
            emit_span=state.span,
            run_body=self._body_runner(node, values, inputs, session, state, suffix),
            compile_graph=compile_flow,
        )
        started = time.perf_counter()
        try:
            produced = await node.runnable.ainvoke(gathered, {"configurable": {CONTEXT_KEY: ctx}, "callbacks": []})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every node failure becomes an event naming the node
            code, message = _error_code(exc)
            state.emit(
                EventType.NODE_FAILED,
                span_id,
                {
                    "code": code,
                    "message": message,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            raise _NodeError(span_id, code, message) from exc
        for port, value in produced.items():
            values[(node.id, port)] = value
        if node.resolved.node_type.terminal and "result" in produced:
            result = produced["result"]
            outputs[result.get("name", node.id)] = result
        usage = state.node_usage.get(span_id)
        finished = {
            "outputs": {k: preview(v) for k, v in produced.items()},
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "usage": usage.as_dict() if usage else None,
        }
        if ctx.notes:
            finished["notes"] = ctx.notes
        state.emit(EventType.NODE_FINISHED, span_id, finished)


class _NodeError(Exception):
    def __init__(self, node: str, code: str, message: str) -> None:
        super().__init__(message)
        self.node, self.code, self.message = node, code, message


def _quiet(node: str, text: str) -> None:
    return None


def _layers(node_ids: list[str], links: list[tuple[str, str]]) -> list[list[str]]:
    """Topological layers of `node_ids` (links from outside the set are already satisfied)."""
    members = set(node_ids)
    inner = [(s, t) for s, t in links if s in members and t in members]
    order, _ = topological_order(node_ids, inner)
    parents: dict[str, list[str]] = defaultdict(list)
    for source, target in inner:
        parents[target].append(source)
    depth: dict[str, int] = {}
    for node_id in order:
        depth[node_id] = max((depth[p] + 1 for p in parents[node_id]), default=0)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node_id in order:
        layers[depth[node_id]].append(node_id)
    return layers


def compile_flow(spec: FlowSpec | dict[str, Any], ports: Ports, registry: Registry = REGISTRY) -> CompiledFlow:
    """Validate, then build every node's runnable. Raises FlowInvalid with all issues."""
    if not isinstance(spec, FlowSpec):
        parsed, issues = parse_spec(spec)
        if parsed is None:
            raise FlowInvalid(issues)
        spec = parsed
    if issues := validate(spec, registry):
        raise FlowInvalid(issues)
    # The flow's response-cache default, for its LLM nodes (a sub-flow's own graph sets its own).
    cache = spec.settings.cache
    if cache is not None or FLOW_CACHE_KEY in ports.settings:
        ports = replace(ports, settings={**ports.settings, FLOW_CACHE_KEY: cache.model_dump() if cache else None})
    resolved = resolve_nodes(spec, registry, [])
    nodes = {
        node.id: CompiledNode(
            node.id,
            node.type,
            node.label,
            resolved[node.id].node_type.build(resolved[node.id].config, ports),
            resolved[node.id],
        )
        for node in spec.nodes
    }
    shape = loop_shape(spec, resolved)
    results: dict[str, list[Wire]] = defaultdict(list)
    for edge in spec.edges:
        wire = Wire(edge.source, edge.source_port, edge.target_port)
        if edge.id in shape.back_edges:  # a loop body's result: read per item, not before the loop
            results[edge.target].append(wire)
        else:
            nodes[edge.target].incoming.append(wire)
    owners = {node_id: shape.owner(node_id) for node_id in nodes}
    for loop in shape.bodies:
        members = [n for n in nodes if owners[n] == loop]
        nodes[loop].body = Body(_layers(members, shape.links), results[loop])
    return CompiledFlow(nodes, _layers([n for n in nodes if owners[n] is None], shape.links), ports)


# The DESIGN name; `compile` shadows a builtin, so the module exports both.
compile = compile_flow
