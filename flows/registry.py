"""Node types: the base class every node subclasses, and the one explicit registry."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel

from flows.ports import Ports
from flows.types import PortType

ConfigT = TypeVar("ConfigT", bound=BaseModel)
SPAN_ID_LIMIT = 64  # a span's node column


@dataclass(frozen=True)
class Port:
    type: PortType
    required: bool = True
    description: str = ""

    def describe(self) -> dict[str, Any]:
        return {"type": str(self.type), "required": self.required, "description": self.description}


class NodeContext:
    """What a running node may touch besides its inputs: token streaming, usage, run inputs."""

    def __init__(
        self,
        *,
        node_id: str,
        run_inputs: dict[str, Any],
        session: str | None,
        emit_token: Callable[[str, str], None],
        add_usage: Callable[[str, int, int, str | None], None],
        emit_span: Callable[[str, str, dict[str, Any]], None] | None = None,
        run_body: Callable[[Any, int], Awaitable[Any]] | None = None,
        compile_graph: Callable[[dict[str, Any], Ports], Any] | None = None,
    ) -> None:
        self.node_id = node_id
        self.run_inputs = run_inputs
        self.session = session
        self._emit_token = emit_token
        self._add_usage = add_usage
        self._emit_span = emit_span
        # A node with a body (the loop): runs the body once for (item, index) and gives its result.
        self.run_body = run_body
        # flows.compiler.compile_flow, for a node that runs another graph (the sub-flow): the
        # node modules cannot import the compiler, which imports them.
        self.compile_graph = compile_graph
        self.notes: dict[str, Any] = {}

    def token(self, text: str) -> None:
        if text:
            self._emit_token(self.node_id, text)

    def usage(self, input_tokens: int, output_tokens: int, model: str | None = None) -> None:
        self._add_usage(self.node_id, input_tokens, output_tokens, model)

    def note(self, name: str, value: Any) -> None:
        """Something the trace should know about this node's work (node.finished `notes`)."""
        self.notes[name] = value

    def child_id(self, suffix: str) -> str:
        """The span id of a step inside this node (`agent/step2`): no node id holds `/`."""
        return child_span_id(self.node_id, suffix)

    def span(self, kind: str, span_id: str, data: dict[str, Any]) -> None:
        """A step of this node as its own span: `kind` is node.started / node.finished / node.failed."""
        if self._emit_span is not None:
            self._emit_span(kind, span_id, data)

    def token_as(self, span_id: str, text: str) -> None:
        """A token streamed by a step inside this node (a sub-flow's LLM)."""
        if text:
            self._emit_token(span_id, text)


def child_span_id(parent: str, suffix: str) -> str:
    room = SPAN_ID_LIMIT - len(suffix) - 1
    return f"{parent[: max(room, 1)]}/{suffix}"[:SPAN_ID_LIMIT]


CONTEXT_KEY = "trellis_node_context"


def node_context(config: RunnableConfig) -> NodeContext:
    ctx = (config.get("configurable") or {}).get(CONTEXT_KEY)
    if not isinstance(ctx, NodeContext):
        raise RuntimeError("node runnables run inside the flow executor")
    return ctx


class NodeType(Generic[ConfigT]):
    """A node type: a config model (its JSON Schema drives the editor), typed ports, and `run`.

    Subclasses implement `run`; `build` wraps it in a LangChain runnable. The executor wraps
    each call in node.started / node.finished / node.failed events.
    """

    type: ClassVar[str]
    version: ClassVar[int] = 1
    title: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[str] = "logic"
    icon: ClassVar[str] = "box"
    config_model: ClassVar[builtins.type[BaseModel]]
    inputs: ClassVar[dict[str, Port]] = {}
    outputs: ClassVar[dict[str, Port]] = {}
    entry: ClassVar[bool] = False  # a node the run starts from (chat input, memory)
    terminal: ClassVar[bool] = False  # a node that produces the run's output
    # A node with a body (the loop): its output ports that start the body, and its input ports the
    # body's result comes back to. Edges into those inputs are the only cycles a flow may have.
    body_ports: ClassVar[frozenset[str]] = frozenset()
    return_ports: ClassVar[frozenset[str]] = frozenset()

    def input_ports(self, config: ConfigT) -> dict[str, Port]:
        return self.inputs

    def output_ports(self, config: ConfigT) -> dict[str, Port]:
        return self.outputs

    def parse_config(self, raw: dict[str, Any]) -> ConfigT:
        return self.config_model.model_validate(raw)  # type: ignore[return-value,no-any-return]

    async def run(self, config: ConfigT, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        raise NotImplementedError

    def build(self, config: ConfigT, ports: Ports) -> Runnable[dict[str, Any], dict[str, Any]]:
        return NodeRunnable(self, config, ports)

    def describe(self) -> dict[str, Any]:
        default = self.config_model.model_json_schema()
        return {
            "type": self.type,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "icon": self.icon,
            "config_schema": default,
            "inputs": {name: port.describe() for name, port in self.inputs.items()},
            "outputs": {name: port.describe() for name, port in self.outputs.items()},
            "dynamic_inputs": type(self).input_ports is not NodeType.input_ports,
            "dynamic_outputs": type(self).output_ports is not NodeType.output_ports,
            "entry": self.entry,
            "terminal": self.terminal,
            "body_ports": sorted(self.body_ports),
            "return_ports": sorted(self.return_ports),
        }


class NodeRunnable(Runnable[dict[str, Any], dict[str, Any]]):
    """One configured node as a LangChain runnable: `ainvoke(inputs, config)` runs it.

    A plain Runnable rather than RunnableLambda: RunnableLambda inspects its function's signature
    when it is made, which was a tenth of a run start's CPU with every node built per run."""

    def __init__(self, node_type: NodeType[Any], config: BaseModel, ports: Ports) -> None:
        self.node_type, self.node_config, self.ports = node_type, config, ports
        self.name = node_type.type

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("flow nodes run asynchronously; use ainvoke")

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self.node_type.run(self.node_config, input, self.ports, node_context(config or {}))


class DuplicateNodeType(Exception):
    pass


class Registry:
    def __init__(self) -> None:
        self._types: dict[tuple[str, int], NodeType[Any]] = {}

    def add(self, node_type: NodeType[Any]) -> None:
        key = (node_type.type, node_type.version)
        if key in self._types:
            raise DuplicateNodeType(f"node type {key[0]!r} v{key[1]} is registered twice")
        self._types[key] = node_type

    def get(self, type_name: str, version: int) -> NodeType[Any] | None:
        return self._types.get((type_name, version))

    def has_type(self, type_name: str) -> bool:
        return any(name == type_name for name, _ in self._types)

    def all(self) -> list[NodeType[Any]]:
        return sorted(self._types.values(), key=lambda t: (t.category, t.type, t.version))

    def catalog(self) -> list[dict[str, Any]]:
        return [node_type.describe() for node_type in self.all()]


REGISTRY = Registry()

NodeT = TypeVar("NodeT", bound=type[NodeType[Any]])


def register(cls: NodeT) -> NodeT:
    REGISTRY.add(cls())
    return cls
