from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.runs.models import ChatMessage, ChatSession, Run, Span
from apps.serving.api.serializers import ModelCallOut
from apps.serving.models import ModelCall


class RunIn(StrictSerializer):
    inputs = serializers.DictField(help_text='The run inputs, e.g. {"message": "Hello"}')
    version = serializers.CharField(default="published", help_text='"published", "draft" or a version number')
    session = serializers.UUIDField(required=False, allow_null=True, default=None)
    stream = serializers.BooleanField(default=False, help_text="Answer as Server-Sent Events")

    def validate_version(self, value: str) -> int | str:
        if value in {"published", "draft"}:
            return value
        if value.isdigit():
            return int(value)
        raise serializers.ValidationError('Use "published", "draft" or a version number.')


_RUN_IN_FIELDS = frozenset(RunIn().fields)


def run_in_usual(body: Any) -> dict[str, Any] | None:
    """RunIn's validated data for the usual body (inputs as an object; "published" or "draft"; no
    session; stream true/false or left out), read without DRF's field machinery (a REST run's
    cost); None for every other body, which RunIn validates (and words the errors of)."""
    if type(body) is not dict or not body.keys() <= _RUN_IN_FIELDS:
        return None
    inputs, version = body.get("inputs"), body.get("version", "published")
    stream, session = body.get("stream", False), body.get("session")
    if type(inputs) is not dict or version not in ("published", "draft") or type(stream) is not bool:
        return None
    if session is not None:
        return None
    return {"inputs": dict(inputs), "version": version, "session": None, "stream": stream}


class RunOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    flow_name = serializers.CharField(source="flow.name")
    version_number = serializers.IntegerField(source="version.number", allow_null=True, default=None)

    class Meta:
        model = Run
        fields = [
            "id",
            "flow",
            "flow_name",
            "version_number",
            "source",
            "status",
            "session",
            "inputs",
            "output",
            "output_text",
            "error_code",
            "error_message",
            "failed_node",
            "started_at",
            "finished_at",
            "latency_ms",
            "ttft_ms",
            "input_tokens",
            "output_tokens",
            "cost",
            "usage",
        ]


class SpanOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Span
        fields = [
            "node",
            "node_type",
            "status",
            "started_at",
            "finished_at",
            "latency_ms",
            "inputs",
            "outputs",
            "input_tokens",
            "output_tokens",
            "error_code",
            "error_message",
        ]


class RunDetailOut(RunOut):
    spans = serializers.SerializerMethodField()
    model_calls = serializers.SerializerMethodField(
        help_text="The run's model calls through the gateway: which model served each (a fallback?) and "
        "the attempts before it"
    )

    class Meta(RunOut.Meta):
        fields = [*RunOut.Meta.fields, "spans", "model_calls"]

    def get_spans(self, run: Run) -> list[dict[str, Any]]:
        return SpanOut(run.spans.order_by("started_at", "id"), many=True).data  # type: ignore[return-value]

    @extend_schema_field(ModelCallOut(many=True))
    def get_model_calls(self, run: Run) -> list[dict[str, Any]]:
        calls = ModelCall.objects.filter(organization_id=run.organization_id, run_id=run.pk).order_by("at", "id")
        return ModelCallOut(calls, many=True).data  # type: ignore[return-value]


class EventOut(serializers.Serializer):  # type: ignore[type-arg]
    run = serializers.UUIDField()
    seq = serializers.IntegerField()
    type = serializers.CharField()
    node = serializers.CharField(allow_null=True)
    data = serializers.DictField()  # type: ignore[assignment]
    at = serializers.FloatField()


class MessageOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ChatMessage
        fields = ["id", "role", "content", "run", "created_at"]


class SessionOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ChatSession
        fields = ["id", "flow", "title", "created_at", "updated_at"]


class SessionDetailOut(SessionOut):
    messages = MessageOut(many=True)

    class Meta(SessionOut.Meta):
        fields = [*SessionOut.Meta.fields, "messages"]
