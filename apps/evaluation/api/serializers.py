"""Request and response shapes of the evaluation API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.evaluation.models import Dataset, DatasetItem, DatasetVersion, EvalSample, Evaluation, FlowGate


class DatasetCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, default="", max_length=2000)
    items = serializers.ListField(child=serializers.JSONField(), required=False, default=list)


class DatasetUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=2000)


class ItemsReplaceIn(StrictSerializer):
    items = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
    note = serializers.CharField(allow_blank=True, default="", max_length=500)


class UploadIn(serializers.Serializer[Any]):
    file = serializers.FileField()


class FromProductionIn(StrictSerializer):
    runs = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=1000)
    conversations = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=200)
    thumbs_down = serializers.BooleanField(default=False)
    widget = serializers.UUIDField(required=False, allow_null=True, default=None)
    flow = serializers.UUIDField(required=False, allow_null=True, default=None)
    expected_from_answer = serializers.BooleanField(
        default=True, help_text="Use the production answer as the expected output (never for thumbs-down items)."
    )


class DatasetOut(serializers.ModelSerializer[Dataset]):
    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "latest_version", "created_at", "updated_at"]


class DatasetVersionOut(serializers.ModelSerializer[DatasetVersion]):
    class Meta:
        model = DatasetVersion
        fields = ["id", "number", "note", "item_count", "created_at"]


class DatasetItemOut(serializers.ModelSerializer[DatasetItem]):
    class Meta:
        model = DatasetItem
        fields = [
            "id",
            "key",
            "ordinal",
            "message",
            "variables",
            "history",
            "expected_output",
            "expected_sources",
            "tags",
            "origin",
            "comment",
            "source_run",
        ]


class DatasetItemsOut(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    items = DatasetItemOut(many=True)


class PromptTargetIn(StrictSerializer):
    node = serializers.CharField(max_length=128, help_text="The id of a prompt node in the flow version.")
    template = serializers.CharField(max_length=50_000, help_text="The template the node runs with instead.")


class EvaluationCreateIn(StrictSerializer):
    flow = serializers.UUIDField()
    version = serializers.CharField(max_length=16, help_text="A version number, 'draft' or 'published'.")
    dataset = serializers.UUIDField()
    dataset_version = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    evaluators = serializers.ListField(child=serializers.JSONField(), max_length=20)
    samples = serializers.IntegerField(min_value=1, max_value=10, default=1)
    concurrency = serializers.IntegerField(min_value=1, max_value=32, default=4)
    baseline = serializers.UUIDField(required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=120, allow_blank=True, default="")
    prompt = PromptTargetIn(
        required=False,
        allow_null=True,
        default=None,
        help_text="Evaluate a prompt version: the flow version with this prompt node's template replaced.",
    )


class EstimateOut(serializers.Serializer[Any]):
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    runs = serializers.IntegerField()


class EvaluationOut(serializers.ModelSerializer[Evaluation]):
    flow_name = serializers.CharField(source="flow.name", read_only=True)
    dataset = serializers.UUIDField(source="dataset_version.dataset_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset_version.dataset.name", read_only=True)
    dataset_version_number = serializers.IntegerField(source="dataset_version.number", read_only=True)
    target = serializers.CharField(read_only=True)

    class Meta:
        model = Evaluation
        fields = [
            "id",
            "name",
            "flow",
            "flow_name",
            "target",
            "version_number",
            "draft_revision",
            "prompt_node",
            "prompt_template",
            "dataset",
            "dataset_name",
            "dataset_version_number",
            "evaluators",
            "samples",
            "concurrency",
            "baseline",
            "gate",
            "status",
            "total",
            "done",
            "failed",
            "estimated_cost",
            "cost",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class EvaluationDetailOut(EvaluationOut):
    class Meta(EvaluationOut.Meta):
        fields = [*EvaluationOut.Meta.fields, "summary"]


class SampleOut(serializers.ModelSerializer[EvalSample]):
    item_key = serializers.UUIDField(source="item.key", read_only=True)
    message = serializers.CharField(source="item.message", read_only=True)
    expected_output = serializers.CharField(source="item.expected_output", read_only=True)
    tags = serializers.JSONField(source="item.tags", read_only=True)

    class Meta:
        model = EvalSample
        fields = [
            "id",
            "item_key",
            "sample",
            "message",
            "expected_output",
            "tags",
            "run",
            "output",
            "citations",
            "ok",
            "error",
            "latency_ms",
            "cost",
            "scores",
        ]


class ItemRowOut(serializers.Serializer[Any]):
    """One dataset item of an evaluation: its samples, its means, and the baseline's."""

    item_key = serializers.UUIDField()
    message = serializers.CharField()
    expected_output = serializers.CharField()
    tags = serializers.JSONField()
    samples = SampleOut(many=True)
    means = serializers.DictField(child=serializers.FloatField(allow_null=True))
    baseline_outputs = serializers.ListField(child=serializers.CharField())
    baseline_means = serializers.DictField(child=serializers.FloatField(allow_null=True))
    regressed = serializers.ListField(child=serializers.CharField())


class GradeIn(StrictSerializer):
    evaluator = serializers.CharField(max_length=64)
    score = serializers.FloatField(min_value=0, max_value=1)
    comment = serializers.CharField(allow_blank=True, default="", max_length=2000)


class ReviewOut(SampleOut):
    evaluation = serializers.UUIDField(source="evaluation_id", read_only=True)
    evaluation_name = serializers.CharField(source="evaluation.name", read_only=True)

    class Meta(SampleOut.Meta):
        fields = [*SampleOut.Meta.fields, "evaluation", "evaluation_name"]


class GateIn(StrictSerializer):
    dataset = serializers.UUIDField()
    evaluators = serializers.ListField(child=serializers.JSONField(), max_length=20)
    thresholds = serializers.DictField(child=serializers.FloatField(min_value=0, max_value=1))
    samples = serializers.IntegerField(min_value=1, max_value=10, default=1)
    no_regression = serializers.BooleanField(default=True)
    enabled = serializers.BooleanField(default=True)


class GateOut(serializers.ModelSerializer[FlowGate]):
    class Meta:
        model = FlowGate
        fields = ["flow", "enabled", "dataset", "evaluators", "thresholds", "samples", "no_regression", "updated_at"]


class GateStateOut(serializers.Serializer[Any]):
    gate = GateOut(allow_null=True)
    latest = EvaluationDetailOut(allow_null=True)
    draft_revision = serializers.IntegerField()
