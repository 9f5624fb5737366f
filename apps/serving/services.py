"""Writes: keyword-only, transactional, audited. API keys are encrypted here and never echoed,
not even into the audit log (which records only that a key was set or removed)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from apps.config.crypto import encrypt
from apps.config.errors import Conflict, InvalidInput
from apps.serving.egress import EgressPolicy
from apps.serving.models import (
    BUILTIN_ALIAS,
    BUILTIN_CONTEXT_WINDOW,
    BUILTIN_MODEL,
    ModelDeployment,
    ModelEndpoint,
    ModelKind,
)
from apps.serving.selectors import model_endpoint_get
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import audit_record
from flows.errors import EgressRefused

if TYPE_CHECKING:
    from apps.serving.gateway import GatewayModels, ProbeResult

# Fields an admin may change; `api_key` is the plaintext, stored only encrypted.
UPDATABLE_FIELDS = frozenset(
    {
        "alias",
        "name",
        "kind",
        "base_url",
        "model",
        "api_key",
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
    }
)
TIMEOUT_FIELDS = ("connect_timeout_s", "first_token_timeout_s", "idle_timeout_s")
PRICE_FIELDS = ("price_input_per_1k", "price_output_per_1k")
PROBE_MAX_TOKENS = 64


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be an OpenAI-compatible base URL, or None. Hosts without a dot (a compose
    service name such as `vllm`) are fine, which Django's URLValidator would refuse."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in {"http", "https"}:
        return "Use an http:// or https:// URL."
    if not parts.hostname:
        return "The URL needs a host."
    if parts.username or parts.password:
        return "Put credentials in the API key, not in the URL."
    if parts.query or parts.fragment:
        return "The base URL takes no query or fragment."
    if port == 0:
        return "Not a valid port."
    return None


def _is_own_deployment_url(endpoint: ModelEndpoint) -> bool:
    deployment = endpoint.deployment if endpoint.deployment_id is not None else None
    return deployment is not None and endpoint.base_url.rstrip("/") == deployment.base_url.rstrip("/")


def _check(endpoint: ModelEndpoint) -> None:
    if problem := base_url_problem(endpoint.base_url):
        raise InvalidInput(f"base_url: {problem}", code="invalid_base_url")
    # The instance's own URL, and a managed deployment's own address (the instance chose it; its
    # calls pass the policy only while the supervisor reports the deployment ready), skip the
    # policy at save; every other URL goes through it.
    if not endpoint.is_builtin and not _is_own_deployment_url(endpoint):
        try:
            EgressPolicy().check_url(endpoint.base_url)
        except EgressRefused as refused:
            raise InvalidInput(f"base_url: {refused.message}", code="egress_refused") from None
    if endpoint.kind not in ModelKind.values:
        raise InvalidInput(f"kind: choose one of {', '.join(ModelKind.values)}.")
    for name in TIMEOUT_FIELDS:
        if not 0 < float(getattr(endpoint, name)) <= 3600:
            raise InvalidInput(f"{name}: must be more than 0 and at most 3600 seconds.")
    if endpoint.alias in (endpoint.fallbacks or []):
        raise InvalidInput("fallbacks: an alias cannot fall back to itself.")
    for name in PRICE_FIELDS:
        if Decimal(getattr(endpoint, name)) < 0:
            raise InvalidInput(f"{name}: must not be negative.")


def _save(endpoint: ModelEndpoint) -> None:
    _check(endpoint)
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        message = f"The alias {endpoint.alias!r} is already used in this organization."
        raise Conflict(message, code="alias_taken") from None


def _target(endpoint: ModelEndpoint) -> tuple[str, ...]:
    """Where the endpoint's calls (and its API key) go: a deployment, or the base URL's origin."""
    if endpoint.deployment_id is not None:
        return ("deployment", str(endpoint.deployment_id))
    parts = urlsplit(endpoint.base_url)
    try:
        port = parts.port or {"https": 443}.get(parts.scheme, 80)
    except ValueError:
        port = 0
    return (parts.scheme.lower(), (parts.hostname or "").lower(), str(port))


def _audit_value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    return str(value) if isinstance(value, Decimal) else value


def _deployment(organization: Organization, deployment_id: object) -> ModelDeployment | None:
    """A deployment this organization may route to (its own or the instance's), or None."""
    if deployment_id in (None, ""):
        return None
    from apps.serving.deployments import deployment_get

    return deployment_get(organization=organization, deployment_id=deployment_id)


def _audit_summary(endpoint: ModelEndpoint) -> dict[str, Any]:
    return {
        "alias": endpoint.alias,
        "kind": endpoint.kind,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "has_api_key": endpoint.has_api_key,
    }


@transaction.atomic
def model_endpoint_create(
    *,
    access: OrgAccess,
    alias: str,
    base_url: str,
    model: str,
    name: str = "",
    kind: str = ModelKind.CHAT,
    api_key: str = "",
    supports_tools: bool = False,
    supports_json_mode: bool = False,
    supports_vision: bool = False,
    context_window: int | None = None,
    cache_ttl_s: int = 0,
    semantic_cache_threshold: float | None = None,
    price_input_per_1k: Decimal = Decimal(0),
    price_output_per_1k: Decimal = Decimal(0),
    connect_timeout_s: float = 5.0,
    first_token_timeout_s: float = 60.0,
    idle_timeout_s: float = 30.0,
    deployment: int | None = None,
    fallbacks: list[str] | None = None,
    max_retries: int = 0,
) -> ModelEndpoint:
    access.require(Role.ADMIN)
    endpoint = ModelEndpoint(
        deployment=_deployment(access.organization, deployment),
        fallbacks=list(fallbacks or []),
        max_retries=max_retries,
        organization=access.organization,
        alias=alias,
        name=name.strip() or alias,
        kind=kind,
        base_url=base_url.rstrip("/"),
        model=model,
        api_key_encrypted=encrypt(api_key) if api_key else "",
        supports_tools=supports_tools,
        supports_json_mode=supports_json_mode,
        supports_vision=supports_vision,
        context_window=context_window,
        cache_ttl_s=cache_ttl_s,
        semantic_cache_threshold=semantic_cache_threshold,
        price_input_per_1k=price_input_per_1k,
        price_output_per_1k=price_output_per_1k,
        connect_timeout_s=connect_timeout_s,
        first_token_timeout_s=first_token_timeout_s,
        idle_timeout_s=idle_timeout_s,
    )
    _save(endpoint)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_endpoint.create",
        target=endpoint,
        data=_audit_summary(endpoint),
    )
    return endpoint


