"""Chat widgets: a published flow on other people's websites, its visitors and their feedback."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models

PUBLIC_KEY_PREFIX = "wpk"


def new_public_key() -> str:
    return f"{PUBLIC_KEY_PREFIX}_{secrets.token_urlsafe(18)}"


def default_appearance() -> dict[str, Any]:
    return {
        "title": "Ask us anything",
        "greeting": "Hi! How can I help?",
        "suggestions": [],
        "primary_color": "#4f46e5",
        "avatar_url": "",
        "position": "right",
        "theme": "light",
    }


class Widget(models.Model):
    """A flow published as a chat widget. The public key identifies it and grants nothing alone:
    every public call also needs an allowed Origin and, to chat, a short-lived session token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="widgets")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="widgets")
    # None: follow the flow's published version; set: always this version.
    pinned_version = models.ForeignKey(
        "builder.FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=120)
    public_key = models.CharField(max_length=64, unique=True, default=new_public_key)
    enabled = models.BooleanField(default=True)
    allowed_origins = models.JSONField(default=list)
    hosted_page = models.BooleanField(default=True, help_text="Serve the full-page chat at /w/<key>/")
    appearance = models.JSONField(default=default_appearance)
    conversation_memory = models.BooleanField(default=True)
    show_sources = models.BooleanField(default=True)
    collect_feedback = models.BooleanField(default=True)
    max_input_chars = models.PositiveIntegerField(default=2000)
    visitor_messages_per_minute = models.PositiveIntegerField(default=10)
    ip_messages_per_minute = models.PositiveIntegerField(default=30)
    tokens_per_day = models.PositiveIntegerField(default=200_000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at"], name="widget_org_recent")]

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    """An anonymous person chatting through a widget; created on the first message only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="visitors")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return str(self.id)


class Conversation(models.Model):
    """A visitor's chat session (the runs' ChatSession) inside one widget."""

    session = models.OneToOneField("runs.ChatSession", primary_key=True, on_delete=models.CASCADE, related_name="+")
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["visitor", "-created_at"], name="conversation_visitor_recent")]

    def __str__(self) -> str:
        return str(self.session_id)


class WidgetRun(models.Model):
    """Which widget and visitor a run came from (analytics, budgets, resume rights)."""

    run = models.OneToOneField("runs.Run", primary_key=True, on_delete=models.CASCADE, related_name="+")
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="runs")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="runs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["widget", "created_at"], name="widget_run_recent")]

    def __str__(self) -> str:
        return str(self.run_id)


class Feedback(models.Model):
    class Rating(models.IntegerChoices):
        DOWN = -1
        UP = 1

    run = models.OneToOneField("runs.Run", primary_key=True, on_delete=models.CASCADE, related_name="+")
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="feedback")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.run_id}: {self.rating:+d}"


class RateCounter(models.Model):
    """A fixed-window counter shared by every worker (the database is the one shared state)."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=80)  # "visitor:<id>" or "ip:<address>"
    window = models.BigIntegerField()  # window start, in seconds since the epoch
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["widget", "scope", "window"], name="rate_counter_unique")]

    def __str__(self) -> str:
        return f"{self.scope}@{self.window}: {self.count}"
