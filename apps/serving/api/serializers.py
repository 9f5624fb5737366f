from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.serving.models import DesiredState, ModelCall, ModelDeployment, ModelEndpoint, ModelKind, StoredModel
from apps.serving.services import PROBE_MAX_TOKENS, base_url_problem

MAX_TIMEOUT_S = 3600.0
MAX_TEST_TOKENS = 512
MAX_CONTEXT_WINDOW = 10_000_000

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
    supports_json_mode = serializers.BooleanField(default=False)
    supports_vision = serializers.BooleanField(default=False)
    context_window = serializers.IntegerField(
        min_value=256,
        max_value=MAX_CONTEXT_WINDOW,
        required=False,
        allow_null=True,
        default=None,
        help_text="Prompt + answer tokens the model takes (the server's max_model_len); "
        "null: unknown, prompts are not fitted",
    )
    cache_ttl_s = serializers.IntegerField(
        min_value=0,
        max_value=7 * 24 * 3600,
        default=0,
        help_text="Keep exact answers (temperature 0, no tools) this many seconds per organization; 0: off",
    )
    semantic_cache_threshold = serializers.FloatField(
        min_value=0.5,
        max_value=1.0,
        required=False,
        allow_null=True,
        default=None,
        help_text="Also answer a question this similar (cosine, 0.5-1; 0.7 answered half of our paraphrase "
        "set with no wrong answer) to one a "
        "published flow version answered before, for cache_ttl_s seconds; null: off",
    )
    price_input_per_1k = _price()
    price_output_per_1k = _price()
    connect_timeout_s = _timeout(5.0)
    first_token_timeout_s = _timeout(60.0)
    idle_timeout_s = _timeout(30.0)
    deployment = serializers.IntegerField(
        required=False, allow_null=True, help_text="A managed deployment serving this alias (replaces base_url)"
    )
    fallbacks = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        max_length=8,
        required=False,
        default=list,
        help_text="Aliases tried in order when this one fails before its first token",
    )
    max_retries = serializers.IntegerField(min_value=0, max_value=5, default=0)


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
            "supports_json_mode",
            "supports_vision",
            "context_window",
            "cache_ttl_s",
            "semantic_cache_threshold",
            "price_input_per_1k",
            "price_output_per_1k",
            "connect_timeout_s",
            "first_token_timeout_s",
            "idle_timeout_s",
            "deployment",
            "fallbacks",
            "max_retries",
            "is_builtin",
            "created_at",
            "updated_at",
        ]


class ModelTestOut(serializers.Serializer):  # type: ignore[type-arg]
    text = serializers.CharField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    latency_ms = serializers.FloatField()


# --- deployments, the model store, quotas, the ledger ------------------------------------------


class DeploymentIn(StrictSerializer):
    name = serializers.SlugField(max_length=64)
    kind = serializers.ChoiceField(choices=ModelKind.choices, default=ModelKind.CHAT)
    model_dir = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    stored_model = serializers.IntegerField(required=False, allow_null=True, default=None)
    served_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    engine_args = serializers.DictField(
        required=False,
        default=dict,
        help_text="max_model_len, dtype, gpu_memory_utilization, tensor_parallel_size, tool_call_parser, "
        "max_num_seqs, enforce_eager",
    )
    port = serializers.IntegerField(
        min_value=1024,
        max_value=65535,
        required=False,
        allow_null=True,
        default=None,
        help_text="Blank: a port free on this host and not used by another deployment",
    )
    desired_state = serializers.ChoiceField(choices=DesiredState.choices, default=DesiredState.RUNNING)


class DeploymentChangeIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=ModelKind.choices, required=False)
    model_dir = serializers.CharField(max_length=500, required=False, allow_blank=True)
    stored_model = serializers.IntegerField(required=False, allow_null=True)
    served_name = serializers.CharField(max_length=200, required=False)
    engine_args = serializers.DictField(required=False)
    port = serializers.IntegerField(min_value=1024, max_value=65535, required=False)


class DeploymentActionIn(StrictSerializer):
    action = serializers.ChoiceField(choices=[("start", "start"), ("stop", "stop"), ("restart", "restart")])


class DeploymentOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    base_url = serializers.CharField(read_only=True)
    instance_owned = serializers.SerializerMethodField()

    class Meta:
        model = ModelDeployment
        fields = [
            "id",
            "name",
            "kind",
            "model_dir",
            "stored_model",
            "served_name",
            "engine_args",
            "desired_state",
            "status",
            "status_reason",
            "host",
            "port",
            "pid",
            "start_count",
            "started_at",
            "ready_at",
            "last_health_at",
            "base_url",
            "instance_owned",
            "created_at",
            "updated_at",
        ]

    def get_instance_owned(self, deployment: ModelDeployment) -> bool:
        return deployment.organization_id is None


