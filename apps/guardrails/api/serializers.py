from __future__ import annotations

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.guardrails.models import GuardHit, Policy


class PolicyIn(StrictSerializer):
    widget = serializers.UUIDField(allow_null=True, required=False, help_text="null or absent: the organization's")
    enabled = serializers.BooleanField(required=False, default=True)
    config = serializers.DictField(
        help_text="A guard policy: pii, injection, content, output, block_message, dry_run, redact_before_storing, "
        "reversible (GET .../guard-policies/defaults/ shows every field)"
    )


class PolicyOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    widget = serializers.UUIDField(source="widget_id", allow_null=True, read_only=True)

    class Meta:
        model = Policy
        fields = ["id", "widget", "enabled", "config", "created_at", "updated_at"]


class PolicyTestIn(StrictSerializer):
    config = serializers.DictField(required=False, help_text="A policy to try; absent: the defaults")
    text = serializers.CharField(max_length=20_000, allow_blank=True, trim_whitespace=False)
    stage = serializers.ChoiceField(choices=["input", "output"], default="input")
    source = serializers.ChoiceField(choices=["user", "document"], default="user")  # type: ignore[assignment]


class HitOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    policy = serializers.UUIDField(source="policy_id", allow_null=True, read_only=True)
    check = serializers.CharField(source="check_name", read_only=True)

    class Meta:
        model = GuardHit
        fields = [
            "id", "run_id", "policy", "stage", "source", "check", "label", "action", "intended", "score", "start",
            "end", "created_at",
        ]  # fmt: skip


class VerdictHitOut(serializers.Serializer):  # type: ignore[type-arg]
    check = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    action = serializers.CharField()
    intended = serializers.CharField(required=False)
    score = serializers.FloatField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]


class VerdictOut(serializers.Serializer):  # type: ignore[type-arg]
    action = serializers.CharField()
    text = serializers.CharField(help_text="What continues: redacted where the policy says")
    message = serializers.CharField(help_text="The block message, when blocked")
    hits = VerdictHitOut(many=True)


class HitSummaryOut(serializers.Serializer):  # type: ignore[type-arg]
    check = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    action = serializers.CharField()
    count = serializers.IntegerField()
