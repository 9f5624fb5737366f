"""The run start's hook for sub-flows: the published versions a graph may call (sub-flow nodes,
agents' sub-flow tools), read before the run, in the run's organization only, as far down as the
engine would ever go (flows.nodes.subflow.MAX_DEPTH). A graph that calls none costs no read.

The engine guards recursion itself (a flow already on the chain of calls, or a chain too deep);
the chain starts with the run's own flow, so A -> A is refused at its first call.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from apps.builder.selectors import flow_published_graphs
from flows.nodes.subflow import CHAIN_KEY, MAX_DEPTH, referenced_flows
from flows.ports import Ports, SubflowGraph


class _Starting(Protocol):
    """What this hook reads of apps.runs.start.RunStarting (not imported: start imports this)."""

    run: Any
    graph: dict[str, Any]
    ports: Ports


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


class SubflowsHook:
    def __call__(self, starting: _Starting) -> None:
        ports = starting.ports
        subflows = subflows_load(organization_id=starting.run.organization_id, graph=starting.graph)
        chain = [str(starting.run.flow_id)] if starting.run.flow_id else []
        starting.ports = dataclasses.replace(
            ports, subflows={**ports.subflows, **subflows}, settings={**ports.settings, CHAIN_KEY: chain}
        )
