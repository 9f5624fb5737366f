"""Alert rules per organization, their firing/resolved history and webhook deliveries."""

from __future__ import annotations

import uuid

from django.db import models


class AlertRule(models.Model):
    class Metric(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate (%)"
        P95_LATENCY = "p95_latency_ms", "p95 latency (ms)"
        P95_TTFT = "p95_ttft_ms", "p95 time to first token (ms)"
        COST = "cost", "Cost ($)"
        THUMBS_DOWN_RATE = "thumbs_down_rate", "Thumbs-down rate (%)"

    class State(models.TextChoices):
        OK = "ok"
        FIRING = "firing"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=120)
    metric = models.CharField(max_length=32, choices=Metric.choices)
    flow = models.ForeignKey("builder.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    threshold = models.FloatField(help_text="Fires when the metric is above it")
    window_minutes = models.PositiveIntegerField(default=5)
    min_runs = models.PositiveIntegerField(default=1, help_text="Rates and percentiles need this many runs")
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret_encrypted = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OK)
    last_value = models.FloatField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="alert_rule_org_recent")]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """A rule's change of state: it started firing, or it resolved."""

    class Kind(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["rule", "-at"], name="alert_event_rule_recent")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class WebhookDelivery(models.Model):
    """One attempt to tell a webhook about an alert event (the delivery log)."""

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    delivered = models.BooleanField(default=False)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event_id}#{self.attempt} {'ok' if self.delivered else 'failed'}"
