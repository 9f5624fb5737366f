"""Cost per user, visitors' thumbs and the response cache on the dashboard: rolled up hourly with
the other rollups, the same figures as a read of the rows, scoped to the organization, filtered by
flow and model alias; the thumbs-down alert reads the same thumbs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F

from apps.observability.alerts import rule_evaluate
from apps.observability.models import AlertRule, FeedbackRollup, ModelRollup, PrincipalRollup
from apps.observability.rollups import rollups_refresh
from apps.observability.stats import run_stats
from apps.runs.models import Run
from apps.serving.models import ModelCall
from apps.tenancy.services import api_key_create
from apps.widgets.models import Feedback, Visitor, Widget, WidgetRun
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 3, 8, 15, 40, tzinfo=UTC)


def _run(member: Member, flow_id: Any, at: datetime, cost: str, **fields: Any) -> Run:
    run = Run.objects.create(
        organization=member.organization, flow_id=flow_id, status="completed", cost=Decimal(cost), **fields
    )
    Run.objects.filter(pk=run.pk).update(started_at=at)
    return run


def _call(member: Member, flow_id: Any, at: datetime, served_by: str, cost: str = "0", saved: str = "") -> None:
    ModelCall.objects.create(
        organization=member.organization,
        flow_id=flow_id,
        alias="gpt",
        served_by=served_by,
        status="ok",
        cost=Decimal(cost),
        attempts=[{"cache": "exact", "saved": saved}] if saved else [],
        at=at,
    )


def _rate(run: Run, widget: Widget, rating: int, at: datetime) -> None:
    Feedback.objects.create(run=run, widget=widget, rating=rating)
    Feedback.objects.filter(run=run).update(created_at=at)


@pytest.fixture
def people(org_a: Member, org_b: Member, publish_flow: Callable[..., Any]) -> dict[str, Any]:
    """Yesterday and today: a member's runs, an API key's, three widget visitors' (with thumbs),
    model calls of which some a cache answered; another organization's run and thumbs."""
    flow, other = publish_flow(publish=False), publish_flow(alias="b", publish=False)
    key, _ = api_key_create(access=org_a.access, name="nightly", role="editor")
    widget = Widget.objects.create(organization=org_a.organization, flow_id=flow["id"], name="Help")
    visitors = [Visitor.objects.create(widget=widget) for _ in range(3)]
    yesterday, today = NOW - timedelta(days=1), NOW - timedelta(minutes=90)  # 14:10: rolled at 15:40
    for at in (yesterday, today):
        _run(org_a, flow["id"], at, "0.5", created_by=org_a.user)
        _run(org_a, other["id"], at, "0.25", api_key=key)
    ratings = [1, -1, 1, 1, -1]  # two of five down
    for i, rating in enumerate(ratings):
        run = _run(org_a, flow["id"], today - timedelta(minutes=i), "0.1")
        WidgetRun.objects.create(run=run, widget=widget, visitor=visitors[i % 3])
        _rate(run, widget, rating, today)
    _call(org_a, flow["id"], today, "cache", saved="0.02")  # one of four today from the cache
    for _ in range(3):
        _call(org_a, flow["id"], today, "gpt", "0.02")
    _call(org_a, flow["id"], yesterday, "semantic-cache", saved="0.03")
    _call(org_a, flow["id"], yesterday, "backup", "0.01")

    from apps.builder.models import Flow

    theirs = Flow.objects.create(organization=org_b.organization, name="theirs", draft={})
    their_widget = Widget.objects.create(organization=org_b.organization, flow=theirs, name="Theirs")
    their_run = _run(org_b, theirs.pk, today, "9", created_by=org_b.user)
    _rate(their_run, their_widget, -1, today)
    return {"flow": flow, "other": other, "key": key, "visitors": visitors, "widget": widget}


