"""Thin views: one access check, parse the input, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.guardrails import selectors, services
from apps.guardrails.api import serializers as s
from apps.guardrails.moderation import local_classify, moderator_for
from apps.serving.gateway import GatewayModels
from apps.serving.selectors import model_endpoint_list
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from flows.guards import GuardPolicy, guard_text
from flows.guards.policy import Models


class PolicyListView(APIView):
    @extend_schema(responses={200: s.PolicyOut(many=True), **ERRORS}, summary="Guard policies (organization, widgets)")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.PolicyOut(selectors.policy_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.PolicyIn,
        responses={200: s.PolicyOut, **ERRORS},
        summary="Set the organization's policy (admin) or a widget's (editor); replaces the one there",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.PolicyIn, request)
        policy = services.policy_put(
            access=access, widget_id=data.get("widget"), config=data["config"], enabled=data["enabled"]
        )
        return Response(s.PolicyOut(policy).data)


class PolicyDetailView(APIView):
    @extend_schema(responses={200: s.PolicyOut, **ERRORS}, summary="A guard policy")
    def get(self, request: Request, org_id: str, policy_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.PolicyOut(selectors.policy_get(organization=access.organization, policy_id=policy_id)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a guard policy")
    def delete(self, request: Request, org_id: str, policy_id: str) -> Response:
        access = org_access(request, org_id)
        policy = selectors.policy_get(organization=access.organization, policy_id=policy_id)
        services.policy_delete(access=access, policy=policy)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyDefaultsView(APIView):
    @extend_schema(responses={200: dict[str, Any], **ERRORS}, summary="A policy with every field at its default")
    def get(self, request: Request, org_id: str) -> Response:
        org_access(request, org_id)
        return Response(GuardPolicy().model_dump(mode="json"))


class PolicyTestView(APIView):
    @extend_schema(
        request=s.PolicyTestIn,
        responses={200: s.VerdictOut, **ERRORS},
        summary="Try a policy on a text: what it finds and does (nothing is stored)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.PolicyTestIn, request)
        policy = services.policy_config_parse(data.get("config") or {})
        models = Models(
            classify=local_classify if policy.injection.enabled and policy.injection.classifier else None,
            moderate=moderator_for(GatewayModels.of(model_endpoint_list(organization=access.organization)))
            if policy.moderation.enabled
            else None,
        )
        verdict = guard_text(policy, data["text"], stage=data["stage"], source=data["source"], models=models)
        body = {
            "action": verdict.action,
            "text": verdict.text,
            "message": verdict.message,
            "hits": [hit.to_dict() for hit in verdict.hits],
        }
        return Response(s.VerdictOut(body).data)


class HitListView(APIView):
    @extend_schema(
        responses={200: s.HitOut(many=True), **ERRORS},
        parameters=[
            OpenApiParameter("run", str, description="Only this run's hits"),
            OpenApiParameter("check", str, description="pii, injection, content, canary, link, schema"),
            OpenApiParameter("limit", int, description="1 to 200, default 50"),
        ],
        summary="Guard hits, newest first",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        raw_limit = request.query_params.get("limit", "50")
        hits = selectors.hit_list(
            organization=access.organization,
            run_id=request.query_params.get("run"),
            check=request.query_params.get("check"),
            limit=int(raw_limit) if raw_limit.isdigit() else 50,
        )
        return Response(s.HitOut(hits, many=True).data)


class HitSummaryView(APIView):
    @extend_schema(responses={200: s.HitSummaryOut(many=True), **ERRORS}, summary="Hits per check, label and action")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.HitSummaryOut(selectors.hit_summary(organization=access.organization), many=True).data)
