"""Model endpoints: the models an organization's flows reach by alias, over the OpenAI protocol."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from pgvector.django import HnswIndex, VectorField

from apps.tenancy.models import Organization

BUILTIN_ALIAS = "local"
BUILTIN_MODEL = "smollm2-135m"
BUILTIN_CONTEXT_WINDOW = 2048  # as the embedded SmolLM2 is served (vLLM max_model_len, the local server)


class ModelKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class ModelEndpoint(models.Model):
    """One model on an OpenAI-compatible server (vLLM, the embedded local server, a provider).

    The API key is stored Fernet-encrypted (apps.config.crypto) and never leaves the gateway.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="model_endpoints")
    alias = models.SlugField(max_length=64)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.CHAT)
    base_url = models.CharField(max_length=500, help_text="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1")
    model = models.CharField(max_length=200, help_text="The model's name on that server")
    api_key_encrypted = models.TextField(blank=True)
    supports_tools = models.BooleanField(default=False)
    supports_json_mode = models.BooleanField(default=False)
    supports_vision = models.BooleanField(default=False)
    context_window = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prompt + answer tokens the model takes; blank: unknown (no fitting)"
    )
    price_input_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    price_output_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    connect_timeout_s = models.FloatField(default=5.0)
    first_token_timeout_s = models.FloatField(default=60.0)
    idle_timeout_s = models.FloatField(default=30.0)
    is_builtin = models.BooleanField(default=False)
    deployment = models.ForeignKey(
        "ModelDeployment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="endpoints",
        help_text="Served by this managed deployment (its address replaces base_url)",
    )
    fallbacks = models.JSONField(default=list, blank=True, help_text="Aliases tried in order when this one fails")
    max_retries = models.PositiveSmallIntegerField(default=0, help_text="Retries before the first token")
    cache_ttl_s = models.PositiveIntegerField(
        default=0, help_text="Keep exact answers (temperature 0) this many seconds; 0: no cache"
    )
    semantic_cache_threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Answer a question close to one answered before (cosine similarity at least this, 0.5-1) "
        "from the semantic cache, kept cache_ttl_s seconds; blank: off",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "alias"], name="model_endpoint_unique_alias_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.alias} ({self.model} at {self.base_url})"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)


class StoredModel(models.Model):
    """A model in Trellis's model store: a safetensors folder on this host (imported from a local
    path or converted from the offline SmolLM2 GGUF), with size, format and checksum recorded.
    Owned by one organization; `organization` NULL is the instance's embedded model."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="stored_models", null=True, blank=True
    )
    name = models.SlugField(max_length=64)
    path = models.CharField(max_length=500)
    source = models.CharField(max_length=200, help_text="Where it was imported from")

    class Status(models.TextChoices):
        IMPORTING = "importing", "Importing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    format = models.CharField(max_length=32, default="safetensors")
    size_bytes = models.BigIntegerField(default=0, help_text="The folder's size (while importing: what is to copy)")
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    copied_bytes = models.BigIntegerField(default=0, help_text="Copied so far (the import's progress)")
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.path})"


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class DeploymentStatus(models.TextChoices):
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


class ModelDeployment(models.Model):
    """A model that Trellis serves with vLLM on one host; the supervisor (`manage.py
    supervise_models`) reconciles `desired_state` into a child process and reports `status`.

    Tenant-owned: an organization's admins create and control their deployments. The one row with
    `organization` NULL is the instance's embedded default (the `local` model), which the run
    command manages and organizations see read-only."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="model_deployments", null=True, blank=True
    )
    name = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.CHAT)
    model_dir = models.CharField(max_length=500, blank=True, help_text="A local model directory")
    stored_model = models.ForeignKey(StoredModel, on_delete=models.PROTECT, null=True, blank=True)
    served_name = models.CharField(max_length=200)
    engine_args = models.JSONField(default=dict, blank=True)
    desired_state = models.CharField(max_length=16, choices=DesiredState.choices, default=DesiredState.RUNNING)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.STOPPED)
    status_reason = models.TextField(blank=True)
    host = models.CharField(max_length=200, blank=True, help_text="The supervisor's host; blank: any")
    port = models.PositiveIntegerField()
    pid = models.PositiveIntegerField(null=True, blank=True)
    start_count = models.PositiveIntegerField(default=0)
    restart_requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    last_health_at = models.DateTimeField(null=True, blank=True)
    log_tail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="deployment_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def base_url(self) -> str:
        return f"http://{self.host or '127.0.0.1'}:{self.port}/v1"

    @property
    def model_path(self) -> str:
        return self.stored_model.path if self.stored_model_id and self.stored_model else self.model_dir


class ModelQuota(models.Model):
    """An organization's limits on model use; no row (or NULL fields) means unlimited."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="model_quota")
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost_budget = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="The most the model calls may cost a month"
    )
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"quota of {self.organization_id}"


class ModelCall(models.Model):
    """One model call through the gateway: who, which alias, where it was served, tokens, timings,
    cost, and the attempts it took (failed candidates before the one that answered)."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="model_calls")
    run_id = models.UUIDField(null=True, blank=True, db_index=True)
    flow_id = models.UUIDField(null=True, blank=True)
    user_id = models.IntegerField(null=True, blank=True)
    widget_id = models.UUIDField(null=True, blank=True, help_text="The widget whose visitor ran it")
    alias = models.CharField(max_length=64)
    served_by = models.CharField(max_length=64, blank=True, help_text="The alias that answered (a fallback?)")
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    attempts = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    ttft_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "at"], name="model_call_org_at"),
            # A flow's and a widget's spending this month (ModelBudget), read at each run start.
            models.Index(
                fields=["flow_id", "at"], name="model_call_flow_at", condition=models.Q(flow_id__isnull=False)
            ),
            models.Index(
                fields=["widget_id", "at"], name="model_call_widget_at", condition=models.Q(widget_id__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alias} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class ModelBudget(models.Model):
    """A monthly limit on one flow's or one widget's model calls, in tokens, in money or both
    (the organization's own is ModelQuota). Checked where the organization's is: at the run start
    (over already: the run is refused) and before each model call of the run."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="model_budgets")
    # By name, not import: serving sits below builder's sibling and widgets (the layers contract).
    flow = models.OneToOneField(
        "builder.Flow", on_delete=models.CASCADE, null=True, blank=True, related_name="model_budget"
    )
    widget = models.OneToOneField(
        "widgets.Widget", on_delete=models.CASCADE, null=True, blank=True, related_name="model_budget"
    )
    monthly_token_budget = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost_budget = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(flow__isnull=False, widget__isnull=True)
                | models.Q(flow__isnull=True, widget__isnull=False),
                name="model_budget_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"budget of {'flow ' + str(self.flow_id) if self.flow_id else 'widget ' + str(self.widget_id)}"


SEMANTIC_DIMENSIONS = 384  # the bundled all-MiniLM-L6-v2 (apps.knowledge's local embedder)


class SemanticCacheEntry(models.Model):
    """One answered question in the semantic cache: its embedding, within a scope (a hash of the
    organization, the flow version, the alias, the call's parameters and the prompt around the
    question; apps.serving.semantic), and the answer given. Never read across scopes, so never
    across tenants."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=64)
    flow_id = models.UUIDField(null=True, blank=True)
    question = models.TextField()
    embedding = VectorField(dimensions=SEMANTIC_DIMENSIONS)
    answer = models.TextField()
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["scope", "expires_at"], name="semantic_cache_scope"),
            models.Index(fields=["organization", "created_at"], name="semantic_cache_org_created"),
            HnswIndex(
                name="semantic_cache_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"cached answer to {self.question[:40]!r}"
