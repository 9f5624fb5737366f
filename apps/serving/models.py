"""Model endpoints: the models an organization's flows reach by alias, over the OpenAI protocol."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from apps.tenancy.models import Organization

BUILTIN_ALIAS = "local"
BUILTIN_MODEL = "smollm2-135m"


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
    price_input_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    price_output_per_1k = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    connect_timeout_s = models.FloatField(default=5.0)
    first_token_timeout_s = models.FloatField(default=60.0)
    idle_timeout_s = models.FloatField(default=30.0)
    is_builtin = models.BooleanField(default=False)
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
