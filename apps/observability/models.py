"""Alert rules per organization, their firing/resolved history and webhook deliveries; the hourly
rollups of runs, model calls and guard hits that the dashboard reads."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models


class AlertRule(models.Model):
    class Metric(models.TextChoices):
        ERROR_RATE = "error_rate", "Error rate (%)"
        P95_LATENCY = "p95_latency_ms", "p95 latency (ms)"
        P95_TTFT = "p95_ttft_ms", "p95 time to first token (ms)"
        COST = "cost", "Cost ($)"
        THUMBS_DOWN_RATE = "thumbs_down_rate", "Thumbs-down rate (%)"
        GUARD_HITS = "guard_hits", "Guard hits"

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


# --- Rollups: the dashboard reads these, never all the runs (apps/observability/rollups.py) ---


class RunRollup(models.Model):
    """One organization's runs of one flow that started in one hour: counts, sums, and latency and
    time-to-first-token histograms (bucket i holds values in [1.2^i, 1.2^(i+1)) ms)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    version_id = models.UUIDField(null=True, blank=True, help_text="The run's flow version (none: a draft run)")
    hour = models.DateTimeField()
    runs = models.PositiveIntegerField(default=0)
    ended = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0, help_text="Still running when rolled up: rolled up again")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    latency_hist = ArrayField(models.IntegerField(), default=list)
    ttft_hist = ArrayField(models.IntegerField(), default=list)
    tbt_hist = ArrayField(models.IntegerField(), default=list, help_text="Mean time between tokens, per run")
    stream_tokens = models.BigIntegerField(default=0, help_text="Output tokens of the runs that streamed")
    stream_ms = models.FloatField(default=0, help_text="Their time from first token to the end")
    errors = models.JSONField(default=dict, help_text="error code -> failed runs")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "flow", "version_id", "hour"], name="run_rollup_unique", nulls_distinct=False
            )
        ]
        indexes = [models.Index(fields=["organization", "hour"], name="run_rollup_org_hour")]

    def __str__(self) -> str:
        return f"{self.flow_id} {self.hour:%Y-%m-%d %H}h: {self.runs}"


class ModelRollup(models.Model):
    """One organization's model calls of one flow answered by one alias in one hour (the ledger)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    flow_id = models.UUIDField(null=True, blank=True)
    version_id = models.UUIDField(null=True, blank=True, help_text="The calling run's flow version (joined at roll)")
    alias = models.CharField(max_length=64)
    hour = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0, help_text="Answered by another alias than asked")
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    ttft_hist = ArrayField(models.IntegerField(), default=list)
    cache_hits = models.PositiveIntegerField(default=0, help_text="Calls answered by the exact or semantic cache")
    cache_saved = models.DecimalField(
        max_digits=18, decimal_places=6, default=0, help_text="What the cached answers cost when first asked"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "flow_id", "version_id", "alias", "hour"],
                name="model_rollup_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["organization", "hour"], name="model_rollup_org_hour")]

    def __str__(self) -> str:
        return f"{self.alias} {self.hour:%Y-%m-%d %H}h: {self.calls}"


class GuardRollup(models.Model):
    """One organization's guard hits of one check and action in one hour."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    check_name = models.CharField(max_length=32)
    action = models.CharField(max_length=16)
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "hour", "check_name", "action"], name="guard_rollup_unique")
        ]

    def __str__(self) -> str:
        return f"{self.check_name}/{self.action} {self.hour:%Y-%m-%d %H}h: {self.hits}"


class PrincipalRollup(models.Model):
    """One organization's runs of one flow in one hour by one member, API key or widget visitor:
    the dashboard's active users, cost per user and top spenders."""

    class Kind(models.TextChoices):
        USER = "user"
        KEY = "key"
        VISITOR = "visitor"

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    version_id = models.UUIDField(null=True, blank=True, help_text="The run's flow version (none: a draft run)")
    hour = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    principal = models.CharField(max_length=64, help_text="The user's id, the API key's or the visitor's")
    runs = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "flow", "version_id", "hour", "kind", "principal"],
                name="principal_rollup_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["organization", "hour"], name="principal_rollup_org_hour")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.principal} {self.hour:%Y-%m-%d %H}h: {self.runs}"


class FeedbackRollup(models.Model):
    """Visitors' thumbs given in one hour (the rating's time) on one organization's runs of one flow."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    version_id = models.UUIDField(null=True, blank=True, help_text="The run's flow version (none: a draft run)")
    hour = models.DateTimeField()
    up = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "flow", "version_id", "hour"],
                name="feedback_rollup_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["organization", "hour"], name="feedback_rollup_org_hour")]

    def __str__(self) -> str:
        return f"{self.flow_id} {self.hour:%Y-%m-%d %H}h: +{self.up} -{self.down}"


class RollupMark(models.Model):
    """How far the rollups are complete: every hour before `rolled_to` is in the rollup tables."""

    name = models.CharField(max_length=16, primary_key=True)
    rolled_to = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} to {self.rolled_to:%Y-%m-%d %H:%M}"
