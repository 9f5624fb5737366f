"""The runs browser's queries use their indexes on a large table (no sequential scan, no sort of
every run): the page is a range read of (organization, started_at, id), and the text filter a
GIN index scan. 50,000 generated runs in two organizations; tests/bench/bench_runs_browser.py
times the same pages at 1M."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.observability.selectors import RunFilters, run_page
from apps.runs.models import Run
from tests.conftest import Member
from tests.support.runs_seed import seed_runs

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 50_000


def _plan_of_page(member: Member, filters: RunFilters, cursor: str | None = None) -> tuple[str, Any]:
    with CaptureQueriesContext(connection) as captured:
        page = run_page(organization=member.organization, filters=filters, cursor=cursor, limit=50)
    [query] = [q["sql"] for q in captured.captured_queries if Run._meta.db_table in q["sql"]]
    with connection.cursor() as cursor_:
        cursor_.execute(f"EXPLAIN {query}")
        plan = "\n".join(row[0] for row in cursor_.fetchall())
    return plan, page


@pytest.fixture
def large(org_a: Member, org_b: Member, publish_flow: Callable[..., Any]) -> None:
    from apps.builder.models import Flow

    flow = publish_flow(publish=False)
    seed_runs(organization_id=org_a.organization.pk, flow_id=flow["id"], rows=ROWS)
    other = Flow.objects.create(organization=org_b.organization, name="b", draft={})
    seed_runs(organization_id=org_b.organization.pk, flow_id=other.pk, rows=ROWS // 5)


def test_runs_page_reads_the_keyset_index_at_any_depth(org_a: Member, large: None) -> None:
    plan, first = _plan_of_page(org_a, RunFilters())
    assert "run_org_recent_id" in plan and "Seq Scan on runs_run" not in plan and "Sort Key: runs_run" not in plan, plan
    cursor = first.next
    for _ in range(3):
        plan, page = _plan_of_page(org_a, RunFilters(), cursor)
        cursor = page.next
    assert "run_org_recent_id" in plan and "Seq Scan on runs_run" not in plan and "Sort Key: runs_run" not in plan, plan
    assert len(page.runs) == 50 and page.runs[0].started_at < first.runs[-1].started_at


def test_runs_page_filters_keep_an_index_scan(org_a: Member, large: None) -> None:
    for filters in (RunFilters(status="failed"), RunFilters(source="widget"), RunFilters(error_code="model_timeout")):
        plan, page = _plan_of_page(org_a, filters)
        assert "Seq Scan on runs_run" not in plan, (filters, plan)
        assert len(page.runs) == 50


def test_runs_text_search_uses_the_gin_index(org_a: Member, large: None) -> None:
    plan, page = _plan_of_page(org_a, RunFilters(q="zebra"))
    assert "run_text_search" in plan and "Seq Scan on runs_run" not in plan, plan
    assert len(page.runs) == 50 and page.next is not None  # 51 of the runs mention it
    assert all("zebra" in r.inputs["message"] for r in page.runs)


def test_conversations_page_reads_the_recent_sessions_index(org_a: Member, org_b: Member) -> None:
    from apps.observability.conversations import ConversationFilters, conversation_page
    from apps.runs.models import ChatSession

    with connection.cursor() as cursor:
        for org in (org_a, org_b):
            cursor.execute(
                f"""
                INSERT INTO {ChatSession._meta.db_table} (id, organization_id, title, created_at, updated_at)
                SELECT gen_random_uuid(), %s, 'chat ' || i, now() - make_interval(secs => i),
                  now() - make_interval(secs => i)
                FROM generate_series(1, 20000) AS i
                """,  # noqa: S608 - only the table name is formatted in
                [org.organization.pk],
            )
        cursor.execute(f"ANALYZE {ChatSession._meta.db_table}")
    with CaptureQueriesContext(connection) as captured:
        rows, cursor_ = conversation_page(
            organization=org_a.organization, filters=ConversationFilters(), cursor=None, limit=50
        )
    [query] = [q["sql"] for q in captured.captured_queries if ChatSession._meta.db_table in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {query}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "session_org_recent" in plan and "Seq Scan on runs_chatsession" not in plan, plan
    assert "Aggregate" not in plan.split("SubPlan")[0], plan  # counts per row, not a GROUP BY of every session
    assert len(rows) == 50 and cursor_ is not None
