"""Flows (an editable draft graph) and their immutable, numbered versions."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from apps.tenancy.models import Organization


class Flow(models.Model):
    """A flow of one organization. `draft` is a FlowSpec dict the editor saves freely (it may be
    invalid); `revision` guards it against lost updates; `published_version` is what runs serve."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    draft = models.JSONField(default=dict)
    revision = models.PositiveIntegerField(default=1)
    # SET_NULL rather than PROTECT: versions only disappear together with their flow, and PROTECT
    # would refuse that cascade.
    published_version = models.ForeignKey(
        "FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at"], name="flow_org_recent")]

    def __str__(self) -> str:
        return self.name


class ImmutableVersion(Exception):
    pass


class FlowVersion(models.Model):
    """A frozen copy of a flow's graph. Never updated: publishing makes a new one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    note = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.flow_id} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersion("A flow version is immutable; publish a new one instead.")
        super().save(*args, **kwargs)
