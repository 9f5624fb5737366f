"""The dashboard's and the runs list's queries over a million runs (issue 17): one organization
with 1,000,000 runs over 11.6 days (one INSERT ... SELECT generate_series into the table without
its secondary indexes, which are then built, and ANALYZE), another with 20,000. Each query the
views run is explained (EXPLAIN (FORMAT JSON)) as PostgreSQL plans it at that size: the runs table
is only ever read through an index (no Seq Scan on it, nor a sort of its rows), the dashboard reads
the rollups plus an index range of the runs after the mark, and the answers are right. One seeding
for every check: the seeding is most of the test's time."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.observability.models import PrincipalRollup, RollupMark, RunRollup
from apps.observability.rollups import rollups_refresh
from apps.observability.selectors import RunFilters, run_page
from apps.observability.stats import run_stats
from apps.runs.models import Run
from tests.conftest import Member
from tests.support.runs_seed import seed_runs

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 1_000_000
OTHER = 20_000  # another organization's runs: the organization's index range must stay its own
RUNS = Run._meta.db_table


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(sql: str) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (doc,) = cursor.fetchone()
    return list(_nodes(doc[0]["Plan"]))


def _runs_reads(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's nodes that read the runs table."""
    return [n for n in nodes if n.get("Relation Name") == RUNS]


