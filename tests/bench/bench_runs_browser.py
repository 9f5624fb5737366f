"""The runs browser at scale: an organization with N generated runs (default 1,000,000, inserted
with generate_series), then the server time of GET .../runs/ pages through the real view (access
check, query, serialization): the first page, a deep page (after 20 cursors), filtered pages and
full-text searches, and one run's trace. Prints p50/p95 per case; never asserts a time.

    TRELLIS_DB_NAME=trellis_bench_runs .venv/bin/python tests/bench/bench_runs_browser.py [--rows N]

The database is its own (TRELLIS_DB_NAME); the runs stay there between runs of the script
(--reseed starts again).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
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
from rest_framework.test import APIClient  # noqa: E402

from apps.builder.models import Flow  # noqa: E402
from apps.runs.models import Run  # noqa: E402
from apps.tenancy.access import Actor  # noqa: E402
from apps.tenancy.models import Organization  # noqa: E402
from apps.tenancy.services import organization_create  # noqa: E402
from tests.bench.benchlib import percentile  # noqa: E402
from tests.support.runs_seed import seed_runs  # noqa: E402

CHUNK = 100_000


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
    cases += [
        ("dashboard, today", f"{url}stats/", {"days": "1"}),
        ("dashboard, 7 days (~600k runs)", f"{url}stats/", {"days": "7"}),
    ]
    run = Run.objects.filter(organization=org).order_by("-started_at").values_list("pk", flat=True).first()
    cases.append(("one run's trace", f"{url}{run}/", {}))
    print(f"\n{Run.objects.filter(organization=org).count():,} runs in the organization; {args.repeat} requests each")
    print("| case | p50 ms | p95 ms | rows |\n|---|---|---|---|")
    for name, path, params in cases:
        p50, p95, count = _time(client, path, params, args.repeat)
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {count} |", flush=True)


if __name__ == "__main__":
    main()
