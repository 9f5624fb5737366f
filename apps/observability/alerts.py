"""Alert rules evaluated by the queue worker each minute: the metric over the rule's window (a
range read of the runs index, so a window costs what it holds), firing when it goes above the
threshold and resolved when it comes back; each change is an AlertEvent, shown in the app and
POSTed to the rule's webhook (signed, retried with backoff, every attempt logged) through the
egress guard."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta

from django.db.models import Aggregate, Count, FloatField, Q, Sum
from django.utils import timezone

from apps.config.crypto import decrypt
from apps.guardrails.models import GuardHit
from apps.observability.models import AlertEvent, AlertRule, WebhookDelivery
from apps.observability.rollups import feedback_rollups_compute
from apps.runs.models import Run
from apps.serving.egress import EgressPolicy, vetted_post_sync
from flows.errors import EgressRefused

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Trellis-Signature"
RETRY_DELAYS_S = (0.0, 1.0, 3.0)  # three attempts per event
WEBHOOK_TIMEOUT_S = 5.0


class P95(Aggregate):
    """PostgreSQL's percentile_cont(0.95): computed where the rows are, not in Python."""

    function = "percentile_cont"
    template = "percentile_cont(0.95) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def metric_value(rule: AlertRule, now: datetime) -> float | None:
    """The rule's metric over its window; None when too few runs to say (rates, percentiles)."""
    runs = Run.objects.filter(
        organization_id=rule.organization_id,
        started_at__gte=now - timedelta(minutes=rule.window_minutes),
        started_at__lt=now,
    )
    if rule.flow_id:
        runs = runs.filter(flow_id=rule.flow_id)
    if rule.metric == AlertRule.Metric.GUARD_HITS:  # blocked inputs have no run: the hits themselves
        hits = GuardHit.objects.filter(
            organization_id=rule.organization_id,
            created_at__gte=now - timedelta(minutes=rule.window_minutes),
            created_at__lt=now,
        )
        if rule.flow_id:
            hits = hits.filter(run_id__in=runs.values("pk"))
        return float(hits.count())
    if rule.metric == AlertRule.Metric.COST:
        return float(runs.aggregate(total=Sum("cost"))["total"] or 0)
    ended = runs.exclude(status=Run.Status.RUNNING)
    if rule.metric == AlertRule.Metric.ERROR_RATE:
        counts = ended.aggregate(total=Count("id"), failed=Count("id", filter=Q(status=Run.Status.FAILED)))
        return 100 * counts["failed"] / counts["total"] if counts["total"] >= max(1, rule.min_runs) else None
    if rule.metric == AlertRule.Metric.THUMBS_DOWN_RATE:  # thumbs given in the window, as the dashboard's
        thumbs = feedback_rollups_compute(
            now - timedelta(minutes=rule.window_minutes), now, organization=rule.organization_id, flow=rule.flow_id
        )
        up, down = sum(t.up for t in thumbs), sum(t.down for t in thumbs)
        return 100 * down / (up + down) if up + down >= max(1, rule.min_runs) else None
    field = "latency_ms" if rule.metric == AlertRule.Metric.P95_LATENCY else "ttft_ms"
    measured = ended.exclude(**{f"{field}__isnull": True}).aggregate(n=Count("id"), p95=P95(field))
    return float(measured["p95"]) if measured["n"] >= max(1, rule.min_runs) else None


def rule_evaluate(rule: AlertRule, now: datetime | None = None) -> AlertEvent | None:
    """Evaluates one rule; answers the event when its state changed (and notifies its webhook)."""
    now = now or timezone.now()
    value = metric_value(rule, now)
    firing = value is not None and value > rule.threshold
    # Too few runs to judge keeps the state: a quiet window neither fires nor resolves a rate.
    if value is None and rule.metric not in (AlertRule.Metric.COST, AlertRule.Metric.GUARD_HITS):
        firing = rule.state == AlertRule.State.FIRING
    new_state = AlertRule.State.FIRING if firing else AlertRule.State.OK
    event = None
    if new_state != rule.state:
        kind = AlertEvent.Kind.FIRING if firing else AlertEvent.Kind.RESOLVED
        event = AlertEvent.objects.create(rule=rule, kind=kind, value=value, threshold=rule.threshold, at=now)
    AlertRule.objects.filter(pk=rule.pk).update(state=new_state, last_value=value, last_evaluated_at=now)
    rule.state, rule.last_value, rule.last_evaluated_at = new_state, value, now
    if event is not None and rule.webhook_url:
        webhook_notify(rule, event)
    return event


def alert_rules_evaluate(now: datetime | None = None) -> int:
    """Every enabled rule of every organization; answers how many changed state."""
    changed = 0
    for rule in AlertRule.objects.filter(enabled=True).order_by("created_at"):
        try:
            changed += rule_evaluate(rule, now) is not None
        except Exception:  # one broken rule must not stop the others
            logger.exception("alert rule %s could not be evaluated", rule.pk)
    return changed


def payload(rule: AlertRule, event: AlertEvent) -> dict[str, object]:
    return {
        "type": f"alert.{event.kind}",
        "rule": {"id": str(rule.pk), "name": rule.name, "metric": rule.metric, "flow": str(rule.flow_id or "")},
        "organization": str(rule.organization_id),
        "value": event.value,
        "threshold": event.threshold,
        "window_minutes": rule.window_minutes,
        "at": event.at.isoformat(),
        "event": event.pk,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": a receiver checks it and refuses old timestamps."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_notify(rule: AlertRule, event: AlertEvent, delays: tuple[float, ...] = RETRY_DELAYS_S) -> bool:
    """POSTs the event to the rule's webhook through the egress guard, retried with backoff; each
    attempt is a WebhookDelivery row. Answers whether one attempt got a 2xx."""
    body = json.dumps(payload(rule, event), separators=(",", ":")).encode()
    secret = decrypt(rule.webhook_secret_encrypted) if rule.webhook_secret_encrypted else ""
    for attempt, delay in enumerate(delays, start=1):
        if delay:
            time.sleep(delay)
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "Trellis-Alerts/1"}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        status, error, code = None, "", ""
        try:
            status, _ = vetted_post_sync(
                rule.webhook_url, body=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S, policy=EgressPolicy()
            )
        except EgressRefused as refused:
            error, code = refused.message, refused.code
        delivered = status is not None and 200 <= status < 300
        WebhookDelivery.objects.create(
            event=event,
            attempt=attempt,
            status_code=status,
            error=(error or ("" if delivered else f"HTTP {status}"))[:300],
            delivered=delivered,
            at=timezone.now(),
        )
        if delivered:
            return True
        if code == "egress_refused":
            break  # the guard refused the address: retrying changes nothing
    return False
