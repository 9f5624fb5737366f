from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.config.errors import InvalidInput
from apps.config.serializers import StrictSerializer
from apps.observability.conversations import transcript
from apps.observability.models import AlertEvent, AlertRule, WebhookDelivery
from apps.observability.selectors import RunFilters, RunTrace, input_preview
from apps.runs.api.serializers import RunDetailOut, SpanOut
from apps.runs.models import Run
from apps.serving.api.serializers import ModelCallOut
from apps.serving.egress import EgressPolicy
from apps.widgets.models import Feedback
from flows.errors import EgressRefused


class RunQueryIn(StrictSerializer):
    """The runs browser's query string; every filter is optional and they combine with AND."""

    flow = serializers.UUIDField(required=False)
    version = serializers.IntegerField(required=False, min_value=1, help_text="A version number of `flow`")
    source = serializers.ChoiceField(choices=Run.Source.choices, required=False)  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=Run.Status.choices, required=False)
    error_code = serializers.CharField(required=False, max_length=64)
    model = serializers.CharField(required=False, max_length=64, help_text="A model alias asked for or that served")
    since = serializers.DateTimeField(required=False, help_text="Started at or after (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="Started before (ISO 8601)")
    user = serializers.EmailField(required=False, help_text="The member who ran it (email)")
    visitor = serializers.UUIDField(required=False, help_text="A widget visitor")
    widget = serializers.UUIDField(required=False)
    session = serializers.UUIDField(required=False)
    feedback = serializers.ChoiceField(choices=["up", "down", "any"], required=False)
    q = serializers.CharField(required=False, max_length=200, help_text="Words in the input or the output")
    cursor = serializers.CharField(required=False, max_length=200, help_text="`next` from the previous page")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    def filters(self) -> RunFilters:
        data = dict(self.validated_data)
        data.pop("cursor", None)
        data.pop("limit", None)
        return RunFilters(**data)


class RunRowOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One row of the runs table: what it was asked, what it answered (previews) and what it cost."""

    flow_name = serializers.CharField(source="flow.name")
    version_number = serializers.IntegerField(source="version.number", allow_null=True, default=None)
    user = serializers.CharField(source="created_by.email", allow_null=True, default=None)
    input_preview = serializers.SerializerMethodField()
    output_preview = serializers.CharField()
    rating = serializers.IntegerField(allow_null=True, help_text="Visitor feedback: 1 thumbs up, -1 thumbs down")
    feedback_comment = serializers.CharField(allow_null=True)
    visitor_id = serializers.UUIDField(allow_null=True)
    widget_id = serializers.UUIDField(allow_null=True)
    models = serializers.ListField(child=serializers.CharField(), help_text="The aliases that served its model calls")

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
            "user",
            "visitor_id",
            "widget_id",
            "input_preview",
            "output_preview",
            "error_code",
            "failed_node",
            "started_at",
            "finished_at",
            "latency_ms",
            "ttft_ms",
            "input_tokens",
            "output_tokens",
            "cost",
            "rating",
            "feedback_comment",
            "models",
        ]

    def get_input_preview(self, run: Run) -> str:
        return input_preview(run.inputs)


class RunPageOut(serializers.Serializer):  # type: ignore[type-arg]
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next (older) page")
    results = RunRowOut(many=True)


class WaterfallSpanOut(serializers.Serializer):  # type: ignore[type-arg]
    node = serializers.CharField()
    node_type = serializers.CharField()
    status = serializers.CharField()
    offset_ms = serializers.FloatField(allow_null=True, help_text="Start, from the run's start")
    duration_ms = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    input_preview = serializers.CharField()
    output_preview = serializers.CharField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    model_calls = serializers.ListField(child=serializers.IntegerField(), help_text="Ids in the run's `model_calls`")


class FeedbackOut(serializers.Serializer):  # type: ignore[type-arg]
    rating = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class RunErrorOut(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField()
    message = serializers.CharField()
    node = serializers.CharField(allow_blank=True)
    node_type = serializers.CharField(allow_blank=True)
    summary = serializers.CharField(help_text="The error in words, naming the failing node")


class RunTraceOut(RunDetailOut):
    """A run with its trace; rendered with `context={"trace": RunTrace}`."""

    user = serializers.CharField(source="created_by.email", allow_null=True, default=None)
    waterfall = serializers.SerializerMethodField()
    feedback = serializers.SerializerMethodField()
    visitor_id = serializers.SerializerMethodField()
    widget_id = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta(RunDetailOut.Meta):
        fields = [*RunDetailOut.Meta.fields, "user", "visitor_id", "widget_id", "waterfall", "feedback", "error"]

    @property
    def trace(self) -> RunTrace:
        return self.context["trace"]  # type: ignore[no-any-return]

    @extend_schema_field(WaterfallSpanOut(many=True))
    def get_waterfall(self, run: Run) -> list[dict[str, Any]]:
        return WaterfallSpanOut(self.trace.waterfall, many=True).data  # type: ignore[return-value]

    def get_spans(self, run: Run) -> list[dict[str, Any]]:
        return SpanOut(self.trace.spans, many=True).data  # type: ignore[return-value]

    @extend_schema_field(ModelCallOut(many=True))
    def get_model_calls(self, run: Run) -> list[dict[str, Any]]:
        return ModelCallOut(self.trace.model_calls, many=True).data  # type: ignore[return-value]

    @extend_schema_field(FeedbackOut(allow_null=True))
    def get_feedback(self, run: Run) -> dict[str, Any] | None:
        return FeedbackOut(self.trace.feedback).data if self.trace.feedback else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_visitor_id(self, run: Run) -> str | None:
        return str(self.trace.widget_run.visitor_id) if self.trace.widget_run else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_widget_id(self, run: Run) -> str | None:
        return str(self.trace.widget_run.widget_id) if self.trace.widget_run else None

    @extend_schema_field(RunErrorOut(allow_null=True))
    def get_error(self, run: Run) -> dict[str, Any] | None:
        if not run.error_code and run.status != Run.Status.FAILED:
            return None
        node_type = self.trace.failed_node_type
        where = f'Node "{run.failed_node}"' + (f" ({node_type})" if node_type else "") if run.failed_node else ""
        message = run.error_message or run.error_code or "The run failed."
        return {
            "code": run.error_code,
            "message": run.error_message,
            "node": run.failed_node,
            "node_type": node_type,
            "summary": f"{where} failed: {message}" if where else message,
        }


class FeedbackQueryIn(StrictSerializer):
    rating = serializers.ChoiceField(choices=["up", "down"], required=False)
    widget = serializers.UUIDField(required=False)
    flow = serializers.UUIDField(required=False)
    commented = serializers.BooleanField(required=False, default=False, help_text="Only feedback with a comment")
    cursor = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)


class FeedbackItemOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    widget_name = serializers.CharField(source="widget.name")
    flow = serializers.UUIDField(source="run.flow_id")
    session = serializers.UUIDField(source="run.session_id", allow_null=True)
    question = serializers.SerializerMethodField()
    answer = serializers.SerializerMethodField()

    class Meta:
        model = Feedback
        fields = [
            "run",
            "widget",
            "widget_name",
            "flow",
            "session",
            "rating",
            "comment",
            "question",
            "answer",
            "created_at",
        ]

    def get_question(self, feedback: Feedback) -> str:
        return input_preview(feedback.run.inputs)

    def get_answer(self, feedback: Feedback) -> str:
        return feedback.run.output_text[:1000]


class FeedbackPageOut(serializers.Serializer):  # type: ignore[type-arg]
    next = serializers.CharField(allow_null=True)
    results = FeedbackItemOut(many=True)


class ConversationQueryIn(StrictSerializer):
    widget = serializers.UUIDField(required=False)
    flow = serializers.UUIDField(required=False)
    thumbs_down = serializers.BooleanField(required=False, default=False, help_text="Only those with a thumbs-down")
    cursor = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)


class ConversationExportQueryIn(StrictSerializer):
    widget = serializers.UUIDField(required=False)
    flow = serializers.UUIDField(required=False)
    thumbs_down = serializers.BooleanField(required=False, default=False)
    output = serializers.ChoiceField(choices=["jsonl", "csv"], default="jsonl", help_text="The file's format")


class ConversationOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    title = serializers.CharField()
    flow = serializers.UUIDField(source="flow_id", allow_null=True)
    flow_name = serializers.CharField(source="flow.name", allow_null=True, default=None)
    user = serializers.CharField(source="user.email", allow_null=True, default=None)
    widget_id = serializers.UUIDField(allow_null=True)
    widget_name = serializers.CharField(allow_null=True)
    visitor_id = serializers.UUIDField(allow_null=True)
    message_count = serializers.IntegerField()
    thumbs_down = serializers.IntegerField(allow_null=True, help_text="Answers rated thumbs-down")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConversationPageOut(serializers.Serializer):  # type: ignore[type-arg]
    next = serializers.CharField(allow_null=True)
    results = ConversationOut(many=True)


class CitationOut(serializers.Serializer):  # type: ignore[type-arg]
    n = serializers.IntegerField(required=False)
    title = serializers.CharField(required=False)
    document = serializers.CharField(required=False)
    page = serializers.CharField(required=False)
    snippet = serializers.CharField(required=False)


class TranscriptMessageOut(serializers.Serializer):  # type: ignore[type-arg]
    role = serializers.CharField()
    text = serializers.CharField()
    at = serializers.DateTimeField()
    run = serializers.UUIDField(allow_null=True)
    status = serializers.CharField(required=False)
    latency_ms = serializers.FloatField(required=False, allow_null=True)
    ttft_ms = serializers.FloatField(required=False, allow_null=True)
    tokens = serializers.IntegerField(required=False)
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, required=False)
    error_code = serializers.CharField(required=False)
    citations = serializers.ListField(child=serializers.DictField(), required=False)
    rating = serializers.IntegerField(required=False, allow_null=True)
    comment = serializers.CharField(required=False)


class ConversationDetailOut(ConversationOut):
    messages = serializers.SerializerMethodField()

    @extend_schema_field(TranscriptMessageOut(many=True))
    def get_messages(self, session: Any) -> list[dict[str, Any]]:
        return TranscriptMessageOut(transcript(session), many=True).data  # type: ignore[return-value]


class AlertRuleIn(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1)
    metric = serializers.ChoiceField(choices=AlertRule.Metric.choices)
    flow = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="Only this flow's runs")
    threshold = serializers.FloatField(min_value=0)
    window_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=5)
    min_runs = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    webhook_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(default=True)

    def validate_webhook_url(self, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise serializers.ValidationError("Use an http(s) address.")
        if value:  # the outbound policy on save too (every delivery is vetted again: alerts.py)
            try:
                EgressPolicy().check_url(value)
            except EgressRefused as refused:
                raise InvalidInput(f"webhook_url: {refused.message}", code="egress_refused") from None
        return value


class AlertRuleUpdateIn(AlertRuleIn):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class AlertRuleOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    has_webhook = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "metric",
            "flow",
            "threshold",
            "window_minutes",
            "min_runs",
            "webhook_url",
            "has_webhook",
            "enabled",
            "state",
            "last_value",
            "last_evaluated_at",
            "created_at",
        ]

    def get_has_webhook(self, rule: AlertRule) -> bool:
        return bool(rule.webhook_url)


class AlertRuleCreatedOut(AlertRuleOut):
    webhook_secret = serializers.SerializerMethodField(
        help_text="Signs each webhook call (X-Trellis-Signature: t=<unix time>,v1=HMAC-SHA256 of "
        '"<t>.<body>"); shown only now'
    )

    class Meta(AlertRuleOut.Meta):
        fields = [*AlertRuleOut.Meta.fields, "webhook_secret"]

    def get_webhook_secret(self, rule: AlertRule) -> str:
        return str(self.context.get("secret", ""))


class WebhookDeliveryOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = WebhookDelivery
        fields = ["attempt", "status_code", "error", "delivered", "at"]


class AlertEventOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    deliveries = WebhookDeliveryOut(many=True)

    class Meta:
        model = AlertEvent
        fields = ["id", "kind", "value", "threshold", "at", "deliveries"]


class StatsQueryIn(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)
    flow = serializers.UUIDField(required=False)
    alias = serializers.CharField(
        required=False, max_length=64, help_text="Narrows the model-call figures (per model, cache) to one alias"
    )
    version = serializers.UUIDField(
        required=False, help_text="A version of `flow` (required with it): every figure, model calls included"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("version") is not None and attrs.get("flow") is None:
            raise InvalidInput("Choose a flow before one of its versions.", code="version_needs_flow")
        return attrs


class StatsErrorOut(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField()
    runs = serializers.IntegerField()


class StatsFiguresOut(serializers.Serializer):  # type: ignore[type-arg]
    runs = serializers.IntegerField()
    failed = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True, help_text="% of ended runs that failed")
    errors = StatsErrorOut(many=True, help_text="Failed runs by error code, most first")  # type: ignore[assignment]
    p50_latency_ms = serializers.FloatField(allow_null=True, help_text="From histograms: within 10%")
    p95_latency_ms = serializers.FloatField(allow_null=True)
    p99_latency_ms = serializers.FloatField(allow_null=True)
    p50_ttft_ms = serializers.FloatField(allow_null=True)
    p95_ttft_ms = serializers.FloatField(allow_null=True)
    p50_tbt_ms = serializers.FloatField(allow_null=True, help_text="Time between tokens (a run's mean)")
    p95_tbt_ms = serializers.FloatField(allow_null=True)
    tokens_per_second = serializers.FloatField(allow_null=True, help_text="Output tokens after the first, per second")
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)
    cost_per_run = serializers.DecimalField(max_digits=18, decimal_places=6, allow_null=True)


class StatsPeopleOut(serializers.Serializer):  # type: ignore[type-arg]
    """Who ran the runs, what visitors thought of them and what the response cache answered."""

    active_users = serializers.IntegerField(help_text="Distinct members, API keys and widget visitors who ran runs")
    cost_per_user = serializers.DecimalField(
        max_digits=18, decimal_places=6, allow_null=True, help_text="Their runs' cost per active user"
    )
    rated = serializers.IntegerField(help_text="Thumbs given (by the time they were given)")
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()
    thumbs_up_share = serializers.FloatField(allow_null=True, help_text="% of the thumbs that were up")
    thumbs_down_rate = serializers.FloatField(allow_null=True, help_text="% of the thumbs that were down")
    model_calls = serializers.IntegerField()
    cache_hits = serializers.IntegerField(help_text="Model calls the exact or semantic cache answered")
    cache_hit_rate = serializers.FloatField(allow_null=True, help_text="% of the model calls")
    cache_saved = serializers.DecimalField(
        max_digits=18, decimal_places=6, help_text="What the cached answers cost when they were first asked"
    )


class StatsTotalOut(StatsFiguresOut, StatsPeopleOut):
    guard_hits = serializers.IntegerField(help_text="Guard hits of the organization (0 with a flow filter)")


class StatsRangeOut(StatsTotalOut):
    runs_per_second = serializers.FloatField(help_text="Runs over the range's elapsed seconds")


class StatsDayOut(StatsTotalOut):
    day = serializers.DateField()


class StatsHourOut(StatsFiguresOut, StatsPeopleOut):
    hour = serializers.DateTimeField()


class StatsFlowOut(StatsFiguresOut):
    flow_id = serializers.UUIDField()
    flow_name = serializers.CharField()


class StatsModelOut(serializers.Serializer):  # type: ignore[type-arg]
    alias = serializers.CharField(source="served_by")
    calls = serializers.IntegerField()
    failed = serializers.IntegerField()
    fallbacks = serializers.IntegerField(help_text="Calls answered by a fallback alias")
    p50_ttft_ms = serializers.FloatField(allow_null=True)
    p95_ttft_ms = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)
    cache_hits = serializers.IntegerField()
    cache_saved = serializers.DecimalField(max_digits=18, decimal_places=6)


class StatsUserOut(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.ChoiceField(choices=["user", "key", "visitor"])
    id = serializers.CharField(help_text="The user's id, the API key's or the visitor's")
    name = serializers.CharField(help_text="In words: an email, an API key's name, a widget's visitor")
    runs = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=6)


class StatsGuardOut(serializers.Serializer):  # type: ignore[type-arg]
    check = serializers.CharField(help_text="pii, injection, content, canary, link, schema")
    action = serializers.CharField()
    hits = serializers.IntegerField()


class RunStatsOut(serializers.Serializer):  # type: ignore[type-arg]
    since = serializers.DateTimeField()
    rolled_to = serializers.DateTimeField(help_text="Hours before this are read from the rollups")
    total = StatsRangeOut()
    days = StatsDayOut(many=True)
    hours = StatsHourOut(many=True, help_text="Per hour, for ranges of up to 2 days")
    flows = StatsFlowOut(many=True)
    models = StatsModelOut(many=True)
    guards = StatsGuardOut(many=True, help_text="Guard hits per check and action")
    users = StatsUserOut(many=True, help_text="The top 10 members, API keys and visitors by cost")
