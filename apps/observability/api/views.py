"""The runs browser and visitors' feedback: thin views over apps.observability.selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.observability import selectors
from apps.observability.api import serializers as s
from apps.tenancy.api.common import ERRORS, org_access
from apps.widgets.models import Feedback


def _query(serializer_class: type[Any], request: Request) -> Any:
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer


def _parameters(serializer_class: type[Any]) -> list[OpenApiParameter]:
    kinds = {"IntegerField": int, "BooleanField": bool}
    return [
        OpenApiParameter(
            name,
            kinds.get(type(field).__name__, str),
            description=str(field.help_text or ""),
            enum=list(field.choices) if hasattr(field, "choices") else None,
        )
        for name, field in serializer_class().fields.items()
    ]


class RunListView(APIView):
    @extend_schema(
        responses={200: s.RunPageOut, **ERRORS},
        parameters=_parameters(s.RunQueryIn),
        summary="Runs, newest first, a keyset page at a time (`next` -> `cursor`)",
        operation_id="v1_orgs_runs_list",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        query = _query(s.RunQueryIn, request)
        page = selectors.run_page(
            organization=access.organization,
            filters=query.filters(),
            cursor=query.validated_data.get("cursor"),
            limit=query.validated_data["limit"],
        )
        return Response({"next": page.next, "results": s.RunRowOut(page.runs, many=True).data})


class RunDetailView(APIView):
    @extend_schema(
        responses={200: s.RunTraceOut, **ERRORS},
        summary="One run with its trace: spans as a waterfall, model calls, feedback, the error in words",
    )
    def get(self, request: Request, org_id: str, run_id: str) -> Response:
        access = org_access(request, org_id)
        trace = selectors.run_trace(organization=access.organization, run_id=run_id)
        return Response(s.RunTraceOut(trace.run, context={"trace": trace}).data)


class FeedbackListView(APIView):
    @extend_schema(
        responses={200: s.FeedbackPageOut, **ERRORS},
        parameters=_parameters(s.FeedbackQueryIn),
        summary="Visitors' thumbs and comments, newest first",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = _query(s.FeedbackQueryIn, request).validated_data
        rating = {"up": Feedback.Rating.UP, "down": Feedback.Rating.DOWN}.get(data.get("rating", ""))
        rows, next_cursor = selectors.feedback_list(
            organization=access.organization,
            rating=rating,
            widget=data.get("widget"),
            flow=data.get("flow"),
            commented=data["commented"],
            cursor=data.get("cursor"),
            limit=data["limit"],
        )
        return Response({"next": next_cursor, "results": s.FeedbackItemOut(rows, many=True).data})