def test_cost_per_user_thumbs_and_cache_from_rollups(org_a: Member, people: dict[str, Any]) -> None:
    raw = run_stats(organization=org_a.organization, days=2, now=NOW)  # nothing rolled: all read raw
    rollups_refresh(NOW)
    assert PrincipalRollup.objects.filter(organization=org_a.organization).count() > 0
    assert FeedbackRollup.objects.filter(organization=org_a.organization).count() > 0
    hour = NOW.replace(minute=0) - timedelta(hours=1)
    cached = ModelRollup.objects.get(organization=org_a.organization, alias="gpt", hour=hour)
    assert cached.cache_hits == 1 and cached.cache_saved == Decimal("0.02") and cached.fallbacks == 0
    rolled = run_stats(organization=org_a.organization, days=2, now=NOW)
    assert rolled.total == raw.total and rolled.days == raw.days and rolled.hours == raw.hours
    assert rolled.users == raw.users and rolled.models == raw.models

    total = rolled.total
    # A member, an API key and three visitors; their runs cost 2 x 0.5 + 2 x 0.25 + 5 x 0.1.
    assert total["active_users"] == 5 and total["cost_per_user"] == Decimal("0.4")
    assert (total["rated"], total["thumbs_up"], total["thumbs_down"]) == (5, 3, 2)
    assert total["thumbs_down_rate"] == 40.0 and total["thumbs_up_share"] == 60.0
    assert total["model_calls"] == 6 and total["cache_hits"] == 2 and total["cache_hit_rate"] == round(200 / 6, 2)
    assert total["cache_saved"] == Decimal("0.05")
    today = next(d for d in rolled.days if d["day"] == NOW.date())
    assert today["active_users"] == 5 and today["cost_per_user"] == Decimal("0.25")  # (0.5 + 0.25 + 0.5) / 5
    assert [d["active_users"] for d in rolled.days] == [2, 5]
    assert rolled.hours and sum(h["rated"] for h in rolled.hours) == 5

    assert [(u["kind"], u["name"], u["runs"], u["cost"]) for u in rolled.users[:2]] == [
        ("user", org_a.user.email, 2, Decimal("1.0")),
        ("key", "API key “nightly”", 2, Decimal("0.5")),
    ]
    visitor = rolled.users[2]
    assert visitor["kind"] == "visitor" and visitor["name"].endswith("of “Help”") and len(rolled.users) == 5
    # The backup's answer is a fallback under its own alias; the cache's count under the alias asked.
    assert {m["served_by"]: (m["calls"], m["cache_hits"]) for m in rolled.models} == {"gpt": (5, 2), "backup": (1, 0)}


def test_filters_by_flow_and_alias(org_a: Member, people: dict[str, Any]) -> None:
    rollups_refresh(NOW)
    other = run_stats(organization=org_a.organization, days=2, now=NOW, flow=people["other"]["id"])
    assert other.total["active_users"] == 1 and other.total["rated"] == 0 and other.total["thumbs_down_rate"] is None
    assert other.total["model_calls"] == 0 and other.total["cache_hit_rate"] is None
    assert [u["name"] for u in other.users] == ["API key “nightly”"]
    backup = run_stats(organization=org_a.organization, days=2, now=NOW, alias="backup")
    assert backup.total["model_calls"] == 1 and backup.total["cache_hits"] == 0
    assert [m["served_by"] for m in backup.models] == ["backup"]
    assert backup.total["runs"] == 9  # the alias narrows the model-call figures, not the runs


def test_dashboard_api_scoped_and_validated(org_a: Member, org_b: Member, people: dict[str, Any]) -> None:
    shift = datetime.now(tz=UTC) - NOW
    Run.objects.update(started_at=F("started_at") + shift)
    Feedback.objects.update(created_at=F("created_at") + shift)
    ModelCall.objects.update(at=F("at") + shift)
    rollups_refresh()
    url = f"/api/v1/orgs/{org_a.organization.id}/runs/stats/"
    body = org_a.client().get(url, {"days": "7"}).json()
    total = body["total"]
    assert total["active_users"] == 5 and total["thumbs_down_rate"] == 40.0 and total["cache_hits"] == 2
    assert total["cost_per_user"] == "0.400000" and total["cache_saved"] == "0.050000"
    assert [u["kind"] for u in body["users"]] == ["user", "key", "visitor", "visitor", "visitor"]
    assert org_a.client().get(url, {"alias": "backup"}).json()["total"]["model_calls"] == 1
    theirs = org_b.client().get(f"/api/v1/orgs/{org_b.organization.id}/runs/stats/").json()
    assert theirs["total"]["active_users"] == 1 and theirs["total"]["thumbs_down_rate"] == 100.0
    assert [u["name"] for u in theirs["users"]] == [org_b.user.email]
    assert org_b.client().get(url).status_code == 404
    bad = org_a.client().get(url, {"alias": "x" * 65})
    assert bad.status_code == 400 and bad.json()["code"]


def test_thumbs_down_alert_reads_the_same_thumbs(org_a: Member, people: dict[str, Any]) -> None:
    rule = AlertRule.objects.create(
        organization=org_a.organization, name="Unhappy", metric="thumbs_down_rate", threshold=20, window_minutes=120
    )
    fired = rule_evaluate(rule, now=NOW)  # thumbs given 14:10, the other organization's not counted
    assert fired is not None and fired.kind == "firing" and fired.value == 40.0
    assert rule_evaluate(rule, now=NOW + timedelta(minutes=20)) is None and rule.state == "firing"
    later = NOW + timedelta(minutes=50)  # two thumbs up; the 14:10 ones out of the window by 16:35
    for run in Run.objects.filter(organization=org_a.organization, created_by__isnull=False):
        _rate(run, people["widget"], 1, later)
    resolved = rule_evaluate(rule, now=NOW + timedelta(minutes=55))
    assert resolved is not None and resolved.kind == "resolved" and resolved.value == 0.0
    # A window without thumbs keeps the state (too few to judge).
    assert rule_evaluate(rule, now=NOW + timedelta(hours=6)) is None and rule.last_value is None
    # The dashboard's figure over the same thumbs.
    assert run_stats(organization=org_a.organization, days=1, now=NOW).total["thumbs_down_rate"] == 40.0
