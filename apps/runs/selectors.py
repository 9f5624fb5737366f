"""Tenant-scoped reads of runs, spans, events and chat sessions."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import QuerySet

from apps.config.db import bound_cursor
from apps.config.errors import NotFound
from apps.runs.models import ChatSession, Run
from apps.tenancy.models import Organization


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


@dataclass(frozen=True)
class RunStartSnapshot:
    """Everything a run start reads, from one statement (`run_start_snapshot`)."""

    flow_id: uuid.UUID
    organization_id: uuid.UUID
    role: str | None  # the actor's role in the flow's organization; None: no access
    draft: dict[str, Any]
    published_version_id: uuid.UUID | None
    published_graph: dict[str, Any] | None
    version_id: uuid.UUID | None  # the numbered version asked for, if any
    version_graph: dict[str, Any] | None
    session_found: bool
    history: list[tuple[str, str]]  # (role, content), oldest first
    budget: int | None
    requests_per_minute: int | None
    used_this_month: int
    calls_last_minute: int  # the organization's model calls in the ledger (every worker's), if rate-limited
    endpoints: list[dict[str, Any]]
    cost_budget: Decimal | None = None
    cost_used_this_month: Decimal = Decimal(0)
    flow_name: str = ""  # for the REST answer, so it needs no read after the run
    published_number: int | None = None
    # The flow's and the widget's own monthly budgets (apps.serving ModelBudget) with what the
    # ledger counted in their scope this month: {tokens, cost, used, spent}; None: no budget.
    flow_budget: dict[str, Any] | None = None
    widget_budget: dict[str, Any] | None = None


@functools.cache
def _run_start_sql() -> str:
    from apps.builder.models import Flow, FlowVersion
    from apps.runs.models import ChatMessage
    from apps.serving.models import ModelBudget, ModelCall, ModelDeployment, ModelEndpoint, ModelQuota, StoredModel
    from apps.tenancy.models import Membership

    t = {
        "flow": Flow._meta.db_table,
        "version": FlowVersion._meta.db_table,
        "membership": Membership._meta.db_table,
        "quota": ModelQuota._meta.db_table,
        "budget": ModelBudget._meta.db_table,
        "call": ModelCall._meta.db_table,
        "endpoint": ModelEndpoint._meta.db_table,
        "deployment": ModelDeployment._meta.db_table,
        "stored_model": StoredModel._meta.db_table,
        "session": ChatSession._meta.db_table,
        "message": ChatMessage._meta.db_table,
    }
    # Every subquery is scoped by the flow's organization (f.organization_id), and the flow itself
    # by the caller's organization when one is given. Only table names are formatted in.
    return f"""
SELECT f.id, f.organization_id, f.draft::text, f.published_version_id, pv.graph::text,
  (SELECT m.role FROM {t["membership"]} m WHERE m.user_id = %(user)s AND m.organization_id = f.organization_id),
  nv.id, nv.graph::text,
  (SELECT s.id FROM {t["session"]} s WHERE s.id = %(session)s AND s.organization_id = f.organization_id),
  (SELECT json_agg(json_build_array(h.role, h.content) ORDER BY h.created_at, h.id)::text FROM (
     SELECT cm.role, cm.content, cm.created_at, cm.id FROM {t["message"]} cm
     JOIN {t["session"]} cs ON cs.id = cm.session_id AND cs.organization_id = f.organization_id
     WHERE cm.session_id = %(session)s ORDER BY cm.created_at DESC, cm.id DESC LIMIT %(history)s) h),
  q.monthly_token_budget, q.requests_per_minute,
  CASE WHEN q.monthly_token_budget IS NOT NULL THEN
    (SELECT COALESCE(SUM(c.input_tokens + c.output_tokens), 0) FROM {t["call"]} c
     WHERE c.organization_id = f.organization_id AND c.at >= %(month)s) END,
  CASE WHEN q.requests_per_minute IS NOT NULL THEN
    (SELECT COUNT(*) FROM {t["call"]} c
     WHERE c.organization_id = f.organization_id AND c.at >= now() - interval '1 minute') END,
  (SELECT json_agg(json_build_object(
     'alias', e.alias, 'kind', e.kind, 'base_url', e.base_url, 'model', e.model,
     'supports_tools', e.supports_tools, 'price_in', e.price_input_per_1k::text,
     'price_out', e.price_output_per_1k::text, 'connect', e.connect_timeout_s,
     'first_token', e.first_token_timeout_s, 'idle', e.idle_timeout_s,
     'api_key_encrypted', e.api_key_encrypted, 'fallbacks', e.fallbacks, 'max_retries', e.max_retries,
     'is_builtin', e.is_builtin, 'cache_ttl', e.cache_ttl_s, 'semantic_threshold', e.semantic_cache_threshold,
     'context_window', COALESCE(e.context_window, CASE WHEN jsonb_typeof(d.engine_args->'max_model_len') = 'number'
       THEN (d.engine_args->>'max_model_len')::numeric::int END),
     'deployment_model_dir', COALESCE(
       (SELECT sm.path FROM {t["stored_model"]} sm WHERE sm.id = d.stored_model_id), d.model_dir),
     'deployment_host', d.host, 'deployment_port', d.port, 'deployment_served_name', d.served_name,
     'deployment_status', d.status
   ) ORDER BY e.alias)::text
   FROM {t["endpoint"]} e LEFT JOIN {t["deployment"]} d ON d.id = e.deployment_id
   WHERE e.organization_id = f.organization_id),
  q.monthly_cost_budget,
  CASE WHEN q.monthly_cost_budget IS NOT NULL THEN
    (SELECT COALESCE(SUM(c.cost), 0) FROM {t["call"]} c
     WHERE c.organization_id = f.organization_id AND c.at >= %(month)s) END,
  f.name, pv.number,
  (SELECT json_build_object('tokens', b.monthly_token_budget, 'cost', b.monthly_cost_budget::text,
     'used', COALESCE(SUM(c.input_tokens + c.output_tokens), 0), 'spent', COALESCE(SUM(c.cost), 0)::text)::text
   FROM {t["budget"]} b LEFT JOIN {t["call"]} c ON c.flow_id = b.flow_id AND c.at >= %(month)s
   WHERE b.flow_id = f.id AND b.organization_id = f.organization_id
   GROUP BY b.id),
  (SELECT json_build_object('tokens', b.monthly_token_budget, 'cost', b.monthly_cost_budget::text,
     'used', COALESCE(SUM(c.input_tokens + c.output_tokens), 0), 'spent', COALESCE(SUM(c.cost), 0)::text)::text
   FROM {t["budget"]} b LEFT JOIN {t["call"]} c ON c.widget_id = b.widget_id AND c.at >= %(month)s
   WHERE b.widget_id = %(widget)s AND b.organization_id = f.organization_id
   GROUP BY b.id)
