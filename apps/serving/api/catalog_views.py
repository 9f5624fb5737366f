"""Thin views of the Models page's helpers: model discovery on a server, and the ledger as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.config.serializers import ErrorSerializer
from apps.serving.api import serializers as s
from apps.serving.discovery import model_discover
from apps.serving.selectors import CallFilters, model_call_filter
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Organization, Role

EXPORT_MAX_ROWS = 100_000
EXPORT_COLUMNS = [
    "at",
    "alias",
    "served_by",
    "status",
    "input_tokens",
    "output_tokens",
    "cost",
    "ttft_ms",
    "latency_ms",
    "flow_id",
    "run_id",
    "user_id",
    "error",
]
LEDGER_PARAMETERS = [
    OpenApiParameter("alias", str, required=False, description="The alias asked for"),
    OpenApiParameter("served_by", str, required=False, description="The alias that answered (a fallback?)"),
    OpenApiParameter("status", str, required=False, enum=["ok", "failed", "refused"]),
    OpenApiParameter("flow", OpenApiTypes.UUID, required=False),
    OpenApiParameter("run", OpenApiTypes.UUID, required=False),
    OpenApiParameter("user", int, required=False),
    OpenApiParameter("since", OpenApiTypes.DATETIME, required=False),
    OpenApiParameter("until", OpenApiTypes.DATETIME, required=False),
]


def ledger_filters(request: Request) -> tuple[CallFilters, int]:
    """The ledger's filters and row limit from the query string (400 `invalid` when malformed)."""
    query = s.ModelCallQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(query.validated_data)
    filters = CallFilters(
        alias=data.get("alias"),
        served_by=data.get("served_by"),
        status=data.get("status"),
        flow_id=data.get("flow"),
        run_id=data.get("run"),
        user_id=data.get("user"),
        since=data.get("since"),
        until=data.get("until"),
    )
    return filters, int(data["limit"])


class ModelDiscoverView(APIView):
    @extend_schema(
        request=s.ModelDiscoverIn,
        responses={200: s.ModelDiscoverOut, 502: ErrorSerializer, **ERRORS},
        summary="The models an OpenAI-compatible server lists (admin); through the egress policy; "
        "discovery_failed (400, or 502 when the server failed) says why in words, never with its body",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.ModelDiscoverIn, request)
        models = model_discover(
            access=access, base_url=data["base_url"], api_key=data.get("api_key"), endpoint_id=data.get("endpoint")
        )
        return Response({"models": [{"id": m.id, "context_window": m.context_window} for m in models]})


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def ledger_csv(organization: Organization, filters: CallFilters) -> str:
    """Built whole within the request: the database connection goes back to the pool with it."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    calls = model_call_filter(organization=organization, filters=filters).values_list(*EXPORT_COLUMNS)
    for row in calls[:EXPORT_MAX_ROWS].iterator(chunk_size=2000):
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


class ModelCallExportView(APIView):
    @extend_schema(
        parameters=LEDGER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The ledger as CSV"), **ERRORS},
        summary="The model-call ledger as CSV (newest first, at most 100,000 rows), with the list's filters",
    )
    def get(self, request: Request, org_id: str) -> HttpResponse:
        access = org_access(request, org_id)
        filters, _ = ledger_filters(request)
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response = HttpResponse(ledger_csv(access.organization, filters), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="model-calls-{stamp}.csv"'
        return response
