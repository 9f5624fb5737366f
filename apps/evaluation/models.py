"""Golden datasets (immutable numbered versions of items), evaluations (a flow version or draft
run over a dataset version, N samples per item, scored by evaluators) and publish gates."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.runs.models import Run

EVALUATION_SOURCE = Run.Source.EVALUATION  # Run.source of the runs an evaluation starts


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    latest_version = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at"], name="dataset_org_recent")]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """A frozen list of items. Every change to a dataset writes a new version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.CharField(max_length=500, blank=True, default="")
    item_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.dataset_id} v{self.number}"


class DatasetItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items")
    ordinal = models.PositiveIntegerField()
    # `key` stays the same across versions for the same item (the paired comparison's key).
    key = models.UUIDField(default=uuid.uuid4)
    message = models.TextField()
    variables = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)  # [{"role": "user"|"assistant", "content": ...}]
    expected_output = models.TextField(blank=True, default="")
    expected_sources = models.JSONField(default=list, blank=True)  # document ids or titles
    tags = models.JSONField(default=list, blank=True)
    origin = models.CharField(max_length=16, default="manual")  # manual, upload, run, conversation, feedback
    comment = models.TextField(blank=True, default="")  # e.g. the visitor's thumbs-down comment
    source_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "ordinal"], name="dataset_item_unique_ordinal")]
        ordering = ["version", "ordinal"]

    def __str__(self) -> str:
        return self.message[:40]


class Evaluation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120, blank=True, default="")
    flow = models.ForeignKey("builder.Flow", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        "builder.FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version_number = models.PositiveIntegerField(null=True, blank=True)  # None: the draft
    draft_revision = models.PositiveIntegerField(null=True, blank=True)  # the draft's revision when created
    # A prompt version as the target: the flow version (or draft) with one prompt node's template
    # replaced by this text, kept here so the evaluation can be run again the same way.
    prompt_node = models.CharField(max_length=128, blank=True, default="")
    prompt_template = models.TextField(blank=True, default="")
    dataset_version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="evaluations")
    evaluators = models.JSONField(default=list)
    samples = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveSmallIntegerField(default=4)
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    gate = models.BooleanField(default=False)  # started by a flow's publish gate
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)  # a worker holds it until then
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="evaluation_org_recent")]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def target(self) -> str:
        base = "draft" if self.version_number is None else f"v{self.version_number}"
        return f"{base} + prompt {self.prompt_node}" if self.prompt_node else base


class EvalSample(models.Model):
    """One run of one item (sample `sample` of `samples`) and its scores. Its row is the record
    that the sample is done: a resumed evaluation skips the samples that have one."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="sample_rows")
    item = models.ForeignKey(DatasetItem, on_delete=models.CASCADE, related_name="+")
    sample = models.PositiveSmallIntegerField()
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    output = models.TextField(blank=True, default="")
    citations = models.JSONField(default=list, blank=True)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    latency_ms = models.FloatField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    # {evaluator name: {"score": float | None, "reasoning": str, "pending": bool}}
    scores = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evaluation", "item", "sample"], name="eval_sample_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.evaluation_id}:{self.item_id}#{self.sample}"


class FlowGate(models.Model):
    """A flow's publish gate: the draft must pass this evaluation before it is published."""

    flow = models.OneToOneField("builder.Flow", primary_key=True, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    evaluators = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict)  # evaluator name -> the lowest mean that passes
    samples = models.PositiveSmallIntegerField(default=1)
    no_regression = models.BooleanField(default=True)  # vs the published version (paired test)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"gate of {self.flow_id}"
