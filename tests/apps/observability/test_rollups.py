"""The dashboard's hourly rollups: the queue worker's roll, the dashboard read from rollups plus
the runs after the mark, and the same figures as a read of every run; guard hits on the
dashboard and in alert rules. The dashboard's query plans at 1M runs: test_plans_1m.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from apps.guardrails.models import GuardHit
from apps.observability.alerts import rule_evaluate
from apps.observability.models import AlertEvent, AlertRule, GuardRollup, ModelRollup, RollupMark, RunRollup
from apps.observability.rollups import BASE, bucket_of, hist_percentile, rollups_refresh
from apps.observability.stats import run_stats
from apps.runs.models import Run
from apps.serving.models import ModelCall
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 8, 15, 40, tzinfo=UTC)


def _run(member: Member, flow_id: Any, *, at: datetime, **fields: Any) -> Run:
    run = Run.objects.create(organization=member.organization, flow_id=flow_id, **fields)
    Run.objects.filter(pk=run.pk).update(started_at=at)
    return run


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(-(-q * len(ordered) // 1)) - 1)]


def test_histogram_percentiles_are_within_ten_percent() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(6, 1.2) for _ in range(5000)]
    hist = [0] * 84
    for value in values:
        hist[bucket_of(value)] += 1
    for q in (0.5, 0.95, 0.99):
        estimate, exact = hist_percentile(hist, q), _exact(values, q)
        assert estimate is not None and abs(estimate - exact) / exact <= BASE - 1, (q, estimate, exact)
    assert hist_percentile([0] * 84, 0.5) is None


@pytest.fixture
def week(org_a: Member, org_b: Member, publish_flow: Callable[..., Any]) -> dict[str, Any]:
    """Runs of two flows over three days, a failed burst, one run still running, guard hits and
    model calls; a run of another organization at the same times."""
    support, other = publish_flow(publish=False), publish_flow(alias="b", publish=False)
    rng = random.Random(3)
    latencies: list[float] = []
    for i in range(240):
        at = NOW - timedelta(minutes=17 * i + 3)
        failed = i % 9 == 0
        latency = rng.lognormvariate(6.5, 0.8)
        latencies.append(latency)
        _run(
            org_a,
            support["id"] if i % 3 else other["id"],
            at=at,
            status="failed" if failed else "completed",
            error_code=("model_timeout" if i % 2 else "tool_failed") if failed else "",
            latency_ms=latency,
            ttft_ms=latency / 4,
            input_tokens=10 + i,
            output_tokens=20,
            cost=Decimal("0.001"),
        )
    running = _run(org_a, support["id"], at=NOW - timedelta(hours=2, minutes=5), status="running")
    from apps.builder.models import Flow

    foreign = Flow.objects.create(organization=org_b.organization, name="theirs", draft={})
    _run(org_b, foreign.pk, at=NOW - timedelta(hours=3), status="failed", error_code="model_timeout", latency_ms=5)
    for minutes in (30, 90, 200):
        hit = GuardHit.objects.create(
            organization=org_a.organization, check_name="pii", label="email", action="redact", score=1, start=0, end=5
        )
        GuardHit.objects.filter(pk=hit.pk).update(created_at=NOW - timedelta(minutes=minutes))
    ModelCall.objects.create(
        organization=org_a.organization,
        flow_id=support["id"],
        alias="gpt",
        served_by="backup",
        status="ok",
        ttft_ms=120,
        input_tokens=3,
        output_tokens=4,
        cost=Decimal("0.5"),
        at=NOW - timedelta(hours=5),
    )
    return {"support": support, "other": other, "running": running, "latencies": latencies}


def test_rollups_give_the_figures_of_a_read_of_every_run(org_a: Member, week: dict[str, Any]) -> None:
    raw = run_stats(organization=org_a.organization, days=7, now=NOW)  # no mark yet: every run read raw
    assert raw.rolled_to.date() <= NOW.date() - timedelta(days=6)
    _, hi = rollups_refresh(NOW)
    assert hi == NOW.replace(minute=0) and RollupMark.objects.get().rolled_to == hi
    assert RunRollup.objects.filter(organization=org_a.organization).count() > 10
    assert GuardRollup.objects.filter(organization=org_a.organization).count() == 2  # 90 and 200 min ago
    assert ModelRollup.objects.get(organization=org_a.organization).fallbacks == 1
    rolled = run_stats(organization=org_a.organization, days=7, now=NOW)
    assert rolled.rolled_to == hi
    assert rolled.total == raw.total and rolled.days == raw.days and rolled.flows == raw.flows
    assert rolled.models == raw.models and rolled.guards == raw.guards

    total = rolled.total
    assert total["runs"] == 241 and total["failed"] == 27 and total["guard_hits"] == 3
    assert total["error_rate"] == round(100 * 27 / 240, 2)  # the running run is not ended
    assert {e["code"]: e["runs"] for e in total["errors"]} == {"model_timeout": 13, "tool_failed": 14}
    exact = _exact(week["latencies"], 0.95)
    assert abs(total["p95_latency_ms"] - exact) / exact <= BASE - 1
    assert total["input_tokens"] == sum(10 + i for i in range(240)) and total["cost"] == Decimal("0.240")
    gaps = [0.75 * latency / 19 for latency in week["latencies"]]  # 20 tokens, the first at latency / 4
    assert total["p50_tbt_ms"] == pytest.approx(_exact(gaps, 0.5), rel=BASE - 1)
    assert total["tokens_per_second"] == pytest.approx(
        240 * 20 / (sum(0.75 * x for x in week["latencies"]) / 1000), rel=0.01
    )
    assert total["runs_per_second"] == round(241 / (NOW - raw.since).total_seconds(), 4)
    assert [(f["flow_name"], f["runs"]) for f in rolled.flows] == [
        (week["support"]["name"], 161),
        (week["other"]["name"], 80),
    ]
    assert rolled.models[0]["served_by"] == "backup" and rolled.models[0]["fallbacks"] == 1
    assert rolled.guards == [{"check": "pii", "action": "redact", "hits": 3}]
    only = run_stats(organization=org_a.organization, days=7, now=NOW, flow=week["other"]["id"])
    assert only.total["runs"] == 80 and only.models == [] and only.guards == []


def test_runs_after_the_mark_and_runs_that_were_running(org_a: Member, week: dict[str, Any]) -> None:
    rollups_refresh(NOW)
    running = week["running"]
    assert RunRollup.objects.filter(running=1).count() == 1
    # The run ends later; the next roll (a later minute of the same hour) rolls its hour again.
    Run.objects.filter(pk=running.pk).update(status="failed", error_code="worker_lost", latency_ms=10)
    new = _run(org_a, week["support"]["id"], at=NOW + timedelta(minutes=5), status="completed", latency_ms=3)
    later = NOW + timedelta(minutes=10)
    hour = NOW.replace(minute=0)
    assert rollups_refresh(later) == (hour - timedelta(hours=2), hour)  # from the unsettled hour on
    assert RunRollup.objects.filter(running__gt=0).count() == 0
    stats = run_stats(organization=org_a.organization, days=1, now=later)
    assert "worker_lost" in {e["code"] for e in stats.total["errors"]}
    # The current hour is read from the runs: the run started after the mark is counted.
    assert stats.hours[-1]["hour"] == hour and stats.hours[-1]["runs"] == 4  # 15:03, 15:20, 15:37, 15:45
    assert Run.objects.filter(pk=new.pk, started_at__gte=hour).exists()
    assert rollups_refresh(later + timedelta(minutes=1)) == (hour, hour)  # nothing left to roll
    # The hour is rolled once it ended SETTLE ago: not at 16:01, at 16:02.
    assert rollups_refresh(hour + timedelta(hours=1, minutes=1)) == (hour, hour)
    assert rollups_refresh(hour + timedelta(hours=1, minutes=2)) == (hour, hour + timedelta(hours=1))


def test_dashboard_api_reads_rollups_and_stays_tenant_scoped(
    org_a: Member, org_b: Member, week: dict[str, Any]
) -> None:
    from django.db.models import F

    shift = datetime.now(tz=UTC) - NOW - timedelta(hours=1)  # the fixture's week, ending an hour ago
    Run.objects.update(started_at=F("started_at") + shift)
    GuardHit.objects.update(created_at=F("created_at") + shift)
    rollups_refresh()
    body = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/stats/", {"days": "30"}).json()
    assert body["total"]["runs"] == 241 and body["rolled_to"] is not None
    assert body["guards"] == [{"check": "pii", "action": "redact", "hits": 3}]
    assert {"p99_latency_ms", "cost_per_run", "errors", "p50_ttft_ms"} <= set(body["total"])
    theirs = org_b.client().get(f"/api/v1/orgs/{org_b.organization.id}/runs/stats/", {"days": "30"}).json()
    assert theirs["total"]["runs"] == 1 and theirs["guards"] == []
    assert org_b.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/stats/").status_code == 404
    assert org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/runs/stats/", {"days": "x"}).status_code == 400


def test_alert_rule_on_guard_hits_fires_and_resolves(org_a: Member, week: dict[str, Any]) -> None:
    rule = AlertRule.objects.create(
        organization=org_a.organization, name="PII spike", metric="guard_hits", threshold=1, window_minutes=60
    )
    for _ in range(2):
        GuardHit.objects.create(
            organization=org_a.organization, check_name="injection", label="override", action="block", score=0.9,
            start=0, end=3,
        )  # fmt: skip
    fired = rule_evaluate(rule)
    assert fired is not None and fired.kind == "firing" and fired.value == 2.0
    resolved = rule_evaluate(rule, now=datetime.now(tz=UTC) + timedelta(hours=2))
    assert resolved is not None and resolved.kind == "resolved" and resolved.value == 0.0
    assert list(AlertEvent.objects.filter(rule=rule).values_list("kind", flat=True).order_by("at")) == [
        "firing",
        "resolved",
    ]
    response = org_a.client().post(
        f"/api/v1/orgs/{org_a.organization.id}/alerts/",
        {"name": "guards", "metric": "guard_hits", "threshold": 5},
        format="json",
    )
    assert response.status_code == 201 and response.json()["metric"] == "guard_hits"