@transaction.atomic
def model_endpoint_update(*, access: OrgAccess, endpoint_id: object, changes: Mapping[str, Any]) -> ModelEndpoint:
    """Applies `changes` (field -> new value). `api_key`: a string sets it, "" removes it."""
    access.require(Role.ADMIN)
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed: {', '.join(unknown)}.")
    endpoint = model_endpoint_get(organization=access.organization, endpoint_id=endpoint_id)
    endpoint = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    target_before = _target(endpoint)
    diff: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "api_key":
            if value or endpoint.has_api_key:
                diff["api_key"] = "set" if value else "removed"
            endpoint.api_key_encrypted = encrypt(value) if value else ""
            continue
        new = value
        if name == "deployment":
            new = _deployment(access.organization, value)
        if name == "base_url":
            new = str(value).rstrip("/")
        elif name == "name":
            new = str(value).strip() or str(changes.get("alias", endpoint.alias))
        old = getattr(endpoint, name)
        if old != new:
            diff[name] = [_audit_value(old), _audit_value(new)]
            setattr(endpoint, name, new)
    if not diff:
        return endpoint
    if _target(endpoint) != target_before:
        # The stored key was given for the old host: it never follows the endpoint to a new one
        # unless it is entered again (or explicitly cleared with "").
        if endpoint.has_api_key and "api_key" not in changes:
            raise InvalidInput(
                "Changing where this model's calls go needs its API key entered again, or cleared "
                'explicitly with "api_key": "".',
                code="key_required_for_new_host",
            )
        diff["target_changed"] = {"api_key": diff.get("api_key", "none")}
        if endpoint.is_builtin:  # repointed by the organization: no longer the instance's model
            endpoint.is_builtin = False
            diff["is_builtin"] = [True, False]
    _save(endpoint)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_endpoint.update",
        target=endpoint,
        data={"alias": endpoint.alias, "changes": diff},
    )
    return endpoint


@transaction.atomic
def model_endpoint_delete(*, access: OrgAccess, endpoint_id: object) -> None:
    access.require(Role.ADMIN)
    endpoint = model_endpoint_get(organization=access.organization, endpoint_id=endpoint_id)
    endpoint = ModelEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_endpoint.delete",
        target=endpoint,
        data=_audit_summary(endpoint),
    )
    endpoint.delete()


def model_endpoint_ensure_builtin(*, organization: Organization) -> ModelEndpoint:
    """The embedded local model under the alias `local`; idempotent. An organization whose admin
    repointed or renamed it keeps their choice."""
    existing = (
        ModelEndpoint.objects.filter(organization=organization)
        .filter(Q(is_builtin=True) | Q(alias=BUILTIN_ALIAS))
        .order_by("-is_builtin", "pk")
        .first()
    )
    if existing is not None:
        return existing
    endpoint, _ = ModelEndpoint.objects.get_or_create(
        organization=organization,
        alias=BUILTIN_ALIAS,
        defaults={
            "name": "Local SmolLM2 135M (embedded)",
            "kind": ModelKind.CHAT,
            "base_url": settings.LOCAL_MODEL_URL.rstrip("/"),
            "model": BUILTIN_MODEL,
            "context_window": BUILTIN_CONTEXT_WINDOW,
            "is_builtin": True,
        },
    )
    return endpoint


def model_endpoint_probe_gateway(*, access: OrgAccess, endpoint_id: object) -> tuple[str, GatewayModels]:
    """For a test prompt (editor): the endpoint's alias and the organization's gateway with its
    meter, so the prompt is admitted, metered and ledgered like any model call. Database work:
    call it from a database thread; over budget already, BudgetExceeded and nothing starts."""
    from apps.serving.gateway import GatewayModels  # the OpenAI client costs ~1.5 s to import; not at start-up

    access.require(Role.EDITOR)
    endpoint = model_endpoint_get(organization=access.organization, endpoint_id=endpoint_id)
    if endpoint.kind != ModelKind.CHAT:
        raise InvalidInput("Only chat models answer a test prompt.", code="not_a_chat_model")
    from apps.serving.accounting import Meter
    from apps.serving.selectors import model_endpoint_list

    meter = Meter.load(access.organization.pk, user_id=access.actor.user.pk if access.actor.user else None)
    gateway = GatewayModels.of(model_endpoint_list(organization=access.organization), meter=meter)
    return endpoint.alias, gateway


def model_endpoint_test(
    *, access: OrgAccess, endpoint_id: object, prompt: str, max_tokens: int = PROBE_MAX_TOKENS
) -> ProbeResult:
    """Sends `prompt` to the model through the gateway (no write, so no transaction)."""
    alias, gateway = model_endpoint_probe_gateway(access=access, endpoint_id=endpoint_id)
    return async_to_sync(gateway.probe)(alias, prompt, max_tokens=max_tokens)  # FlowError: 502 (wire_errors)
