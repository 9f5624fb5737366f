"""The runs browser at scale: an organization with N generated runs (default 1,000,000, inserted
with generate_series), then the server time of GET .../runs/ pages through the real view (access
check, query, serialization): the first page, a deep page (after 20 cursors), filtered pages and
full-text searches, and one run's trace. Prints p50/p95 per case; never asserts a time.

Then the dashboard before and after its hourly rollups, in the same run on the same runs: the
previous dashboard query (percentiles and sums over every run of the range, kept here as the
baseline), the rollup's first roll (a backfill of every run) and a steady tick, and the
dashboard read from the rollups (apps/observability/stats.py), through the view.

    TRELLIS_DB_NAME=trellis_bench_runs .venv/bin/python tests/bench/bench_runs_browser.py [--rows N]

The database is its own (TRELLIS_DB_NAME); the runs stay there between runs of the script
(--reseed starts again).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
os.environ.setdefault("TRELLIS_DB_NAME", "trellis_bench_runs")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Aggregate, Count, FloatField, Q, Sum  # noqa: E402
from django.db.models.functions import TruncDate  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.builder.models import Flow  # noqa: E402
from apps.observability.models import GuardRollup, ModelRollup, RollupMark, RunRollup  # noqa: E402
from apps.observability.rollups import rollups_refresh  # noqa: E402
from apps.runs.models import Run  # noqa: E402
from apps.tenancy.access import Actor  # noqa: E402
from apps.tenancy.models import Organization  # noqa: E402
from apps.tenancy.services import organization_create  # noqa: E402
from tests.bench.benchlib import percentile  # noqa: E402
from tests.support.runs_seed import seed_runs  # noqa: E402

CHUNK = 100_000


class _Percentile(Aggregate):
    function = "percentile_cont"
    output_field = FloatField()

    def __init__(self, expression: str, q: float) -> None:
        super().__init__(expression)
        self.template = f"percentile_cont({float(q)}) WITHIN GROUP (ORDER BY %(expressions)s)"


def _stats_before(org: Organization, days: int) -> int:
    """The dashboard's query before the rollups (apps/observability/stats.py at 5afdcfa): the
    figures over every run of the range, per day and per flow, in PostgreSQL."""
    now = timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = Run.objects.filter(organization=org, started_at__gte=since, started_at__lte=now)
    figures = {
        "runs": Count("id"),
        "failed": Count("id", filter=Q(status=Run.Status.FAILED)),
        "ended": Count("id", filter=~Q(status=Run.Status.RUNNING)),
        "p50_latency_ms": _Percentile("latency_ms", 0.5),
        "p95_latency_ms": _Percentile("latency_ms", 0.95),
        "p95_ttft_ms": _Percentile("ttft_ms", 0.95),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
    }
    total = runs.aggregate(**figures)
    per_day = list(runs.annotate(day=TruncDate("started_at")).values("day").annotate(**figures).order_by("day"))
    per_flow = list(runs.values("flow_id", "flow__name").annotate(**figures).order_by("-runs")[:20])  # type: ignore[misc]
    return int(total["runs"]) + 0 * len(per_day) * len(per_flow)


def _timed(function: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 0.5), percentile(samples, 0.95)


def _setup(rows: int, reseed: bool) -> tuple[User, Organization]:
    call_command("migrate", verbosity=0)
    user = User.objects.filter(username="bench-runs").first() or User.objects.create_user("bench-runs", "b@x.test", "x")
    org = Organization.objects.filter(name="Runs bench").first()
    if org is None:
        org = organization_create(actor=Actor(user=user, api_key=None), name="Runs bench")
    have = Run.objects.filter(organization=org).count()
    if reseed or have < rows:
        with connection.cursor() as cursor:  # the seeded runs have no events or spans: one statement
            cursor.execute(f"DELETE FROM {Run._meta.db_table} WHERE organization_id = %s", [org.pk])  # noqa: S608
        flow = Flow.objects.filter(organization=org).first() or Flow.objects.create(
            organization=org, name="bench", draft={}
        )
        started = time.perf_counter()
        for start in range(0, rows, CHUNK):
            seed_runs(organization_id=org.pk, flow_id=flow.pk, rows=min(CHUNK, rows - start), start=start)
            print(f"  seeded {min(rows, start + CHUNK):,} runs", flush=True)
        print(f"seeding {rows:,} runs: {time.perf_counter() - started:.1f} s")
    return user, org


def _time(client: APIClient, url: str, params: dict[str, str], repeat: int) -> tuple[float, float, int]:
    samples = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        count = len(body["results"]) if "results" in body else body.get("total", {}).get("runs", 1)
    return percentile(samples, 0.5), percentile(samples, 0.95), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--before-repeat", type=int, default=5, help="runs of the (slow) previous dashboard query")
    args = parser.parse_args()
    user, org = _setup(args.rows, args.reseed)
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/v1/orgs/{org.pk}/runs/"
    cursor = None
    for _ in range(20):
        page = client.get(url, {"cursor": cursor} if cursor else {}).json()
        cursor = page["next"]
    since = (datetime.now(tz=UTC) - timedelta(days=1)).isoformat()
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("first page (50 runs)", url, {}),
        ("page 21 (cursor after 1,000 runs)", url, {"cursor": cursor or ""}),
        ("status=failed (2%)", url, {"status": "failed"}),
        ("source=widget (25%)", url, {"source": "widget"}),
        ("error_code=model_timeout", url, {"error_code": "model_timeout"}),
        ("q=zebra (a rare word, 0.1%)", url, {"q": "zebra"}),
        ("q=question (every run)", url, {"q": "question"}),
        ("last 24 hours + failed", url, {"status": "failed", "since": since}),
    ]
    run = Run.objects.filter(organization=org).order_by("-started_at").values_list("pk", flat=True).first()
    cases.append(("one run's trace", f"{url}{run}/", {}))
    print(f"\n{Run.objects.filter(organization=org).count():,} runs in the organization; {args.repeat} requests each")
    print("| case | p50 ms | p95 ms | rows |\n|---|---|---|---|")
    for name, path, params in cases:
        p50, p95, count = _time(client, path, params, args.repeat)
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {count} |", flush=True)
    dashboard(org, client, url, args.repeat, args.before_repeat)


def dashboard(org: Organization, client: APIClient, url: str, repeat: int, before_repeat: int) -> None:
    in_week = Run.objects.filter(organization=org, started_at__gte=timezone.now() - timedelta(days=7)).count()
    print(f"\n### Dashboard over 7 days ({in_week:,} runs in range)\n")
    print("| case | p50 ms | p95 ms |\n|---|---|---|")
    p50, p95 = _timed(lambda: _stats_before(org, 7), before_repeat)
    print(f"| before: the query over every run (x{before_repeat}) | {p50:.1f} | {p95:.1f} |", flush=True)
    for model in (RunRollup, ModelRollup, GuardRollup, RollupMark):  # start again: a full backfill
        model.objects.all().delete()
    started = time.perf_counter()
    rollups_refresh()
    print(f"| rollups: first roll (backfill of every run, once) | {(time.perf_counter() - started) * 1000:.0f} | |")
    p50, p95 = _timed(rollups_refresh, 5)
    print(f"| rollups: a worker tick (every minute) | {p50:.1f} | {p95:.1f} |")
    print(f"| ({RunRollup.objects.filter(organization=org).count():,} rollup rows in the organization) | | |")
    for name, days in (("after: dashboard, today (view)", "1"), ("after: dashboard, 7 days (view)", "7")):
        p50, p95, _ = _time(client, f"{url}stats/", {"days": days}, repeat)
        print(f"| {name} | {p50:.1f} | {p95:.1f} |", flush=True)


if __name__ == "__main__":
    main()
