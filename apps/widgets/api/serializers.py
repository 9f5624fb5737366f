from __future__ import annotations

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.widgets.models import Widget


class AppearanceIn(StrictSerializer):
    title = serializers.CharField(max_length=80, allow_blank=True, required=False)
    greeting = serializers.CharField(max_length=500, allow_blank=True, required=False)
    suggestions = serializers.ListField(child=serializers.CharField(max_length=120), max_length=6, required=False)
    primary_color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    avatar_url = serializers.URLField(max_length=500, allow_blank=True, required=False)
    position = serializers.ChoiceField(choices=["left", "right"], required=False)
    theme = serializers.ChoiceField(choices=["light", "dark"], required=False)

    def validate_avatar_url(self, value: str) -> str:
        if value and not value.startswith("https://"):
            raise serializers.ValidationError("Use an https:// image address.")
        return value


class _WidgetFields(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1, required=False)
    enabled = serializers.BooleanField(required=False)
    pinned_version = serializers.IntegerField(
        min_value=1, allow_null=True, required=False, help_text="null: follow the flow's published version"
    )
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=50, required=False, help_text="e.g. https://example.com"
    )
    hosted_page = serializers.BooleanField(required=False)
    appearance = AppearanceIn(required=False)
    conversation_memory = serializers.BooleanField(required=False)
    show_sources = serializers.BooleanField(required=False)
    collect_feedback = serializers.BooleanField(required=False)
    max_input_chars = serializers.IntegerField(min_value=1, max_value=20_000, required=False)
    visitor_messages_per_minute = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    ip_messages_per_minute = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    tokens_per_day = serializers.IntegerField(min_value=1, max_value=2_000_000_000, required=False)


class WidgetCreateIn(_WidgetFields):
    flow = serializers.UUIDField()


class WidgetUpdateIn(_WidgetFields):
    flow = serializers.UUIDField(required=False)


class AppearanceOut(serializers.Serializer):  # type: ignore[type-arg]
    title = serializers.CharField()
    greeting = serializers.CharField()
    suggestions = serializers.ListField(child=serializers.CharField())
    primary_color = serializers.CharField()
    avatar_url = serializers.CharField()
    position = serializers.CharField()
    theme = serializers.CharField()


class WidgetOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    flow_name = serializers.CharField(source="flow.name")
    pinned_version = serializers.IntegerField(source="pinned_version.number", allow_null=True, default=None)
    published_version = serializers.SerializerMethodField()
    appearance = AppearanceOut()
    allowed_origins = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Widget
        fields = [
            "id",
            "name",
            "flow",
            "flow_name",
            "pinned_version",
            "published_version",
            "public_key",
            "enabled",
            "allowed_origins",
            "hosted_page",
            "appearance",
            "conversation_memory",
            "show_sources",
            "collect_feedback",
            "max_input_chars",
            "visitor_messages_per_minute",
            "ip_messages_per_minute",
            "tokens_per_day",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_published_version(self, widget: Widget) -> int | None:
        """The version visitors get now (pinned, or the flow's published one)."""
        version = widget.pinned_version or widget.flow.published_version
        return version.number if version is not None else None


class AnalyticsDayOut(serializers.Serializer):  # type: ignore[type-arg]
    day = serializers.DateField()
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    failed = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()


class AnalyticsTotalsOut(serializers.Serializer):  # type: ignore[type-arg]
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    failed = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()


class AnalyticsOut(serializers.Serializer):  # type: ignore[type-arg]
    days = AnalyticsDayOut(many=True)
    totals = AnalyticsTotalsOut()
