"""Guard policies (an organization's, and a widget's that replaces it) and the hits they record."""

from __future__ import annotations

import uuid

from django.db import models


class Policy(models.Model):
    """A flows.guards.GuardPolicy stored as JSON; `widget` NULL is the organization's own policy."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="guard_policies")
    widget = models.ForeignKey(
        "widgets.Widget", null=True, blank=True, on_delete=models.CASCADE, related_name="guard_policies"
    )
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(widget__isnull=True), name="guard_policy_one_per_org"
            ),
            models.UniqueConstraint(fields=["widget"], name="guard_policy_one_per_widget"),
        ]

    def __str__(self) -> str:
        return f"policy {self.id} ({'widget' if self.widget_id else 'organization'})"


class GuardHit(models.Model):
    """One check that fired on a run: where in the text (offsets), never the text itself.

    `run_id` is not a foreign key: a blocked input has no run row, and its hit is kept."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="guard_hits")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="hits")
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    stage = models.CharField(max_length=16, default="input")
    source = models.CharField(max_length=200, default="user")
    check_name = models.CharField(max_length=32, help_text="pii, injection, content, canary, link, schema")
    label = models.CharField(max_length=64)
    action = models.CharField(max_length=16)
    intended = models.CharField(max_length=16, blank=True, help_text="A dry run: what would have been done")
    score = models.FloatField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at", "-id"], name="guard_hit_org_recent")]

    def __str__(self) -> str:
        return f"{self.check_name}/{self.label} {self.action}"
