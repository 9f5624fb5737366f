from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.serving.models import ModelEndpoint, ModelKind
from apps.serving.services import PROBE_MAX_TOKENS, base_url_problem

MAX_TIMEOUT_S = 3600.0
MAX_TEST_TOKENS = 512

# --- input ------------------------------------------------------------------------------------


class BaseUrlField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        url = str(super().to_internal_value(data))
        if problem := base_url_problem(url):
            raise serializers.ValidationError(problem)
        return url.rstrip("/")


def _price() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=6, min_value=Decimal(0), default=Decimal(0))


def _timeout(default: float) -> serializers.FloatField:
    return serializers.FloatField(min_value=0.1, max_value=MAX_TIMEOUT_S, default=default)


class ModelEndpointIn(StrictSerializer):
    """Create (all defaults apply) or, with partial=True, update (only the fields sent)."""

    alias = serializers.SlugField(max_length=64, help_text="How flows name this model, e.g. `local`")
    name = serializers.CharField(max_length=120, required=False, default="", allow_blank=True)
    kind = serializers.ChoiceField(choices=ModelKind.choices, default=ModelKind.CHAT)
    base_url = BaseUrlField(max_length=500, help_text="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1")
    model = serializers.CharField(max_length=200, help_text="The model's name on that server")
    api_key = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        write_only=True,
        help_text='Stored encrypted, never shown again. On update, "" removes it and leaving it out keeps it.',
    )
    supports_tools = serializers.BooleanField(default=False)
    price_input_per_1k = _price()
    price_output_per_1k = _price()
    connect_timeout_s = _timeout(5.0)
    first_token_timeout_s = _timeout(60.0)
    idle_timeout_s = _timeout(30.0)


class ModelTestIn(StrictSerializer):
    prompt = serializers.CharField(max_length=4000, min_length=1)
    max_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TEST_TOKENS, default=PROBE_MAX_TOKENS)


# --- output -----------------------------------------------------------------------------------


class ModelEndpointOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    has_api_key = serializers.BooleanField(read_only=True, help_text="The key itself is never returned.")

    class Meta:
        model = ModelEndpoint
        fields = [
            "id",
            "alias",
            "name",
            "kind",
            "base_url",
            "model",
            "has_api_key",
            "supports_tools",
            "price_input_per_1k",
            "price_output_per_1k",
            "connect_timeout_s",
            "first_token_timeout_s",
            "idle_timeout_s",
            "is_builtin",
            "created_at",
            "updated_at",
        ]


class ModelTestOut(serializers.Serializer):  # type: ignore[type-arg]
    text = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    latency_ms = serializers.FloatField()
