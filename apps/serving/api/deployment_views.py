"""Thin views for deployments, the model store, quotas, the ledger and stats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.config.serializers import ErrorSerializer
from apps.serving import deployments as d
from apps.serving.accounting import tokens_used_this_month
from apps.serving.api import serializers as s
from apps.serving.api.catalog_views import LEDGER_PARAMETERS, ledger_filters
from apps.serving.budgets import budget_delete, budget_list, budget_set
from apps.serving.models import ModelQuota
from apps.serving.selectors import cache_figures_this_month, model_call_filter, model_cost_this_month
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role

MAX_HOURS = 24 * 31


class DeploymentListView(APIView):
    @extend_schema(responses={200: s.DeploymentOut(many=True), **ERRORS}, summary="Managed vLLM deployments")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.DeploymentOut(d.deployment_list(organization=access.organization), many=True).data)

    @extend_schema(request=s.DeploymentIn, responses={201: s.DeploymentOut, **ERRORS}, summary="Deploy a model (admin)")
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        deployment = d.deployment_create(access=access, **parse_body(s.DeploymentIn, request))
        return Response(s.DeploymentOut(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailView(APIView):
    @extend_schema(responses={200: s.DeploymentOut, **ERRORS}, summary="One deployment")
    def get(self, request: Request, org_id: str, deployment_id: int) -> Response:
        access = org_access(request, org_id)
        deployment = d.deployment_get(organization=access.organization, deployment_id=deployment_id)
        return Response(s.DeploymentOut(deployment).data)

    @extend_schema(
        request=s.DeploymentChangeIn, responses={200: s.DeploymentOut, **ERRORS}, summary="Change a deployment (admin)"
    )
    def patch(self, request: Request, org_id: str, deployment_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        changes = parse_body(s.DeploymentChangeIn, request, partial=True)
        deployment = d.deployment_update(access=access, deployment_id=deployment_id, changes=changes)
        return Response(s.DeploymentOut(deployment).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a deployment (admin); its process is stopped")
    def delete(self, request: Request, org_id: str, deployment_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        d.deployment_delete(access=access, deployment_id=deployment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentActionView(APIView):
    @extend_schema(
        request=s.DeploymentActionIn,
        responses={200: s.DeploymentOut, **ERRORS},
        summary="Start, stop or restart a deployment (admin)",
    )
    def post(self, request: Request, org_id: str, deployment_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        action = parse_body(s.DeploymentActionIn, request)["action"]
        deployment = d.deployment_act(access=access, deployment_id=deployment_id, action=action)
        return Response(s.DeploymentOut(deployment).data)


class DeploymentLogView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("offset", int, required=False)],
        responses={200: s.DeploymentLogOut, **ERRORS},
        summary="The deployment's log from `offset` (admin); poll with the returned offset to follow it",
    )
    def get(self, request: Request, org_id: str, deployment_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        deployment = d.deployment_get(organization=access.organization, deployment_id=deployment_id)
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset = 0
        text, next_offset = d.deployment_log(deployment=deployment, offset=offset)
        return Response({"text": text, "offset": next_offset})


class StoredModelListView(APIView):
    @extend_schema(responses={200: s.StoredModelOut(many=True), **ERRORS}, summary="The model store")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.StoredModelOut(d.stored_model_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.StoredModelIn,
        responses={201: s.StoredModelOut, **ERRORS},
        summary="Import a model (admin): answers at once, status `importing`; poll the list for progress",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.StoredModelIn, request)
        stored = d.stored_model_import(access=access, name=data["name"], source=data["origin"])
        return Response(s.StoredModelOut(stored).data, status=status.HTTP_201_CREATED)


class StoredModelDetailView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a stored model and its files (admin)")
    def delete(self, request: Request, org_id: str, stored_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        d.stored_model_delete(access=access, stored_id=stored_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _quota_body(quota: ModelQuota) -> dict[str, Any]:
    organization = quota.organization
    cache = cache_figures_this_month(organization=organization)
    return {
        "monthly_token_budget": quota.monthly_token_budget,
        "monthly_cost_budget": _money(quota.monthly_cost_budget),
        "requests_per_minute": quota.requests_per_minute,
        "used_this_month": tokens_used_this_month(organization.pk),
        "spent_this_month": str(model_cost_this_month(organization=organization)),
        "calls_this_month": cache.calls,
        "cache_hits_this_month": cache.hits,
        "saved_this_month": str(cache.saved),
    }


class QuotaView(APIView):
    @extend_schema(responses={200: s.QuotaOut, **ERRORS}, summary="The organization's model budget and rate limit")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(_quota_body(d.quota_get(organization=access.organization)))

    @extend_schema(request=s.QuotaIO, responses={200: s.QuotaOut, **ERRORS}, summary="Set the budget (admin)")
    def put(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        return Response(_quota_body(d.quota_set(access=access, **parse_body(s.QuotaIO, request))))


class ModelCallListView(APIView):
    @extend_schema(
        parameters=[*LEDGER_PARAMETERS, OpenApiParameter("limit", int, required=False, description="1-1000, 200")],
        responses={200: s.ModelCallOut(many=True), 400: ErrorSerializer, **ERRORS},
        summary="Model calls (the gateway's ledger), newest first, filtered",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        filters, limit = ledger_filters(request)
        calls = model_call_filter(organization=access.organization, filters=filters)[:limit]
        return Response(s.ModelCallOut(calls, many=True).data)


class ModelStatsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("hours", int, required=False)],
        responses={200: s.ModelStatsOut(many=True), **ERRORS},
        summary="Per model and minute: requests, tokens/s, time to first token, cost",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        try:
            hours = min(MAX_HOURS, max(1, int(request.query_params.get("hours", "24"))))
        except ValueError:
            hours = 24
        return Response(s.ModelStatsOut(d.model_stats(organization=access.organization, hours=hours), many=True).data)


class ModelBudgetListView(APIView):
    @extend_schema(
        responses={200: s.ModelBudgetOut(many=True), **ERRORS},
        summary="Budgets per flow and per widget, with what each used this month",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.ModelBudgetOut(budget_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.ModelBudgetIn,
        responses={200: s.ModelBudgetOut, 400: ErrorSerializer, **ERRORS},
        summary="Set a flow's or a widget's monthly budget (admin; replaces its budget)",
    )
    def put(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        budget = budget_set(access=access, **parse_body(s.ModelBudgetIn, request))
        return Response(s.ModelBudgetOut(budget).data)


class ModelBudgetDetailView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a flow's or a widget's budget (admin)")
    def delete(self, request: Request, org_id: str, budget_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        budget_delete(access=access, budget_id=budget_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
