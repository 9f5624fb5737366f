"""What changed between two flow specs, for the version history and the publish dialog.

Nodes are matched by id: added, removed, changed (config keys with their old and new values,
label, type, version) or only
moved (a position change alone is layout, not behaviour, so it is reported apart). Edges are
matched by what they connect, not by id: redrawing the same connection is no change. Every list
is sorted, so the same two specs always give the same diff.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flows.spec import EdgeSpec, FlowSpec, NodeSpec

EdgeKey = tuple[str, str, str, str]
_SCALAR_FIELDS = ("type", "version", "label")


def _as_spec(spec: FlowSpec | dict[str, Any]) -> FlowSpec:
    return spec if isinstance(spec, FlowSpec) else FlowSpec.model_validate(spec)


def _nodes_by_id(spec: FlowSpec) -> dict[str, NodeSpec]:
    nodes: dict[str, NodeSpec] = {}
    for node in spec.nodes:
        nodes.setdefault(node.id, node)  # a duplicate id is a validation issue; the first one counts
    return nodes


def _summary(node: NodeSpec) -> dict[str, Any]:
    return {"id": node.id, "type": node.type, "version": node.version, "label": node.label}


def _position(node: NodeSpec) -> dict[str, float]:
    return {"x": node.position.x, "y": node.position.y}


def _config_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if key not in old or key not in new or old[key] != new[key])


def _node_change(old: NodeSpec, new: NodeSpec) -> dict[str, Any] | None:
    fields = [name for name in _SCALAR_FIELDS if getattr(old, name) != getattr(new, name)]
    config_keys = _config_keys(old.config, new.config)
    if config_keys:
        fields.append("config")
    moved = old.position != new.position
    if not fields:
        return {"id": new.id, "before": _position(old), "after": _position(new)} if moved else None
    before = {name: getattr(old, name) for name in _SCALAR_FIELDS if name in fields}
    after = {name: getattr(new, name) for name in _SCALAR_FIELDS if name in fields}
    if config_keys:  # the values, so a reader sees from what to what (a key absent on a side is left out)
        before["config"] = {key: old.config[key] for key in config_keys if key in old.config}
        after["config"] = {key: new.config[key] for key in config_keys if key in new.config}
    if moved:
        fields.append("position")
        before["position"], after["position"] = _position(old), _position(new)
    return {
        "id": new.id,
        "type": new.type,
        "fields": sorted(fields),
        "config_keys": config_keys,
        "before": before,
        "after": after,
    }


def _edge_key(edge: EdgeSpec) -> EdgeKey:
    return (edge.source, edge.source_port, edge.target, edge.target_port)


def _edge_changes(old: list[EdgeSpec], new: list[EdgeSpec]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    old_count, new_count = Counter(map(_edge_key, old)), Counter(map(_edge_key, new))

    def pick(edges: list[EdgeSpec], surplus: Counter[EdgeKey], other: list[EdgeSpec]) -> list[dict[str, Any]]:
        # Of duplicate connections, report the ones whose id the other side does not have.
        known = {(_edge_key(e), e.id) for e in other}
        picked = []
        for edge in sorted(edges, key=lambda e: (_edge_key(e), (_edge_key(e), e.id) in known, e.id)):
            if surplus[_edge_key(edge)] > 0:
                surplus[_edge_key(edge)] -= 1
                picked.append(edge.model_dump())
        return sorted(picked, key=lambda e: (e["source"], e["source_port"], e["target"], e["target_port"], e["id"]))

    return pick(new, new_count - old_count, old), pick(old, old_count - new_count, new)


def diff_specs(old: FlowSpec | dict[str, Any], new: FlowSpec | dict[str, Any]) -> dict[str, Any]:
    """The changes from `old` to `new` (both FlowSpec dicts; a malformed one raises
    pydantic.ValidationError). `identical` is true when nothing at all differs."""
    old_spec, new_spec = _as_spec(old), _as_spec(new)
    old_nodes, new_nodes = _nodes_by_id(old_spec), _nodes_by_id(new_spec)
    changed: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for node_id in sorted(old_nodes.keys() & new_nodes.keys()):
        change = _node_change(old_nodes[node_id], new_nodes[node_id])
        if change is not None:
            (changed if "fields" in change else moved).append(change)
    edges_added, edges_removed = _edge_changes(old_spec.edges, new_spec.edges)
    nodes = {
        "added": [_summary(new_nodes[n]) for n in sorted(new_nodes.keys() - old_nodes.keys())],
        "removed": [_summary(old_nodes[n]) for n in sorted(old_nodes.keys() - new_nodes.keys())],
        "changed": changed,
        "moved": moved,
    }
    edges = {"added": edges_added, "removed": edges_removed}
    identical = not any(nodes.values()) and not any(edges.values())
    return {"nodes": nodes, "edges": edges, "identical": identical}