class DeploymentLogOut(serializers.Serializer):  # type: ignore[type-arg]
    text = serializers.CharField()
    offset = serializers.IntegerField(help_text="Ask again with ?offset= this to follow the log")


class StoredModelIn(StrictSerializer):
    name = serializers.SlugField(max_length=64)
    origin = serializers.CharField(
        max_length=500, help_text="A model folder under TRELLIS_MODEL_DIRS, or `smollm2-gguf` (the offline package)"
    )


class StoredModelOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = StoredModel
        fields = [
            "id",
            "name",
            "path",
            "source",
            "format",
            "size_bytes",
            "sha256",
            "status",
            "copied_bytes",
            "status_reason",
            "created_at",
        ]


class QuotaIO(StrictSerializer):
    monthly_token_budget = serializers.IntegerField(min_value=0, allow_null=True, required=False, default=None)
    requests_per_minute = serializers.IntegerField(min_value=1, allow_null=True, required=False, default=None)
    monthly_cost_budget = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        default=None,
        help_text="The most the model calls may cost this month, in the prices' currency; null: no limit",
    )


class QuotaOut(QuotaIO):
    used_this_month = serializers.IntegerField(read_only=True)
    spent_this_month = serializers.DecimalField(
        max_digits=14, decimal_places=6, read_only=True, help_text="The model calls' cost this month (UTC)"
    )
    calls_this_month = serializers.IntegerField(read_only=True, help_text="Model calls this month")
    cache_hits_this_month = serializers.IntegerField(
        read_only=True, help_text="Of those, answered by the exact or the semantic cache"
    )
    saved_this_month = serializers.DecimalField(
        max_digits=14, decimal_places=6, read_only=True, help_text="What the cached answers cost when first asked"
    )


class ModelCallOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ModelCall
        fields = [
            "id",
            "run_id",
            "flow_id",
            "user_id",
            "alias",
            "served_by",
            "status",
            "error",
            "attempts",
            "input_tokens",
            "output_tokens",
            "cost",
            "ttft_ms",
            "latency_ms",
            "at",
        ]


class ModelStatsOut(serializers.Serializer):  # type: ignore[type-arg]
    alias = serializers.CharField()
    minute = serializers.DateTimeField()
    requests = serializers.IntegerField()
    failures = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    tokens_per_s = serializers.FloatField()
    ttft_p50_ms = serializers.FloatField(allow_null=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)


# --- discovery and the ledger's filters ----------------------------------------------------------


class ModelDiscoverIn(StrictSerializer):
    base_url = BaseUrlField(max_length=500, help_text="The server's OpenAI-compatible base URL")
    api_key = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="Sent to that server only; left out with `endpoint`: that endpoint's stored key, "
        "if the URL is still the endpoint's",
    )
    endpoint = serializers.IntegerField(required=False, allow_null=True, help_text="An endpoint being edited")


class DiscoveredModelOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    context_window = serializers.IntegerField(allow_null=True, help_text="When the server says (max_model_len)")


class ModelDiscoverOut(serializers.Serializer):  # type: ignore[type-arg]
    models = DiscoveredModelOut(many=True)


class ModelCallQuery(serializers.Serializer):  # type: ignore[type-arg]
    """The ledger's filters, from the query string."""

    alias = serializers.CharField(max_length=64, required=False)
    served_by = serializers.CharField(max_length=64, required=False)
    status = serializers.ChoiceField(choices=ModelCall.Status.choices, required=False)
    flow = serializers.UUIDField(required=False)
    run = serializers.UUIDField(required=False)
    user = serializers.IntegerField(min_value=1, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=200)


class ModelBudgetIn(StrictSerializer):
    flow = serializers.UUIDField(allow_null=True, required=False, default=None, help_text="The flow limited")
    widget = serializers.UUIDField(allow_null=True, required=False, default=None, help_text="The widget limited")
    monthly_token_budget = serializers.IntegerField(min_value=0, allow_null=True, required=False, default=None)
    monthly_cost_budget = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        default=None,
        help_text="The most its model calls may cost a month, in the prices' currency; null: no money limit",
    )


class ModelBudgetOut(ModelBudgetIn):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True, help_text="The flow's or widget's name")
    used_this_month = serializers.IntegerField(read_only=True, help_text="Tokens its model calls used this month")
    spent_this_month = serializers.DecimalField(
        max_digits=14, decimal_places=6, read_only=True, help_text="What its model calls cost this month (UTC)"
    )
