"""OpenAPI description of API-key authentication (loaded by TenancyConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[misc,no-untyped-call]
    target_class = "apps.tenancy.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "trl_<prefix>_<secret>",
            "description": "An organization API key created in Settings > API keys.",
        }
