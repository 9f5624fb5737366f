"""Reads. Every query here starts from the organization (or a flow already fetched through it)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.db.models import Q, QuerySet

from apps.builder.graphs import check_graph_size
from apps.builder.models import Flow, FlowVersion
from apps.config.errors import NotFound
from apps.tenancy.models import Organization
from flows.diff import diff_specs
from flows.errors import Issue
from flows.validate import validate

MAX_SEARCH = 200
MAX_VERSION_NUMBER = 2**31 - 1  # the column is a PostgreSQL integer
EMPTY_GRAPH: dict[str, Any] = {"nodes": [], "edges": []}

GraphRef = int | Literal["draft"]


def flow_list(*, organization: Organization, search: str | None = None) -> QuerySet[Flow]:
    """Newest activity first; the drafts stay in the database (a list never needs them)."""
    flows = (
        Flow.objects.filter(organization=organization)
        .select_related("published_version", "created_by", "updated_by")
        .defer("draft", "published_version__graph")
        .order_by("-updated_at", "-created_at")
    )
    if search and (term := search.strip()[:MAX_SEARCH]):
        flows = flows.filter(Q(name__icontains=term) | Q(description__icontains=term))
    return flows


def flow_get(*, organization: Organization, flow_id: object) -> Flow:
    try:
        pk = uuid.UUID(str(flow_id))
    except ValueError:
        raise NotFound("Flow not found.") from None
    flow = (
        Flow.objects.filter(organization=organization, pk=pk)
        .select_related("published_version", "created_by", "updated_by")
        .defer("published_version__graph")
        .first()
    )
    if flow is None:
        raise NotFound("Flow not found.")
    return flow


def flow_version_list(*, flow: Flow) -> QuerySet[FlowVersion]:
    """Newest first, without the graphs (flow_version_get has the graph)."""
    return FlowVersion.objects.filter(flow=flow).select_related("created_by").defer("graph").order_by("-number")


def flow_version_get(*, flow: Flow, number: int) -> FlowVersion:
    in_range = 1 <= number <= MAX_VERSION_NUMBER
    version = in_range and FlowVersion.objects.filter(flow=flow, number=number).select_related("created_by").first()
    if not version:
        raise NotFound(f"Version {number} of this flow does not exist.")
    return version


def flow_graph_at(*, flow: Flow, ref: GraphRef | None) -> dict[str, Any]:
    """The draft, a version's graph, or (None) the empty graph."""
    if ref is None:
        return EMPTY_GRAPH
    if ref == "draft":
        return dict(flow.draft)
    return dict(flow_version_get(flow=flow, number=ref).graph)


def flow_diff(*, flow: Flow, base: GraphRef | None, target: GraphRef) -> dict[str, Any]:
    """What changed from `base` to `target`; `base` None is the empty graph (nothing published)."""
    return diff_specs(flow_graph_at(flow=flow, ref=base), flow_graph_at(flow=flow, ref=target))


def flow_issues(*, flow: Flow, graph: dict[str, Any] | None = None) -> list[Issue]:
    """The validation issues of `graph` (an unsaved edit), or of the saved draft."""
    if graph is None:
        return validate(flow.draft)
    check_graph_size(graph)
    return validate(graph)


def node_ports(*, nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each node's ports for its config (prompt variables, branch routes): what the editor draws.

    No database: the registry decides. A config that does not parse yields the static ports.
    """
    from pydantic import ValidationError

    from flows.registry import REGISTRY

    result: dict[str, dict[str, Any]] = {}
    for node in nodes:
        node_type = REGISTRY.get(node["type"], node.get("version", 1))
        if node_type is None:
            continue
        try:
            config = node_type.parse_config(node.get("config") or {})
        except ValidationError:
            inputs, outputs, valid = node_type.inputs, node_type.outputs, False
        else:
            inputs, outputs, valid = node_type.input_ports(config), node_type.output_ports(config), True
        result[node["id"]] = {
            "inputs": {name: port.describe() for name, port in inputs.items()},
            "outputs": {name: port.describe() for name, port in outputs.items()},
            "config_valid": valid,
        }
    return result


def flow_published_graphs(*, organization_id: uuid.UUID, flow_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The published versions of `flow_ids` in this organization (sub-flows a run may call): by
    flow id, name, description, version number and graph. Ids that are not UUIDs, another
    tenant's flows and flows never published are simply absent."""
    wanted = []
    for flow_id in flow_ids:
        try:
            wanted.append(uuid.UUID(str(flow_id)))
        except ValueError:
            continue
    if not wanted:
        return {}
    rows = Flow.objects.filter(
        organization_id=organization_id, pk__in=wanted, published_version__isnull=False
    ).values_list("id", "name", "description", "published_version__number", "published_version__graph")
    return {
        str(fid): {"name": name, "description": description, "version": number, "graph": graph}
        for fid, name, description, number, graph in rows
    }


def flow_callable_list(*, organization: Organization) -> list[dict[str, Any]]:
    """Published flows as the sub-flow node sees them: the message in, and each output node's
    name and format out (from the published version's chat input and output nodes)."""
    rows = (
        Flow.objects.filter(organization=organization, published_version__isnull=False)
        .order_by("name")
        .values_list("id", "name", "description", "published_version__number", "published_version__graph")
    )
    result = []
    for fid, name, description, number, graph in rows:
        nodes = graph.get("nodes", []) if isinstance(graph, dict) else []
        outputs = [
            {"name": str(cfg.get("name") or "output"), "format": str(cfg.get("format") or "text")}
            for node in nodes
            if isinstance(node, dict) and node.get("type") == "output"
            for cfg in [node.get("config") or {}]
        ]
        has_input = any(isinstance(node, dict) and node.get("type") == "chat_input" for node in nodes)
        result.append(
            {
                "id": str(fid),
                "name": name,
                "description": description,
                "version": number,
                "inputs": [{"name": "message", "type": "text"}] if has_input else [],
                "outputs": outputs,
            }
        )
    return result