FROM {t["flow"]} f
LEFT JOIN {t["version"]} pv ON pv.id = f.published_version_id
LEFT JOIN {t["version"]} nv ON nv.flow_id = f.id AND nv.number = %(number)s
LEFT JOIN {t["quota"]} q ON q.organization_id = f.organization_id
WHERE f.id = %(flow)s AND (%(org)s::uuid IS NULL OR f.organization_id = %(org)s::uuid)
"""  # noqa: S608


def run_start_snapshot(
    *,
    flow_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    user_id: int | None,
    version_number: int | None,
    session_id: uuid.UUID | None,
    month_start: Any,
    history_limit: int = 100,
    widget_id: uuid.UUID | None = None,
) -> RunStartSnapshot | None:
    """The flow (in `organization_id` when given), the user's role there, the graph asked for,
    the session and its history, the quota and the organization's model endpoints: one round trip
    instead of six ORM queries, because every live run starts with it. None: no such flow."""
    params = {
        "flow": flow_id,
        "org": organization_id,
        "user": user_id,
        "number": version_number,
        "session": session_id,
        "history": history_limit,
        "month": month_start,
        "widget": widget_id,
    }
    # Prepared once per connection: its planning cost more than running it.
    with bound_cursor() as cursor:
        cursor.execute(_run_start_sql(), params, prepare=True)
        row = cursor.fetchone()
    if row is None:
        return None
    (
        fid,
        org,
        draft,
        published_id,
        published,
        role,
        vid,
        vgraph,
        session,
        history,
        budget,
        rpm,
        used,
        recent,
        endpoints,
        cost_budget,
        cost_used,
        flow_name,
        published_number,
        flow_budget,
        widget_budget,
    ) = row
    return RunStartSnapshot(
        flow_id=fid,
        organization_id=org,
        role=role,
        draft=orjson.loads(draft),
        published_version_id=published_id,
        published_graph=orjson.loads(published) if published is not None else None,
        version_id=vid,
        version_graph=orjson.loads(vgraph) if vgraph is not None else None,
        session_found=session is not None,
        history=[(r, c) for r, c in orjson.loads(history)] if history else [],
        budget=budget,
        requests_per_minute=rpm,
        used_this_month=int(used or 0),
        calls_last_minute=int(recent or 0),
        endpoints=orjson.loads(endpoints) if endpoints else [],
        cost_budget=cost_budget,
        cost_used_this_month=cost_used if cost_used is not None else Decimal(0),
        flow_name=flow_name,
        published_number=published_number,
        flow_budget=orjson.loads(flow_budget) if flow_budget is not None else None,
        widget_budget=orjson.loads(widget_budget) if widget_budget is not None else None,
    )
