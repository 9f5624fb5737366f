"""Tenant-scoped reads of runs, spans, events and chat sessions."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from apps.config.errors import NotFound
from apps.runs.models import ChatSession, Run
from apps.tenancy.models import Organization


def run_list(*, organization: Organization, filters: dict[str, Any]) -> QuerySet[Run]:
    runs = Run.objects.filter(organization=organization).select_related("flow", "version").order_by("-started_at")
    if filters.get("flow"):
        runs = runs.filter(flow_id=filters["flow"])
    if filters.get("status"):
        runs = runs.filter(status=filters["status"])
    if filters.get("source"):
        runs = runs.filter(source=filters["source"])
    if filters.get("session"):
        runs = runs.filter(session_id=filters["session"])
    return runs


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def run_get(*, organization: Organization, run_id: object) -> Run:
    parsed = _uuid(run_id)
    run = (
        None
        if parsed is None
        else Run.objects.select_related("flow", "version").filter(organization=organization, pk=parsed).first()
    )
    if run is None:
        raise NotFound("Run not found.", code="run_not_found")
    return run


def session_list(*, organization: Organization, flow_id: object | None = None) -> QuerySet[ChatSession]:
    sessions = ChatSession.objects.filter(organization=organization).order_by("-updated_at")
    parsed = _uuid(flow_id) if flow_id else None
    return sessions.filter(flow_id=parsed) if parsed else sessions


def session_get(*, organization: Organization, session_id: object) -> ChatSession:
    parsed = _uuid(session_id)
    session = None if parsed is None else ChatSession.objects.filter(organization=organization, pk=parsed).first()
    if session is None:
        raise NotFound("Chat session not found.", code="session_not_found")
    return session
