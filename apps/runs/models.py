"""Runs with their events and node spans, and chat sessions with their messages."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

# Input values and the streamed output as one tsvector ('simple': no stemming, any language). The
# GIN index `run_text_search` (migration 0002) is on exactly this expression; the runs browser's
# full-text filter repeats it so PostgreSQL can use the index.
RUN_TEXT_SEARCH_SQL = "(to_tsvector('simple'::regconfig, inputs) || to_tsvector('simple'::regconfig, output_text))"


class ChatSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="chat_sessions")
    flow = models.ForeignKey("builder.Flow", null=True, on_delete=models.SET_NULL, related_name="chat_sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at"], name="session_org_recent")]

    def __str__(self) -> str:
        return self.title or str(self.id)


class ChatMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class Run(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        PLAYGROUND = "playground"
        API = "api"
        OPENAI = "openai", "OpenAI-compatible"
        WIDGET = "widget"
        EVALUATION = "evaluation"  # a sample of an evaluation run (apps.evaluation)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="runs")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        "builder.FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PLAYGROUND)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    session = models.ForeignKey(ChatSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("tenancy.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    inputs = models.JSONField(default=dict)
    output = models.JSONField(default=dict, blank=True)
    output_text = models.TextField(blank=True, help_text="The streamed text, kept even when the run fails")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    failed_node = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    usage = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=128, blank=True, help_text="host:pid of the process executing it")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            # The runs browser's keyset order: (started_at, id) newest first, within an organization.
            models.Index(fields=["organization", "-started_at", "-id"], name="run_org_recent_id"),
            models.Index(fields=["flow", "-started_at", "-id"], name="run_flow_recent_id"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class RunEvent(models.Model):
    """One event, or a batch of consecutive token events (`texts`, seq..seq_end) to keep rows few."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    seq_end = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    node = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict)
    at = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_unique_seq")]
        ordering = ["run", "seq"]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.type}"


class Span(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="spans")
    node = models.CharField(max_length=64)
    node_type = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    started_at = models.FloatField(null=True, blank=True)
    finished_at = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "node"], name="span_unique_node")]
        ordering = ["run", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.node} {self.status}"
