"""DRF authentication by API key: `Authorization: Bearer trl_...` or `X-Api-Key: trl_...`."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.tenancy.models import ApiKey
from apps.tenancy.services import API_KEY_PREFIX, MalformedApiKey, api_key_authenticate


class ApiKeyUser(AnonymousUser):
    """The request.user of a program: authenticated, but not a person and not staff."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.username = f"api-key:{key.prefix}"  # type: ignore[assignment]

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True


def raw_key_from_headers(authorization: str, x_api_key: str) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(f"{API_KEY_PREFIX}_"):
        return value.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        raw = raw_key_from_headers(request.headers.get("Authorization", ""), request.headers.get("X-Api-Key", ""))
        if raw is None:
            return None
        try:
            key = api_key_authenticate(raw=raw)
        except MalformedApiKey:
            raise AuthenticationFailed("Malformed API key.") from None
        if key is None:
            raise AuthenticationFailed("Unknown or revoked API key.")
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        # Makes unauthenticated API calls answer 401 (with this challenge) instead of 403.
        return 'Bearer realm="trellis"'
