"""The runs browser and visitors' feedback: thin views over apps.observability.selectors."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.observability import selectors, services
from apps.observability.api import serializers as s
from apps.observability.conversations import (
    ConversationFilters,
    conversation_export,
    conversation_get,
    conversation_page,
)
from apps.observability.models import AlertEvent
from apps.observability.stats import run_stats
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role
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


def _conversation_filters(data: dict[str, Any]) -> ConversationFilters:
    return ConversationFilters(widget=data.get("widget"), flow=data.get("flow"), thumbs_down=data["thumbs_down"])


class ConversationListView(APIView):
    @extend_schema(
        responses={200: s.ConversationPageOut, **ERRORS},
        parameters=_parameters(s.ConversationQueryIn),
        summary="Conversations (chat sessions), most recently active first",
        operation_id="v1_orgs_conversations_list",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = _query(s.ConversationQueryIn, request).validated_data
        rows, next_cursor = conversation_page(
            organization=access.organization,
            filters=_conversation_filters(data),
            cursor=data.get("cursor"),
            limit=data["limit"],
        )
        return Response({"next": next_cursor, "results": s.ConversationOut(rows, many=True).data})


class ConversationDetailView(APIView):
    @extend_schema(
        responses={200: s.ConversationDetailOut, **ERRORS},
        summary="A conversation as a transcript: each answer with its run and the visitor's feedback",
    )
    def get(self, request: Request, org_id: str, session_id: str) -> Response:
        access = org_access(request, org_id)
        session = conversation_get(organization=access.organization, session_id=session_id)
        return Response(s.ConversationDetailOut(session).data)


class ConversationExportView(APIView):
    @extend_schema(
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One message a line"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One message a row, with a header"),
            **ERRORS,
        },
        parameters=_parameters(s.ConversationExportQueryIn),
        summary="Export conversations (the filters of the list) as JSONL or CSV, at most 10,000",
    )
    def get(self, request: Request, org_id: str) -> HttpResponse:
        access = org_access(request, org_id)
        data = _query(s.ConversationExportQueryIn, request).validated_data
        fmt = data["output"]
        body = b"".join(
            conversation_export(organization=access.organization, filters=_conversation_filters(data), fmt=fmt)
        )
        response = HttpResponse(body, content_type="text/csv" if fmt == "csv" else "application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="conversations.{fmt}"'
        return response


class AlertRuleListView(APIView):
    @extend_schema(responses={200: s.AlertRuleOut(many=True), **ERRORS}, summary="Alert rules, newest first")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        rules = access.organization.alert_rules.order_by("-created_at")  # type: ignore[attr-defined]
        return Response(s.AlertRuleOut(rules, many=True).data)

    @extend_schema(
        request=s.AlertRuleIn,
        responses={201: s.AlertRuleCreatedOut, **ERRORS},
        summary="Create an alert rule (editor); its webhook secret is shown once",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        rule, secret = services.alert_rule_create(access=access, data=parse_body(s.AlertRuleIn, request))
        return Response(s.AlertRuleCreatedOut(rule, context={"secret": secret}).data, status=status.HTTP_201_CREATED)


class AlertRuleDetailView(APIView):
    @extend_schema(responses={200: s.AlertRuleOut, **ERRORS}, summary="An alert rule")
    def get(self, request: Request, org_id: str, rule_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.AlertRuleOut(services.alert_rule_get(access=access, rule_id=rule_id)).data)

    @extend_schema(request=s.AlertRuleUpdateIn, responses={200: s.AlertRuleOut, **ERRORS}, summary="Change a rule")
    def patch(self, request: Request, org_id: str, rule_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.AlertRuleUpdateIn, request)
        return Response(s.AlertRuleOut(services.alert_rule_update(access=access, rule_id=rule_id, data=data)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a rule (editor)")
    def delete(self, request: Request, org_id: str, rule_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.alert_rule_delete(access=access, rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertEventListView(APIView):
    @extend_schema(
        responses={200: s.AlertEventOut(many=True), **ERRORS},
        summary="A rule's history: each time it fired or resolved, with the webhook deliveries",
    )
    def get(self, request: Request, org_id: str, rule_id: str) -> Response:
        access = org_access(request, org_id)
        rule = services.alert_rule_get(access=access, rule_id=rule_id)
        events = AlertEvent.objects.filter(rule=rule).prefetch_related("deliveries").order_by("-at", "-id")[:200]
        return Response(s.AlertEventOut(events, many=True).data)


class RunStatsView(APIView):
    @extend_schema(
        responses={200: s.RunStatsOut, **ERRORS},
        parameters=_parameters(s.StatsQueryIn),
        summary="Dashboard: runs, error rate, latency and time-to-first-token percentiles, tokens and cost, "
        "cost per active user, thumbs, cache hits and savings, per day, per flow, per model alias and top users",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = _query(s.StatsQueryIn, request).validated_data
        version = services.stats_version_check(access=access, flow_id=data.get("flow"), version_id=data.get("version"))
        stats = run_stats(
            organization=access.organization,
            days=data["days"],
            flow=data.get("flow"),
            alias=data.get("alias") or None,
            version=version,
        )
        return Response(s.RunStatsOut(stats).data)
