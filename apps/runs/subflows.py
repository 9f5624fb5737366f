"""The run start's hook for sub-flows: the published versions a graph may call (sub-flow nodes,
agents' sub-flow tools), read before the run, in the run's organization only, as far down as the
engine would ever go (flows.nodes.subflow.MAX_DEPTH). A graph that calls none costs no read.

The engine guards recursion itself (a flow already on the chain of calls, or a chain too deep);
the chain starts with the run's own flow, so A -> A is refused at its first call.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol

from apps.builder.selectors import flow_published_graphs
from apps.integrations.runtime import run_integrations
from flows.nodes.subflow import CHAIN_KEY, MAX_DEPTH, referenced_flows
from flows.ports import Ports, SubflowGraph
from flows.secrets import Redactor


class _Starting(Protocol):
    """What this hook reads of apps.runs.start.RunStarting (not imported: start imports this)."""

    run: Any
    graph: dict[str, Any]
    ports: Ports
    redactor: Redactor | None


def subflows_load(*, organization_id: Any, graph: dict[str, Any]) -> dict[str, SubflowGraph]:
    loaded: dict[str, SubflowGraph] = {}
    wanted = referenced_flows(graph)
    for _ in range(MAX_DEPTH + 1):  # one read per level of nesting
        wanted -= set(loaded)
        if not wanted:
            break
        found = flow_published_graphs(organization_id=organization_id, flow_ids=wanted)
        for flow_id, row in found.items():
            loaded[flow_id] = SubflowGraph(
                flow_id, row["name"], row["graph"], version=row["version"], description=row["description"]
            )
        wanted = set().union(*(referenced_flows(row["graph"]) for row in found.values())) if found else set()
    return loaded


def _with_integrations(starting: _Starting, subflows: dict[str, SubflowGraph]) -> dict[str, SubflowGraph]:
    """The sub-flows' graphs as the run's own went through the integrations hook: their
    `{{secrets.*}}` / `{{vars.*}}` filled, the organization's tools in the ports when they use
    tools, and their secret values added to the run's redactor. One pass over all of them."""
    ids = list(subflows)
    merged = {"nodes": [node for flow_id in ids for node in subflows[flow_id].graph.get("nodes", [])], "edges": []}
    found = run_integrations(organization_id=starting.run.organization_id, graph=merged, http=starting.ports.http)
    if found.graph is merged:  # nothing to fill, no tools wanted
        return subflows
    nodes, filled = list(found.graph["nodes"]), {}
    for flow_id in ids:
        own = len(subflows[flow_id].graph.get("nodes", []))
        graph = {**subflows[flow_id].graph, "nodes": nodes[:own]}
        nodes = nodes[own:]
        filled[flow_id] = dataclasses.replace(subflows[flow_id], graph=graph)
    if found.tools:
        starting.ports.extra_tools = {**starting.ports.extra_tools, **found.tools}
    if found.redactor is not None:
        starting.redactor = _union(starting.redactor, found.redactor)
    return filled


def _union(first: Redactor | None, second: Redactor) -> Redactor:
    if first is None:
        return second
    union = Redactor([])
    union.forms = sorted({*first.forms, *second.forms}, key=len, reverse=True)
    union.pattern = re.compile("|".join(re.escape(form) for form in union.forms))
    return union


class SubflowsHook:
    def __call__(self, starting: _Starting) -> None:
        if not referenced_flows(starting.graph):
            return  # most runs: nothing read, the ports untouched
        subflows = subflows_load(organization_id=starting.run.organization_id, graph=starting.graph)
        if subflows:
            subflows = _with_integrations(starting, subflows)
        ports = starting.ports
        chain = [str(starting.run.flow_id)] if starting.run.flow_id else []
        starting.ports = dataclasses.replace(
            ports, subflows={**ports.subflows, **subflows}, settings={**ports.settings, CHAIN_KEY: chain}
        )
