"""Static checks of a flow graph. Each issue names its code, node/edge and a JSON pointer into
the spec so the editor can point at the fault."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

import flows.nodes  # noqa: F401  (registers the built-in node types)
from flows import issue_text as text
from flows.errors import Issue
from flows.loops import loop_shape
from flows.registry import REGISTRY, NodeType, Port, Registry
from flows.spec import FlowSpec
from flows.types import compatible


@dataclass
class ResolvedNode:
    index: int
    node_type: NodeType[Any]
    config: BaseModel
    inputs: dict[str, Port]
    outputs: dict[str, Port]


def parse_spec(raw: Any) -> tuple[FlowSpec | None, list[Issue]]:
    """Validate the JSON shape; a malformed spec yields issues instead of raising."""
    try:
        return FlowSpec.model_validate(raw), []
    except ValidationError as exc:
        return None, [
            Issue(
                "spec.invalid",
                f"The flow's JSON is not a flow graph at /{'/'.join(str(p) for p in error['loc'])}: "
                f"{error['msg'][:1].lower()}{error['msg'][1:]}. Fix the file and import it again.",
                "/" + "/".join(str(p) for p in error["loc"]),
            )
            for error in exc.errors()
        ]


def resolve_nodes(spec: FlowSpec, registry: Registry, issues: list[Issue]) -> dict[str, ResolvedNode]:
    """The nodes whose type is known and whose config parses; the others get issues."""
    resolved: dict[str, ResolvedNode] = {}
    seen: set[str] = set()
    for index, node in enumerate(spec.nodes):
        pointer = f"/nodes/{index}"
        if node.id in seen:
            issues.append(
                Issue(
                    "node.duplicate_id",
                    f"Two nodes have the id “{node.id}”: delete one of them, or import the flow again.",
                    f"{pointer}/id",
                    node.id,
                )
            )
            continue
        seen.add(node.id)
        node_type = registry.get(node.type, node.version)
        if node_type is None:
            name = text.node_name(node, None)
            if registry.has_type(node.type):
                issues.append(
                    Issue(
                        "node.unknown_version",
                        f"{name} is version {node.version} of its type, which this server does not have: "
                        "delete it and add it again from the palette.",
                        f"{pointer}/version",
                        node.id,
                    )
                )
            else:
                issues.append(
                    Issue(
                        "node.unknown_type",
                        f"{name} is of a type this server does not know: delete it, or replace it with a node "
                        "from the palette.",
                        f"{pointer}/type",
                        node.id,
                    )
                )
            continue
        try:
            config = node_type.parse_config(node.config)
        except ValidationError as exc:
            for error in exc.errors():
                path = "/".join(str(p) for p in error["loc"])
                issues.append(
                    Issue(
                        text.config_code(error),
                        text.config_message(node, node_type, error),
                        f"{pointer}/config" + (f"/{path}" if path else ""),
                        node.id,
                    )
                )
            continue
        resolved[node.id] = ResolvedNode(
            index, node_type, config, node_type.input_ports(config), node_type.output_ports(config)
        )
    return resolved


@dataclass
class _Shape:
    """What the graph checks know of a node, even one whose config does not parse: its place,
    name, type and ports (None where they depend on a config that does not parse)."""

    index: int
    name: str
    node_type: NodeType[Any] | None
    inputs: dict[str, Port] | None
    outputs: dict[str, Port] | None


def _shapes(spec: FlowSpec, registry: Registry, resolved: dict[str, ResolvedNode]) -> dict[str, _Shape]:
    shapes: dict[str, _Shape] = {}
    for index, node in enumerate(spec.nodes):
        if node.id in shapes:
            continue
        node_type = registry.get(node.type, node.version)
        name = text.node_name(node, node_type)
        if (found := resolved.get(node.id)) is not None:
            shapes[node.id] = _Shape(index, name, node_type, found.inputs, found.outputs)
            continue
        inputs = outputs = None
        if node_type is not None:
            kind = type(node_type)
            inputs = None if kind.input_ports is not NodeType.input_ports else node_type.inputs
            outputs = None if kind.output_ports is not NodeType.output_ports else node_type.outputs
        shapes[node.id] = _Shape(index, name, node_type, inputs, outputs)
    return shapes


def _check_edges(spec: FlowSpec, nodes: dict[str, _Shape], registry: Registry, issues: list[Issue]) -> None:
    edge_ids: set[str] = set()
    for index, edge in enumerate(spec.edges):
        pointer = f"/edges/{index}"
        if edge.id in edge_ids:
            issues.append(
                Issue(
                    "edge.duplicate_id",
                    f"Two connections have the id “{edge.id}”: delete one of them and draw it again.",
                    f"{pointer}/id",
                    edge=edge.id,
                )
            )
        edge_ids.add(edge.id)
        for end in ("source", "target"):
            if getattr(edge, end) not in nodes:
                issues.append(
                    Issue(
                        f"edge.unknown_{end}",
                        f"A connection {'comes from' if end == 'source' else 'goes to'} a node "
                        f"“{getattr(edge, end)}” that is not in the flow: delete that connection.",
                        f"{pointer}/{end}",
                        edge=edge.id,
                    )
                )
        source, target = nodes.get(edge.source), nodes.get(edge.target)
        if source is None or target is None:
            continue
        out_port = source.outputs.get(edge.source_port) if source.outputs is not None else None
        in_port = target.inputs.get(edge.target_port) if target.inputs is not None else None
        if source.outputs is not None and out_port is None:
            issues.append(
                Issue(
                    "edge.unknown_source_port",
                    text.unknown_port_message(source.name, edge.source_port, "output", source.outputs),
                    f"{pointer}/source_port",
                    edge.source,
                    edge.id,
                )
            )
        if target.inputs is not None and in_port is None:
            issues.append(
                Issue(
                    "edge.unknown_target_port",
                    text.unknown_port_message(target.name, edge.target_port, "input", target.inputs),
                    f"{pointer}/target_port",
                    edge.target,
                    edge.id,
                )
            )
        if out_port and in_port and not compatible(out_port.type, in_port.type):
            issues.append(
                Issue(
                    "edge.type_mismatch",
                    text.mismatch_message(
                        registry,
                        source.name,
                        edge.source_port,
                        out_port.type,
                        target.name,
                        edge.target_port,
                        in_port.type,
                    ),
                    pointer,
                    edge.target,
                    edge.id,
                )
            )


def topological_order(node_ids: list[str], edges: list[tuple[str, str]]) -> tuple[list[str], set[str]]:
    """Kahn's algorithm: (order of the acyclic part, nodes that lie on a cycle)."""
    indegree = dict.fromkeys(node_ids, 0)
    children: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        if source in indegree and target in indegree:
            children[source].append(target)
            indegree[target] += 1
    queue = deque(n for n in node_ids if indegree[n] == 0)
    order: list[str] = []
    while queue:
        current = queue.popleft()
        order.append(current)
        for child in children[current]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    blocked = {n for n in node_ids if indegree[n] > 0}
    # Peel off nodes that are only downstream of a cycle: what remains lies on one.
    outdegree = {n: sum(1 for c in children[n] if c in blocked) for n in blocked}
    parents: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        if source in blocked and target in blocked:
            parents[target].append(source)
    sinks = deque(n for n, d in outdegree.items() if d == 0)
    while sinks:
        node = sinks.popleft()
        blocked.discard(node)
        for parent in parents[node]:
            outdegree[parent] -= 1
            if outdegree[parent] == 0:
                sinks.append(parent)
    return order, blocked


