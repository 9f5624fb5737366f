"""Thin views: one access check, parse the input, call one service or selector, render."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role
from apps.widgets import selectors, services
from apps.widgets.api import serializers as s


class WidgetListView(APIView):
    @extend_schema(responses={200: s.WidgetOut(many=True), **ERRORS}, summary="Widgets, most recently updated first")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.WidgetOut(selectors.widget_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.WidgetCreateIn, responses={201: s.WidgetOut, **ERRORS}, summary="Publish a flow as a widget (editor)"
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.WidgetCreateIn, request)
        widget = services.widget_create(access=access, flow_id=data.pop("flow"), data=data)
        return Response(s.WidgetOut(widget).data, status=status.HTTP_201_CREATED)


class WidgetDetailView(APIView):
    @extend_schema(responses={200: s.WidgetOut, **ERRORS}, summary="A widget")
    def get(self, request: Request, org_id: str, widget_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.WidgetOut(selectors.widget_get(organization=access.organization, widget_id=widget_id)).data)

    @extend_schema(request=s.WidgetUpdateIn, responses={200: s.WidgetOut, **ERRORS}, summary="Change a widget (editor)")
    def patch(self, request: Request, org_id: str, widget_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.WidgetUpdateIn, request)
        widget = services.widget_update(access=access, widget_id=widget_id, data=data)
        return Response(s.WidgetOut(widget).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a widget (editor)")
    def delete(self, request: Request, org_id: str, widget_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.widget_delete(access=access, widget_id=widget_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WidgetRotateKeyView(APIView):
    @extend_schema(request=None, responses={200: s.WidgetOut, **ERRORS}, summary="Replace the public key (editor)")
    def post(self, request: Request, org_id: str, widget_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        return Response(s.WidgetOut(services.widget_rotate_key(access=access, widget_id=widget_id)).data)


class WidgetAnalyticsView(APIView):
    @extend_schema(
        responses={200: s.AnalyticsOut, **ERRORS},
        parameters=[OpenApiParameter("days", int, description="1 to 90, default 30")],
        summary="Conversations, messages, feedback, tokens and cost per day",
    )
    def get(self, request: Request, org_id: str, widget_id: str) -> Response:
        access = org_access(request, org_id)
        widget = selectors.widget_get(organization=access.organization, widget_id=widget_id)
        raw = request.query_params.get("days", "30")
        days = min(90, max(1, int(raw))) if raw.isdigit() else 30
        return Response(s.AnalyticsOut(selectors.widget_analytics(widget=widget, days=days)).data)
