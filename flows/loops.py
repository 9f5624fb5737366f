"""Loop bodies: the only cycles a flow may draw.

A node with a body (the loop node) hands each item out on its body ports (`item`, `index`); the
nodes reached from there form its body, and the body's result comes back on an edge into one of
the loop's return ports (`result`). Those edges are back-edges: left out, the graph must be
acyclic. The body is everything fed from the item (so nothing inside it feeds the outside): it holds no
output node, and nothing inside it takes the loop's own results. A node outside the
body that feeds it runs before the loop (an ordering link `source -> loop`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from flows.errors import FlowError, Issue
from flows.registry import NodeType
from flows.spec import EdgeSpec, FlowSpec


class _Node(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def node_type(self) -> NodeType[Any] | None: ...


class BodyFailed(FlowError):
    """A node inside a loop's body failed for one item (the loop decides what that means)."""

    def __init__(self, node: str, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.node = node


@dataclass
class LoopShape:
    bodies: dict[str, set[str]] = field(default_factory=dict)  # loop id -> every node inside (nested too)
    back_edges: set[str] = field(default_factory=set)  # edge ids into a loop's return port
    links: list[tuple[str, str]] = field(default_factory=list)  # ordering: edges minus back-edges, plus feeds
    issues: list[Issue] = field(default_factory=list)

    def owner(self, node_id: str) -> str | None:
        """The innermost loop whose body holds `node_id` (None: the top level)."""
        holders = [loop for loop, body in self.bodies.items() if node_id in body]
        return min(holders, key=lambda loop: len(self.bodies[loop]), default=None)


def loop_shape(spec: FlowSpec, nodes: dict[str, Any], names: dict[str, str] | None = None) -> LoopShape:
    """`nodes`: by id, anything with `index` and `node_type` (None: unknown); `names`: how issues
    name a node (default: its label in quotes)."""
    shape = LoopShape()
    kinds: dict[str, NodeType[Any]] = {n: r.node_type for n, r in nodes.items() if r.node_type is not None}
    loops = {node_id for node_id, kind in kinds.items() if kind.body_ports}
    edges = [e for e in spec.edges if e.source in nodes and e.target in nodes]
    for edge in edges:
        if edge.target in loops and edge.target_port in kinds[edge.target].return_ports:
            shape.back_edges.add(edge.id)
    forward: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        if edge.id not in shape.back_edges:
            forward[edge.source].append(edge.target)
            shape.links.append((edge.source, edge.target))
    for loop in loops:
        starts = [e.target for e in edges if e.source == loop and e.source_port in kinds[loop].body_ports]
        body, queue = set(starts) - {loop}, deque(starts)
        while queue:
            for child in forward[queue.popleft()]:
                if child not in body and child != loop:
                    body.add(child)
                    queue.append(child)
        shape.bodies[loop] = body
    for loop, body in shape.bodies.items():
        _check_body(loop, body, edges, nodes, kinds, shape, spec, names or {})
    return shape


def _check_body(
    loop: str,
    body: set[str],
    edges: list[EdgeSpec],
    nodes: dict[str, Any],
    kinds: dict[str, NodeType[Any]],
    shape: LoopShape,
    spec: FlowSpec,
    names: dict[str, str],
) -> None:
    all_edges = spec.edges
    labels = {n.id: names.get(n.id) or f"“{n.label or n.id}”" for n in spec.nodes}
    index = nodes[loop].index
    name = _name(loop, labels)
    returns = [e for e in edges if e.id in shape.back_edges and e.target == loop]
    if not returns:
        shape.issues.append(
            Issue(
                "loop.no_result",
                f"{name}: connect the last node of the loop's body to its 'result' input.",
                f"/nodes/{index}",
                loop,
            )
        )
    for edge in returns:
        if edge.source not in body:
            shape.issues.append(
                Issue(
                    "loop.result_outside",
                    f"{name}: its 'result' must come from a node inside its body (one fed by its 'item').",
                    f"/nodes/{index}",
                    loop,
                    edge.id,
                )
            )
    for edge in edges:
        if edge.id in shape.back_edges:
            continue
        # The body is everything fed by the item, so a body node never feeds the outside: a node
        # fed from inside the body and from after the loop is the mistake to name.
        if edge.source == loop and edge.source_port not in kinds[loop].body_ports and edge.target in body:
            shape.issues.append(
                Issue(
                    "loop.body_leak",
                    f"{_name(edge.target, labels)} runs once per item of {name} (it takes a value from its "
                    f"body) and cannot take its '{edge.source_port}', which exists only after every item ran: "
                    f"take {name}'s '{edge.source_port}' in a node that nothing inside the loop feeds.",
                    f"/edges/{_edge_index(edge.id, all_edges)}",
                    edge.target,
                    edge.id,
                )
            )
        elif edge.target in body and edge.source not in body and edge.source != loop:
            shape.links.append((edge.source, loop))  # runs before the loop, so each item can read it
    for node_id in sorted(body, key=lambda n: nodes[n].index):
        if node_id in kinds and kinds[node_id].terminal:
            shape.issues.append(
                Issue(
                    "loop.output_in_body",
                    f"{_name(node_id, labels)} is an output inside the body of {name}: "
                    f"connect it to {name}'s 'results' instead.",
                    f"/nodes/{nodes[node_id].index}",
                    node_id,
                )
            )


def _name(node_id: str, labels: dict[str, str]) -> str:
    return labels.get(node_id, node_id)


def _edge_index(edge_id: str, edges: list[EdgeSpec]) -> int:
    return next((i for i, e in enumerate(edges) if e.id == edge_id), 0)
