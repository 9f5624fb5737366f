"""Discovering the models an OpenAI-compatible server offers (`GET <base_url>/models`), for the
Models page's model picker and context window.

The request goes through the egress policy like every server-side request (apps/serving/egress.py),
and nothing of the server's answer reaches the client but the model ids and context windows it
lists: a refusal is described by its HTTP status only, never by its body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync

from apps.config.crypto import SecretUnreadable, decrypt
from apps.config.errors import InvalidInput, TrellisError
from apps.serving.egress import EgressClient
from apps.serving.selectors import model_endpoint_get
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from flows.errors import EgressRefused

DISCOVERY_TIMEOUT_S = 10.0
MAX_MODELS = 500
# Where servers say how long a context a model takes: vLLM `max_model_len`; OpenRouter, Together
# and LM Studio `context_length`; others `context_window`.
_WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")


class DiscoveryFailed(TrellisError):
    """The URL or key given does not lead to a model list: the person's input to fix (400)."""

    status, code = 400, "discovery_failed"


class DiscoveryUpstreamFailed(DiscoveryFailed):
    """The server itself failed (HTTP 5xx): 502, the same code."""

    status = 502


@dataclass(frozen=True)
class DiscoveredModel:
    id: str
    context_window: int | None


def _window(card: dict[str, Any]) -> int | None:
    for key in _WINDOW_KEYS:
        value = card.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000_000:
            return value
    return None


def parse_model_list(text: str) -> list[DiscoveredModel]:
    """The models of an OpenAI `/models` answer (`{"data": [{"id": ...}, ...]}`; a bare list too)."""
    try:
        payload = json.loads(text)
    except ValueError:
        raise DiscoveryFailed("The server's answer is not an OpenAI-compatible model list.") from None
    cards = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(cards, list):
        raise DiscoveryFailed("The server's answer is not an OpenAI-compatible model list.")
    found: dict[str, DiscoveredModel] = {}
    for card in cards[:MAX_MODELS]:
        if isinstance(card, dict) and isinstance(card.get("id"), str) and card["id"].strip():
            model_id = card["id"].strip()[:200]
            found.setdefault(model_id, DiscoveredModel(model_id, _window(card)))
    return sorted(found.values(), key=lambda model: model.id.lower())


def _describe(status: int) -> str:
    if status in (401, 403):
        return f"The server refused the API key (HTTP {status})."
    if status == 404:
        return "The server has no model list at this URL (HTTP 404); check the base URL (it usually ends in /v1)."
    return f"The server answered HTTP {status} when asked for its models."


def model_discover(
    *, access: OrgAccess, base_url: str, api_key: str | None = None, endpoint_id: object = None
) -> list[DiscoveredModel]:
    """The models at `base_url`. With `endpoint_id` and no `api_key`, the endpoint's stored key is
    sent, but only to the URL it was given for (a changed URL needs the key again)."""
    access.require(Role.ADMIN)
    key = api_key or ""
    if not key and endpoint_id not in (None, ""):
        endpoint = model_endpoint_get(organization=access.organization, endpoint_id=endpoint_id)
        if endpoint.api_key_encrypted and endpoint.base_url.rstrip("/") == base_url.rstrip("/"):
            try:
                key = decrypt(endpoint.api_key_encrypted)
            except SecretUnreadable:
                key = ""
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    client = EgressClient(total_timeout=DISCOVERY_TIMEOUT_S)
    try:
        status, text = async_to_sync(client.request)("GET", f"{base_url.rstrip('/')}/models", headers=headers)
    except EgressRefused as refused:
        if refused.code == "egress_timeout":
            raise DiscoveryFailed("The server did not list its models in time.") from None
        if refused.code in {"egress_failed", "egress_redirects"}:
            raise DiscoveryFailed("The server cannot be reached at this URL.") from None
        raise InvalidInput(f"base_url: {refused.message}", code="egress_refused") from None
    if status >= 500:
        raise DiscoveryUpstreamFailed(_describe(status))
    if status != 200:
        raise DiscoveryFailed(_describe(status))
    return parse_model_list(text)