def _check_graph(spec: FlowSpec, nodes: dict[str, _Shape], issues: list[Issue]) -> None:
    """Cycles, unconnected inputs, entry and output nodes, reachability: over every node, also
    those whose config has problems (all problems show at once, none hides another)."""
    # A loop's back-edges are the only cycles allowed (flows/loops.py); its body's rules are issues.
    shape = loop_shape(spec, nodes, {node_id: node.name for node_id, node in nodes.items()})
    issues.extend(shape.issues)
    links = shape.links
    _, cyclic = topological_order(list(nodes), links)
    for node_id in sorted(cyclic, key=lambda n: nodes[n].index):
        others = [nodes[n].name for n in sorted(cyclic - {node_id}, key=lambda n: nodes[n].index)]
        issues.append(
            Issue(
                "graph.cycle",
                text.cycle_message(nodes[node_id].name, others),
                f"/nodes/{nodes[node_id].index}",
                node_id,
            )
        )
    connected: dict[str, set[str]] = defaultdict(set)
    for edge in spec.edges:
        connected[edge.target].add(edge.target_port)
    for node_id, node in nodes.items():
        for name, port in (node.inputs or {}).items():
            if port.required and name not in connected[node_id]:
                issues.append(
                    Issue(
                        "port.missing_input",
                        text.missing_input_message(node.name, name, port.type),
                        f"/nodes/{node.index}",
                        node_id,
                    )
                )
    entries = [n for n, s in nodes.items() if s.node_type is not None and s.node_type.entry]
    if not entries:
        issues.append(
            Issue(
                "flow.no_input",
                "The flow has no Chat input node: add one from the palette (every run starts there).",
                "/nodes",
            )
        )
    if not any(s.node_type is not None and s.node_type.terminal for s in nodes.values()):
        issues.append(
            Issue(
                "flow.no_output",
                "The flow has no Output node: add one from the palette and connect the answer to it.",
                "/nodes",
            )
        )
    children: dict[str, list[str]] = defaultdict(list)
    for source, target in links:
        children[source].append(target)
    # Nodes without input ports (a prompt with no variables) are sources of their own.
    sources = entries + [n for n, s in nodes.items() if s.inputs == {} and n not in entries]
    reached, queue = set(sources), deque(sources)
    while queue:
        for child in children[queue.popleft()]:
            if child not in reached:
                reached.add(child)
                queue.append(child)
    if entries:
        for node_id in sorted(set(nodes) - reached - cyclic, key=lambda n: nodes[n].index):
            if nodes[node_id].node_type is None:
                continue  # an unknown type already says to delete or replace it
            issues.append(
                Issue(
                    "node.unreachable",
                    text.unreachable_message(nodes[node_id].name),
                    f"/nodes/{nodes[node_id].index}",
                    node_id,
                )
            )


def validate(spec: FlowSpec | dict[str, Any], registry: Registry = REGISTRY) -> list[Issue]:
    if not isinstance(spec, FlowSpec):
        parsed, issues = parse_spec(spec)
        if parsed is None:
            return issues
        spec = parsed
    issues = []
    shapes = _shapes(spec, registry, resolve_nodes(spec, registry, issues))
    _check_edges(spec, shapes, registry, issues)
    _check_graph(spec, shapes, issues)
    return issues