def _captured(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [q["sql"] for q in captured.captured_queries]


def _assert_indexed(sql: str, *, index: str | None = None) -> list[dict[str, Any]]:
    nodes = _explain(sql)
    reads = _runs_reads(nodes)
    assert reads, sql
    kinds = {n["Node Type"] for n in reads}
    assert "Seq Scan" not in kinds, (kinds, sql)
    if index is not None:  # on the read itself, or on the bitmap index scan under it
        assert any(n.get("Index Name") == index for n in nodes), ([n.get("Index Name") for n in nodes], sql)
    return nodes


def _backend_cpu(pid: int) -> float:
    """A PostgreSQL backend's CPU seconds so far (the test's server is local): the seeding's own
    work, which a busy machine stretches in wall time but not in CPU."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _indexes_built_after(table: str) -> Iterator[None]:
    """The table's secondary indexes (the migrations' own definitions, read back from pg_indexes)
    dropped for a bulk insert and built again after it: one sort per index instead of a million
    index insertions (the GIN text index's above all). The primary key stays."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s
               AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)""",
            [table, table],
        )
        definitions = cursor.fetchall()
        for name, _ in definitions:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for name, definition in definitions:
                started = time.perf_counter()
                cursor.execute(definition)
                print(f"  index {name} built in {time.perf_counter() - started:.1f} s")
            cursor.execute("RESET maintenance_work_mem")


@pytest.fixture
def million(org_a: Member, org_b: Member, publish_flow: Callable[..., Any]) -> dict[str, Any]:
    from apps.builder.models import Flow

    flow = publish_flow(publish=False)
    other = Flow.objects.create(organization=org_b.organization, name="b", draft={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    started, cpu = time.perf_counter(), _backend_cpu(backend)
    with _indexes_built_after(RUNS):
        seed_runs(organization_id=org_a.organization.pk, flow_id=flow["id"], rows=ROWS, analyze=False, first_id=0)
        seed_runs(organization_id=org_b.organization.pk, flow_id=other.pk, rows=OTHER, analyze=False, first_id=ROWS)
        print(f"\n  inserted in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {RUNS}")
    seeded, cpu = time.perf_counter() - started, _backend_cpu(backend) - cpu
    now = datetime.now(tz=UTC)
    # The worker has rolled up to the start of yesterday (its rows for the days before are not
    # needed for plans): the roll of a day and a half of runs, not of the 11.6 days.
    mark = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    RollupMark.objects.update_or_create(name="runs", defaults={"rolled_to": mark})
    started = time.perf_counter()
    rollups_refresh(now)
    rolled = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {RunRollup._meta.db_table}")
        cursor.execute(f"ANALYZE {PrincipalRollup._meta.db_table}")
    print(
        f"\nseeded {ROWS + OTHER:,} runs in {seeded:.1f} s ({cpu:.1f} s of PostgreSQL CPU), "
        f"rolled {now - mark} of them in {rolled:.1f} s"
    )
    return {"flow": flow, "now": now, "mark": mark}


def test_a_million_runs_are_read_through_indexes(org_a: Member, million: dict[str, Any]) -> None:
    now = million["now"]
    # The dashboard, 7 days and today: rollups, plus the runs after the mark by an index range.
    for days in (7, 1, 2):
        stats, queries = _captured(lambda days=days: run_stats(organization=org_a.organization, days=days, now=now))
        if stats.since >= million["mark"]:  # every hour of the range rolled or after the mark: exact
            expected = Run.objects.filter(organization=org_a.organization, started_at__gte=stats.since).count()
            assert stats.total["runs"] == expected and stats.total["failed"] > 0
            assert stats.total["active_users"] == 0  # generated runs are nobody's
        on_runs = [sql for sql in queries if RUNS in sql]
        assert len(on_runs) >= 3, queries  # runs, who ran them, thumbs
        for sql in on_runs:
            nodes = _assert_indexed(sql)
            if "started_at >=" in sql:  # a range of the runs' time: read as an index range
                ranges = [n for n in nodes if "started_at" in str(n.get("Index Cond", ""))]
                assert ranges, f"no index range on started_at: {sql}"
    # A flow filter takes the flow's index or the organization's, never the table.
    stats, queries = _captured(
        lambda: run_stats(organization=org_a.organization, days=7, now=now, flow=million["flow"]["id"])
    )
    assert stats.total["runs"] > 0
    for sql in (q for q in queries if RUNS in q):
        _assert_indexed(sql)

    # The runs list: the first page, a deep page, filters and the text search.
    page, queries = _captured(
        lambda: run_page(organization=org_a.organization, filters=RunFilters(), cursor=None, limit=50)
    )
    [sql] = [q for q in queries if RUNS in q]
    nodes = _assert_indexed(sql, index="run_org_recent_id")
    sorts = [n for n in nodes if n["Node Type"] == "Sort" and RUNS in str(n.get("Sort Key"))]
    assert not sorts, "the page sorts the runs instead of walking the index"
    assert len(page.runs) == 50
    cursor = page.next
    for _ in range(20):  # 1,000 rows deep
        page = run_page(organization=org_a.organization, filters=RunFilters(), cursor=cursor, limit=50)
        cursor = page.next
    deep, queries = _captured(
        lambda: run_page(organization=org_a.organization, filters=RunFilters(), cursor=cursor, limit=50)
    )
    [sql] = [q for q in queries if RUNS in q]
    _assert_indexed(sql, index="run_org_recent_id")
    assert len(deep.runs) == 50 and deep.runs[0].started_at < page.runs[-1].started_at
    for filters in (
        RunFilters(status="failed"),
        RunFilters(source="widget"),
        RunFilters(error_code="model_timeout"),
        RunFilters(flow=million["flow"]["id"]),
        RunFilters(since=now.replace(hour=0, minute=0)),
    ):
        got, queries = _captured(
            lambda filters=filters: run_page(organization=org_a.organization, filters=filters, cursor=None, limit=50)
        )
        [sql] = [q for q in queries if RUNS in q]
        _assert_indexed(sql)
        assert len(got.runs) == 50, filters
    found, queries = _captured(
        lambda: run_page(organization=org_a.organization, filters=RunFilters(q="zebra"), cursor=None, limit=50)
    )
    [sql] = [q for q in queries if RUNS in q]
    _assert_indexed(sql, index="run_text_search")
    assert len(found.runs) == 50 and all("zebra" in r.inputs["message"] for r in found.runs)
