"""Thin views: one access check, parse the input, call one service or selector, render."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.builder import selectors, services
from apps.builder.api import serializers as s
from apps.builder.models import Flow, FlowVersion
from apps.builder.selectors import GraphRef
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role
from flows.registry import REGISTRY
from flows.tools import tool_names
from flows.types import PortType, compatible

GRAPH_ERRORS = {**ERRORS, 400: s.GraphErrorOut}
VERSION_NUMBER = re.compile(r"[0-9]{1,11}")


def _flow(request: Request, org_id: object, flow_id: object) -> Flow:
    access = org_access(request, org_id)
    return selectors.flow_get(organization=access.organization, flow_id=flow_id)


def _version_out(version: FlowVersion, flow: Flow, serializer_class: type[Any] = s.FlowVersionOut) -> Any:
    return serializer_class(version, context={"published_version_id": flow.published_version_id}).data


def _graph_ref(request: Request, param: str) -> GraphRef | None:
    """`?from=3`, `?to=draft`; None when the parameter is absent."""
    raw = request.query_params.get(param, "")
    if raw == "":
        return None
    if raw == "draft":
        return "draft"
    if VERSION_NUMBER.fullmatch(raw):
        return int(raw)
    raise serializers.ValidationError({param: ["A version number or 'draft'."]})


# --- flows ------------------------------------------------------------------------------------


class FlowPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


class FlowCallableListView(APIView):
    @extend_schema(
        responses={200: s.CallableFlowOut(many=True), **ERRORS},
        summary="Published flows with their inputs and outputs, for sub-flow nodes and agent tools",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(
            s.CallableFlowOut(selectors.flow_callable_list(organization=access.organization), many=True).data
        )


class FlowListView(APIView):
    @extend_schema(
        responses={200: s.FlowPageOut, **ERRORS},
        parameters=[
            OpenApiParameter("q", str, description="Search in names and descriptions"),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        summary="Flows, most recently updated first",
        operation_id="v1_orgs_flows_list",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        flows = selectors.flow_list(organization=access.organization, search=request.query_params.get("q"))
        paginator = FlowPagination()
        page = paginator.paginate_queryset(flows, request, view=self)
        return paginator.get_paginated_response(s.FlowOut(page, many=True).data)

    @extend_schema(
        request=s.FlowCreateIn,
        responses={201: s.FlowDetailOut, **GRAPH_ERRORS},
        summary="Create a flow (editor)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.FlowCreateIn, request)
        flow = services.flow_create(
            access=access, name=data["name"], description=data["description"], graph=data.get("graph")
        )
        return Response(s.FlowDetailOut(flow).data, status=status.HTTP_201_CREATED)


class FlowImportView(APIView):
    @extend_schema(
        request=s.FlowImportIn,
        responses={201: s.FlowDetailOut, **GRAPH_ERRORS},
        summary="Create a flow from an export (editor)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        flow = services.flow_import(access=access, payload=request.data)
        return Response(s.FlowDetailOut(flow).data, status=status.HTTP_201_CREATED)


class FlowDetailView(APIView):
    @extend_schema(responses={200: s.FlowDetailOut, **ERRORS}, summary="A flow with its draft and the draft's issues")
    def get(self, request: Request, org_id: str, flow_id: str) -> Response:
        return Response(s.FlowDetailOut(_flow(request, org_id, flow_id)).data)

    @extend_schema(
        request=s.FlowUpdateIn, responses={200: s.FlowDetailOut, **ERRORS}, summary="Rename or describe (editor)"
    )
    def patch(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.FlowUpdateIn, request)
        flow = services.flow_update(access=access, flow_id=flow_id, **data)
        return Response(s.FlowDetailOut(flow).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a flow and its versions (editor)")
    def delete(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.flow_delete(access=access, flow_id=flow_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowDraftView(APIView):
    @extend_schema(
        request=s.DraftIn,
        responses={200: s.DraftSavedOut, **GRAPH_ERRORS},
        summary="Save the draft (editor); 409 stale_draft when someone saved since `revision`",
    )
    def put(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.DraftIn, request)
        flow, issues = services.flow_draft_save(
            access=access, flow_id=flow_id, graph=data["graph"], base_revision=data["revision"]
        )
        body = {"revision": flow.revision, "issues": [issue.to_dict() for issue in issues]}
        return Response(s.DraftSavedOut(body).data)


class FlowValidateView(APIView):
    @extend_schema(
        request=s.ValidateIn, responses={200: s.IssuesOut, **ERRORS}, summary="Validate a graph or the saved draft"
    )
    def post(self, request: Request, org_id: str, flow_id: str) -> Response:
        flow = _flow(request, org_id, flow_id)
        data = parse_body(s.ValidateIn, request)
        issues = selectors.flow_issues(flow=flow, graph=data.get("graph"))
        return Response(s.IssuesOut({"issues": [issue.to_dict() for issue in issues]}).data)


# --- versions ---------------------------------------------------------------------------------


class FlowVersionListView(APIView):
    @extend_schema(responses={200: s.FlowVersionOut(many=True), **ERRORS}, summary="Versions, newest first")
    def get(self, request: Request, org_id: str, flow_id: str) -> Response:
        flow = _flow(request, org_id, flow_id)
        versions = selectors.flow_version_list(flow=flow)
        context = {"published_version_id": flow.published_version_id}
        return Response(s.FlowVersionOut(versions, many=True, context=context).data)

    @extend_schema(
        request=s.PublishIn,
        responses={201: s.FlowVersionOut, **GRAPH_ERRORS},
        summary=(
            "Publish the draft as the next version (editor); 400 flow_invalid with the issues; "
            "409 gate_* with the evaluation gate's report"
        ),
    )
    def post(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.PublishIn, request)
        version = services.flow_version_publish(
            access=access, flow_id=flow_id, note=data["note"], override_reason=data["override_reason"]
        )
        return Response(_version_out(version, version.flow), status=status.HTTP_201_CREATED)


class FlowVersionDetailView(APIView):
    @extend_schema(responses={200: s.FlowVersionDetailOut, **ERRORS}, summary="A version with its graph")
    def get(self, request: Request, org_id: str, flow_id: str, number: int) -> Response:
        flow = _flow(request, org_id, flow_id)
        version = selectors.flow_version_get(flow=flow, number=number)
        return Response(_version_out(version, flow, s.FlowVersionDetailOut))


class FlowVersionRestoreView(APIView):
    @extend_schema(
        request=None,
        responses={200: s.FlowDetailOut, **ERRORS},
        summary="Copy a version's graph into the draft (editor)",
    )
    def post(self, request: Request, org_id: str, flow_id: str, number: int) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        flow = services.flow_version_restore(access=access, flow_id=flow_id, number=number)
        return Response(s.FlowDetailOut(flow).data)


class FlowRollbackView(APIView):
    @extend_schema(
        request=s.RollbackIn,
        responses={200: s.FlowDetailOut, **ERRORS},
        summary="Publish an earlier version again (editor); the draft is kept",
    )
    def post(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.RollbackIn, request)
        flow = services.flow_rollback(access=access, flow_id=flow_id, number=data["version"])
        return Response(s.FlowDetailOut(flow).data)


class FlowDiffView(APIView):
    @extend_schema(
        responses={200: s.FlowDiffOut, **ERRORS},
        parameters=[
            OpenApiParameter("from", str, description="A version number; default: the published version"),
            OpenApiParameter("to", str, description="A version number or 'draft' (the default)"),
        ],
        summary="What changed between two versions, or a version and the draft",
    )
    def get(self, request: Request, org_id: str, flow_id: str) -> Response:
        flow = _flow(request, org_id, flow_id)
        published = flow.published_version.number if flow.published_version is not None else None
        base = _graph_ref(request, "from")
        base = published if base is None else base
        target = _graph_ref(request, "to")
        target = "draft" if target is None else target
        diff = selectors.flow_diff(flow=flow, base=base, target=target)
        body = {"from": None if base is None else str(base), "to": str(target), **diff}
        return Response(s.FlowDiffOut(body).data)


class FlowExportView(APIView):
    @extend_schema(responses={200: s.FlowExportOut, **ERRORS}, summary="Export the draft (secrets left out)")
    def get(self, request: Request, org_id: str, flow_id: str) -> Response:
        return Response(s.FlowExportOut(services.flow_export(flow=_flow(request, org_id, flow_id))).data)


class FlowDuplicateView(APIView):
    @extend_schema(
        request=s.DuplicateIn, responses={201: s.FlowDetailOut, **ERRORS}, summary="Copy a flow's draft (editor)"
    )
    def post(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.DuplicateIn, request)
        flow = services.flow_duplicate(access=access, flow_id=flow_id, name=data.get("name"))
        return Response(s.FlowDetailOut(flow).data, status=status.HTTP_201_CREATED)


# --- catalog ----------------------------------------------------------------------------------


class NodeTypeListView(APIView):
    @extend_schema(responses={200: s.NodeCatalogOut, **ERRORS}, summary="Node types and tools for the editor")
    def get(self, request: Request) -> Response:
        compatibility = {str(a): [str(b) for b in PortType if compatible(a, b)] for a in PortType}
        catalog = {"node_types": REGISTRY.catalog(), "tools": tool_names(), "port_compatibility": compatibility}
        return Response(s.NodeCatalogOut(catalog).data)


class NodePortsView(APIView):
    @extend_schema(
        request=s.PortsIn,
        responses={200: s.PortsOut, **ERRORS},
        summary="The ports of nodes with their configs (prompt variables, branch routes) for the editor",
    )
    def post(self, request: Request) -> Response:
        data = parse_body(s.PortsIn, request)
        return Response(s.PortsOut({"ports": selectors.node_ports(nodes=data["nodes"])}).data)
