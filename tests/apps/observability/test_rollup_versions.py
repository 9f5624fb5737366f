"""The dashboard by flow version: rollups keyed by version give the figures of a direct read of
that version's runs (and of its runs' model calls), before and after the roll; the migration's
re-roll replaces rows rolled without a version; the API checks the version is the flow's, in the
caller's organization."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db.models import Count, Sum

from apps.builder.models import Flow, FlowVersion
from apps.observability.models import ModelRollup, RollupMark, RunRollup
from apps.observability.rollups import rollups_refresh
from apps.observability.stats import run_stats
from apps.runs.models import Run
from apps.serving.models import ModelCall
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 8, 15, 40, tzinfo=UTC)


@pytest.fixture
def versions(org_a: Member, org_b: Member) -> dict[str, Any]:
    """One flow with two versions and draft runs, a model call per run; another org's flow."""
    flow = Flow.objects.create(organization=org_a.organization, name="support", draft={})
    v1 = FlowVersion.objects.create(flow=flow, number=1, graph={})
    v2 = FlowVersion.objects.create(flow=flow, number=2, graph={})
    for i in range(60):
        version = (v1, v2, None)[i % 3]
        failed = i % 7 == 0
        run = Run.objects.create(
            organization=org_a.organization,
            flow=flow,
            version=version,
            created_by=org_a.user if i % 2 else None,
            status="failed" if failed else "completed",
            error_code="model_timeout" if failed else "",
            latency_ms=100 + 13 * i,
            ttft_ms=20 + i,
            input_tokens=5 + i,
            output_tokens=7 + (i % 5),
            cost=Decimal("0.001") * (1 + i % 4),
        )
        at = NOW - timedelta(minutes=23 * i + 4)  # over a day: most hours rolled, the last read raw
        Run.objects.filter(pk=run.pk).update(started_at=at)
        ModelCall.objects.create(
            organization=org_a.organization,
            flow_id=flow.pk,
            run_id=run.pk,
            alias="gpt",
            served_by="gpt",
            status="ok",
            ttft_ms=50 + i,
            input_tokens=3,
            output_tokens=4,
            cost=Decimal("0.01"),
            at=at,
        )
    theirs = Flow.objects.create(organization=org_b.organization, name="theirs", draft={})
    foreign = FlowVersion.objects.create(flow=theirs, number=1, graph={})
    other = Flow.objects.create(organization=org_a.organization, name="other", draft={})
    other_v = FlowVersion.objects.create(flow=other, number=1, graph={})
    return {"flow": flow, "v1": v1, "v2": v2, "foreign": foreign, "theirs": theirs, "other_v": other_v}


def _direct(version: FlowVersion) -> dict[str, Any]:
    runs = Run.objects.filter(version=version)
    agg = runs.aggregate(n=Count("id"), tin=Sum("input_tokens"), tout=Sum("output_tokens"), cost=Sum("cost"))
    return {
        "runs": agg["n"],
        "failed": runs.filter(status="failed").count(),
        "input_tokens": agg["tin"],
        "output_tokens": agg["tout"],
        "cost": agg["cost"],
        "calls": ModelCall.objects.filter(run_id__in=runs.values("id")).count(),
        "users": 1 if runs.filter(created_by__isnull=False).exists() else 0,
    }


def _figures(org: Member, flow: Flow, version: FlowVersion) -> dict[str, Any]:
    stats = run_stats(organization=org.organization, days=3, flow=flow.pk, version=version.pk, now=NOW)
    total = stats.total
    return {
        "runs": total["runs"],
        "failed": total["failed"],
        "input_tokens": total["input_tokens"],
        "output_tokens": total["output_tokens"],
        "cost": total["cost"],
        "calls": total["model_calls"],
        "users": total["active_users"],
    }


def test_figures_by_version_are_a_direct_read_of_its_runs(org_a: Member, versions: dict[str, Any]) -> None:
    flow, v1, v2 = versions["flow"], versions["v1"], versions["v2"]
    raw = {v.pk: _figures(org_a, flow, v) for v in (v1, v2)}  # no mark yet: read from the runs
    assert raw[v1.pk] == _direct(v1) and raw[v2.pk] == _direct(v2)
    assert raw[v1.pk]["runs"] == 20 and raw[v1.pk]["calls"] == 20
    rollups_refresh(NOW)
    assert RunRollup.objects.filter(version_id=v1.pk).exists() and RunRollup.objects.filter(version_id=None).exists()
    assert ModelRollup.objects.filter(version_id=v2.pk).exists()
    for v in (v1, v2):
        assert _figures(org_a, flow, v) == _direct(v)
    whole = run_stats(organization=org_a.organization, days=3, flow=flow.pk, now=NOW).total
    assert whole["runs"] == 60 and whole["model_calls"] == 60  # the draft runs count without a version filter

    # The migration's re-roll: hours rolled before versions (rows without one) are rolled again whole.
    RunRollup.objects.exclude(version_id=None).delete()
    ModelRollup.objects.exclude(version_id=None).delete()
    assert _figures(org_a, flow, v1)["runs"] < 20  # the rolled hours hold no row of the version
    migration = importlib.import_module("apps.observability.migrations.0005_rollup_version")
    migration.roll_again(django_apps, None)
    assert not RollupMark.objects.exists()
    rollups_refresh(NOW)
    assert RunRollup.objects.filter(version_id=v1.pk).exists()
    assert _figures(org_a, flow, v1) == _direct(v1)


def test_stats_api_version_filter_is_checked_and_tenant_scoped(
    org_a: Member, org_b: Member, versions: dict[str, Any]
) -> None:
    # An hour ago, read over two days: "today" alone misses it when the test runs between 00:00 and 01:00.
    Run.objects.update(started_at=datetime.now(tz=UTC) - timedelta(hours=1))
    url = f"/api/v1/orgs/{org_a.organization.id}/runs/stats/"
    flow, v1 = versions["flow"], versions["v1"]
    ok = org_a.client().get(url, {"days": "2", "flow": str(flow.pk), "version": str(v1.pk)})
    assert ok.status_code == 200 and ok.json()["total"]["runs"] == 20
    for bad, code in (
        ({"flow": str(flow.pk), "version": str(versions["foreign"].pk)}, "version_not_found"),  # org_b's
        ({"flow": str(versions["theirs"].pk), "version": str(versions["foreign"].pk)}, "version_not_found"),
        ({"flow": str(flow.pk), "version": str(versions["other_v"].pk)}, "version_not_found"),  # another flow's
        ({"version": str(v1.pk)}, "version_needs_flow"),
    ):
        response = org_a.client().get(url, bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == code and response.json()["message"], response.json()
    malformed = org_a.client().get(url, {"flow": str(flow.pk), "version": "12"})
    assert malformed.status_code == 400 and malformed.json()["message"]
    # Another organization's member reads nothing of org_a's, with or without its version.
    assert org_b.client().get(url, {"flow": str(flow.pk), "version": str(v1.pk)}).status_code == 404
    theirs = org_b.client().get(
        f"/api/v1/orgs/{org_b.organization.id}/runs/stats/", {"flow": str(flow.pk), "version": str(v1.pk)}
    )
    assert theirs.status_code == 400 and theirs.json()["code"] == "version_not_found"
