"""Static checks of a flow graph. Each issue names its code, node/edge and a JSON pointer into
the spec so the editor can point at the fault."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

import flows.nodes  # noqa: F401  (registers the built-in node types)
from flows.errors import Issue
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
            Issue("spec.invalid", error["msg"], "/" + "/".join(str(p) for p in error["loc"])) for error in exc.errors()
        ]


def resolve_nodes(spec: FlowSpec, registry: Registry, issues: list[Issue]) -> dict[str, ResolvedNode]:
    resolved: dict[str, ResolvedNode] = {}
    seen: set[str] = set()
    for index, node in enumerate(spec.nodes):
        pointer = f"/nodes/{index}"
        if node.id in seen:
            issues.append(Issue("node.duplicate_id", f"Two nodes have the id {node.id!r}.", f"{pointer}/id", node.id))
            continue
        seen.add(node.id)
        node_type = registry.get(node.type, node.version)
        if node_type is None:
            if registry.has_type(node.type):
                issues.append(
                    Issue(
                        "node.unknown_version",
                        f"{node.type} has no version {node.version}.",
                        f"{pointer}/version",
                        node.id,
                    )
                )
            else:
                issues.append(
                    Issue("node.unknown_type", f"Unknown node type {node.type!r}.", f"{pointer}/type", node.id)
                )
            continue
        try:
            config = node_type.parse_config(node.config)
        except ValidationError as exc:
            for error in exc.errors():
                path = "/".join(str(p) for p in error["loc"])
                missing = error["type"] == "missing"
                issues.append(
                    Issue(
                        "node.missing_config" if missing else "node.invalid_config",
                        f"{node.label or node.type}: {path or 'config'}: {'required' if missing else error['msg']}",
                        f"{pointer}/config" + (f"/{path}" if path else ""),
                        node.id,
                    )
                )
            continue
        resolved[node.id] = ResolvedNode(
            index, node_type, config, node_type.input_ports(config), node_type.output_ports(config)
        )
    return resolved


def _check_edges(spec: FlowSpec, nodes: dict[str, ResolvedNode], issues: list[Issue]) -> None:
    node_ids = {n.id for n in spec.nodes}
    edge_ids: set[str] = set()
    for index, edge in enumerate(spec.edges):
        pointer = f"/edges/{index}"
        if edge.id in edge_ids:
            issues.append(
                Issue("edge.duplicate_id", f"Two edges have the id {edge.id!r}.", f"{pointer}/id", edge=edge.id)
            )
        edge_ids.add(edge.id)
        for end in ("source", "target"):
            if getattr(edge, end) not in node_ids:
                issues.append(
                    Issue(
                        f"edge.unknown_{end}",
                        f"The edge's {end} {getattr(edge, end)!r} does not exist.",
                        f"{pointer}/{end}",
                        edge=edge.id,
                    )
                )
        source, target = nodes.get(edge.source), nodes.get(edge.target)
        if source is None or target is None:
            continue
        out_port = source.outputs.get(edge.source_port)
        in_port = target.inputs.get(edge.target_port)
        if out_port is None:
            issues.append(
                Issue(
                    "edge.unknown_source_port",
                    f"{edge.source} has no output {edge.source_port!r}.",
                    f"{pointer}/source_port",
                    edge.source,
                    edge.id,
                )
            )
        if in_port is None:
            issues.append(
                Issue(
                    "edge.unknown_target_port",
                    f"{edge.target} has no input {edge.target_port!r}.",
                    f"{pointer}/target_port",
                    edge.target,
                    edge.id,
                )
            )
        if out_port and in_port and not compatible(out_port.type, in_port.type):
            issues.append(
                Issue(
                    "edge.type_mismatch",
                    f"{edge.source}.{edge.source_port} gives {out_port.type}, but "
                    f"{edge.target}.{edge.target_port} needs {in_port.type}.",
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


def _check_graph(spec: FlowSpec, nodes: dict[str, ResolvedNode], issues: list[Issue]) -> None:
    links = [(e.source, e.target) for e in spec.edges if e.source in nodes and e.target in nodes]
    _, cyclic = topological_order(list(nodes), links)
    for node_id in sorted(cyclic, key=lambda n: nodes[n].index):
        issues.append(Issue("graph.cycle", f"{node_id} is part of a cycle.", f"/nodes/{nodes[node_id].index}", node_id))
    connected: dict[str, set[str]] = defaultdict(set)
    for edge in spec.edges:
        connected[edge.target].add(edge.target_port)
    for node_id, node in nodes.items():
        for name, port in node.inputs.items():
            if port.required and name not in connected[node_id]:
                issues.append(
                    Issue(
                        "port.missing_input",
                        f"{node_id}: input {name!r} is not connected.",
                        f"/nodes/{node.index}",
                        node_id,
                    )
                )
    entries = [n for n, r in nodes.items() if r.node_type.entry]
    if not entries:
        issues.append(Issue("flow.no_input", "The flow has no input node (chat input).", "/nodes"))
    if not any(r.node_type.terminal for r in nodes.values()):
        issues.append(Issue("flow.no_output", "The flow has no output node.", "/nodes"))
    children: dict[str, list[str]] = defaultdict(list)
    for source, target in links:
        children[source].append(target)
    # Nodes without input ports (a prompt with no variables) are sources of their own.
    sources = entries + [n for n, r in nodes.items() if not r.inputs and n not in entries]
    reached, queue = set(sources), deque(sources)
    while queue:
        for child in children[queue.popleft()]:
            if child not in reached:
                reached.add(child)
                queue.append(child)
    if entries:
        for node_id in sorted(set(nodes) - reached - cyclic, key=lambda n: nodes[n].index):
            issues.append(
                Issue(
                    "node.unreachable",
                    f"{node_id} cannot be reached from an input node.",
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
    nodes = resolve_nodes(spec, registry, issues)
    _check_edges(spec, nodes, issues)
    _check_graph(spec, nodes, issues)
    return issues
