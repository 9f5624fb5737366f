"""Thin views: parse input, call one access check and one service/selector, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.config.serializers import ErrorSerializer
from apps.serving import selectors, services
from apps.serving.api import serializers as s
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role


class ModelEndpointListView(APIView):
    @extend_schema(responses={200: s.ModelEndpointOut(many=True), **ERRORS}, summary="Model endpoints")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        endpoints = selectors.model_endpoint_list(organization=access.organization)
        return Response(s.ModelEndpointOut(endpoints, many=True).data)

    @extend_schema(
        request=s.ModelEndpointIn,
        responses={201: s.ModelEndpointOut, **ERRORS},
        summary="Add a model endpoint (admin); its API key is stored encrypted and never shown",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.ModelEndpointIn, request)
        endpoint = services.model_endpoint_create(access=access, **data)
        return Response(s.ModelEndpointOut(endpoint).data, status=status.HTTP_201_CREATED)


class ModelEndpointDetailView(APIView):
    @extend_schema(responses={200: s.ModelEndpointOut, **ERRORS}, summary="One model endpoint")
    def get(self, request: Request, org_id: str, endpoint_id: int) -> Response:
        access = org_access(request, org_id)
        endpoint = selectors.model_endpoint_get(organization=access.organization, endpoint_id=endpoint_id)
        return Response(s.ModelEndpointOut(endpoint).data)

    @extend_schema(
        request=s.ModelEndpointIn(partial=True),
        responses={200: s.ModelEndpointOut, **ERRORS},
        summary="Change a model endpoint (admin)",
    )
    def patch(self, request: Request, org_id: str, endpoint_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        changes = parse_body(s.ModelEndpointIn, request, partial=True)
        endpoint = services.model_endpoint_update(access=access, endpoint_id=endpoint_id, changes=changes)
        return Response(s.ModelEndpointOut(endpoint).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a model endpoint (admin)")
    def delete(self, request: Request, org_id: str, endpoint_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        services.model_endpoint_delete(access=access, endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelEndpointTestView(APIView):
    @extend_schema(
        request=s.ModelTestIn,
        responses={200: s.ModelTestOut, 502: ErrorSerializer, **ERRORS},
        summary="Send a test prompt to the model (editor); 502 model_unavailable | model_timeout",
    )
    def post(self, request: Request, org_id: str, endpoint_id: int) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.ModelTestIn, request)
        result = services.model_endpoint_test(
            access=access, endpoint_id=endpoint_id, prompt=data["prompt"], max_tokens=data["max_tokens"]
        )
        return Response(s.ModelTestOut(result).data)
