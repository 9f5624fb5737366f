"""Runs and chat sessions: events (for resuming), cancel, sessions. The list and the trace are
apps.observability's (`run-list`, `run-detail`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.runs import selectors
from apps.runs.api import serializers as s
from apps.runs.models import Run
from apps.runs.remote import run_cancel_request
from apps.runs.replay import stored_events
from apps.tenancy.api.common import ERRORS, org_access
from apps.tenancy.models import Role


class RunEventListView(APIView):
    @extend_schema(
        responses={200: s.EventOut(many=True), **ERRORS},
        parameters=[OpenApiParameter("after", int)],
        summary="The run's events after a sequence number",
    )
    def get(self, request: Request, org_id: str, run_id: str) -> Response:
        access = org_access(request, org_id)
        run = selectors.run_get(organization=access.organization, run_id=run_id)
        after = request.query_params.get("after", "0")
        return Response(stored_events(str(run.pk), int(after) if after.isdigit() else 0))


class RunCancelView(APIView):
    @extend_schema(request=None, responses={202: None, 409: s.EventOut, **ERRORS}, summary="Cancel a running run")
    def post(self, request: Request, org_id: str, run_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        run = selectors.run_get(organization=access.organization, run_id=run_id)
        if run.status != Run.Status.RUNNING or not run_cancel_request(run):
            return Response(
                {"code": "run_not_running", "message": "That run is not running."}, status=status.HTTP_409_CONFLICT
            )
        return Response(status=status.HTTP_202_ACCEPTED)


class SessionListView(APIView):
    @extend_schema(
        responses={200: s.SessionOut(many=True), **ERRORS},
        parameters=[OpenApiParameter("flow", str)],
        summary="Chat sessions",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        sessions = selectors.session_list(organization=access.organization, flow_id=request.query_params.get("flow"))
        return Response(s.SessionOut(sessions[:200], many=True).data)


class SessionDetailView(APIView):
    @extend_schema(responses={200: s.SessionDetailOut, **ERRORS}, summary="A chat session with its messages")
    def get(self, request: Request, org_id: str, session_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(
            s.SessionDetailOut(selectors.session_get(organization=access.organization, session_id=session_id)).data
        )
