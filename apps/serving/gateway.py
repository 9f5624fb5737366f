"""The serving gateway: an organization's model aliases -> LangChain chat models (flows.ports.ChatModels).

Built once per run on the event loop (`await GatewayModels.load(org_id)`, async ORM only); after
that it holds detached snapshots of the endpoints, so the engine never touches the database.
Every model is reached over the OpenAI protocol with `max_retries=0`: retries and fallbacks are the
gateway's decision (before the first token), never the HTTP client's hidden one.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import openai
from django.conf import settings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import SecretStr

from apps.config.crypto import SecretUnreadable, decrypt
from apps.serving.accounting import Meter
from apps.serving.clients import shared_chat_model
from apps.serving.egress import EgressPolicy
from apps.serving.httpstream import HttpPool
from apps.serving.models import BUILTIN_MODEL, DeploymentStatus, ModelDeployment, ModelEndpoint, ModelKind
from apps.serving.routing import RETRY_MAX_S, Candidate, RoutedChatModel
from apps.serving.selectors import model_endpoint_list_async
from apps.serving.streaming import OpenAIStreamingChat
from apps.serving.tokens import token_counter
from flows.errors import FlowError, ModelTimeout, ModelUnavailable, model_refusal
from flows.ports import CachePolicy, TokenCounter

WRITE_TIMEOUT_S = 10.0
POOL_TIMEOUT_S = 5.0
NO_API_KEY = "none"  # the OpenAI client insists on a key; local servers ignore it
ERROR_DETAIL_LIMIT = 200

# Mid-stream transport errors escape the OpenAI SDK unwrapped, from whichever HTTP library it runs
# on (httpx2 for openai>=3, httpx before).
_HTTP_LIBRARIES = [importlib.import_module(name) for name in ("httpx", "httpx2") if importlib.util.find_spec(name)]
_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = tuple(lib.TimeoutException for lib in _HTTP_LIBRARIES)
# (The streaming model's async path, apps/serving/httpstream.py, raises OSError and TimeoutError.)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = tuple(lib.HTTPError for lib in _HTTP_LIBRARIES)


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_token: float
    idle: float


@dataclass(frozen=True)
class EndpointSnapshot:
    """What the gateway needs of a ModelEndpoint row, detached from the ORM."""

    alias: str
    kind: str
    base_url: str
    model: str
    supports_tools: bool
    price_input_per_1k: Decimal
    price_output_per_1k: Decimal
    timeouts: Timeouts
    api_key_encrypted: str = field(default="", repr=False)
    fallbacks: tuple[str, ...] = ()
    max_retries: int = 0
    # The instance's own model server (the builtin `local` endpoint as the instance set it up, or a
    # managed deployment): its address comes from the instance, not a tenant's URL, so it is the
    # one kind of endpoint reached without the egress policy.
    instance_owned: bool = False
    context_window: int | None = None
    cache_ttl_s: float = 0
    semantic_threshold: float | None = None  # the semantic cache (apps/serving/semantic.py); None: off
    tokenizer_dir: str = ""  # the model's folder on this host, when Trellis serves it

    @classmethod
    def of(cls, endpoint: ModelEndpoint) -> EndpointSnapshot:
        deployment = endpoint.deployment if endpoint.deployment_id else None  # select_related by the selectors
        return cls.from_row(
            {
                "alias": endpoint.alias,
                "kind": endpoint.kind,
                "base_url": endpoint.base_url,
                "model": endpoint.model,
                "supports_tools": endpoint.supports_tools,
                "price_in": endpoint.price_input_per_1k,
                "price_out": endpoint.price_output_per_1k,
                "connect": endpoint.connect_timeout_s,
                "first_token": endpoint.first_token_timeout_s,
                "idle": endpoint.idle_timeout_s,
                "api_key_encrypted": endpoint.api_key_encrypted,
                "fallbacks": endpoint.fallbacks,
                "max_retries": endpoint.max_retries,
                "is_builtin": endpoint.is_builtin,
                "context_window": endpoint.context_window or _deployment_window(deployment),
                "cache_ttl": endpoint.cache_ttl_s,
                "semantic_threshold": endpoint.semantic_cache_threshold,
                "deployment_model_dir": deployment.model_path if deployment else None,
                "deployment_host": deployment.host if deployment else None,
                "deployment_port": deployment.port if deployment else None,
                "deployment_served_name": deployment.served_name if deployment else None,
                "deployment_status": deployment.status if deployment else None,
            }
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EndpointSnapshot:
        """From a row of the endpoint's columns: apps.runs.selectors.run_start_snapshot's endpoint
        objects, or `of` above (the one mapping, deployment-served endpoints included)."""
        deployment = None
        if row.get("deployment_port") is not None:
            deployment = ModelDeployment(host=row["deployment_host"] or "", port=row["deployment_port"])
        return cls(
            alias=row["alias"],
            kind=row["kind"],
            base_url=deployment.base_url if deployment else row["base_url"],
            model=row["deployment_served_name"] if deployment else row["model"],
            supports_tools=bool(row["supports_tools"]),
            price_input_per_1k=Decimal(str(row["price_in"])),
            price_output_per_1k=Decimal(str(row["price_out"])),
            timeouts=Timeouts(float(row["connect"]), float(row["first_token"]), float(row["idle"])),
            api_key_encrypted=row["api_key_encrypted"] or "",
            fallbacks=tuple(str(alias) for alias in row["fallbacks"] or ()),
            max_retries=int(row["max_retries"]),
            # A deployment is the instance's own server only while its supervisor reports it ready
            # (it launched the process on that port); a failed or stopped one's port could be
            # anything on the host, so its calls go through the policy like any URL.
            instance_owned=bool(row.get("is_builtin"))
            or (deployment is not None and row.get("deployment_status") == DeploymentStatus.READY),
            context_window=int(row["context_window"]) if row.get("context_window") else None,
            cache_ttl_s=float(row.get("cache_ttl") or 0),
            semantic_threshold=float(row["semantic_threshold"]) if row.get("semantic_threshold") else None,
            tokenizer_dir=_tokenizer_dir(row, deployment is not None),
        )


DEFAULT_CACHE_TTL_S = 3600.0  # a flow's or node's cache that names no TTL, on an endpoint without one
DEFAULT_SEMANTIC_THRESHOLD = 0.9  # likewise for the semantic cache's similarity


def cache_settings(
    endpoint: EndpointSnapshot, policy: CachePolicy | None, temperature: float
) -> tuple[float, float | None]:
    """(TTL in seconds, semantic threshold) for one call: TTL 0 is no cache, a None threshold no
    semantic cache. The flow's or node's policy first, then the endpoint's settings, then the
    defaults. Answers repeat only without sampling, so a temperature above 0 bypasses the cache
    unless the policy asks for it (the temperature is part of the key then)."""
    if policy is None:
        if temperature != 0 or endpoint.cache_ttl_s <= 0:
            return 0, None
        return endpoint.cache_ttl_s, endpoint.semantic_threshold
    if policy.mode not in ("exact", "semantic") or (temperature != 0 and not policy.any_temperature):
        return 0, None
    ttl = policy.ttl_s or endpoint.cache_ttl_s or DEFAULT_CACHE_TTL_S
    if policy.mode == "exact":
        return ttl, None
    return ttl, policy.threshold or endpoint.semantic_threshold or DEFAULT_SEMANTIC_THRESHOLD


def _deployment_window(deployment: ModelDeployment | None) -> int | None:
    """A deployment's context window, as it was started (`max_model_len`), when it says."""
    value = (deployment.engine_args or {}).get("max_model_len") if deployment is not None else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _tokenizer_dir(row: dict[str, Any], deployed: bool) -> str:
    """Where the model's tokenizer is on this host: a deployment's folder, or the embedded
    model's for the builtin endpoint while it still points at that model."""
    if deployed:
        return str(row.get("deployment_model_dir") or "")
    if row.get("is_builtin") and row["model"] == BUILTIN_MODEL:
        return str(settings.LOCAL_MODEL_DIR)
    return ""


@dataclass(frozen=True)
class ProbeResult:
    text: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    ttft_ms: float | None = None


class GatewayModels:
    """flows.ports.ChatModels for one organization; with a `meter`, every call is admitted against
    the organization's budget and rate limit and lands in the ModelCall ledger."""

    def __init__(self, endpoints: Iterable[EndpointSnapshot], *, meter: Meter | None = None) -> None:
        self._by_alias = {endpoint.alias: endpoint for endpoint in endpoints}
        self.meter = meter

    @classmethod
    async def load(cls, organization_id: UUID | str, *, meter: Meter | None = None) -> GatewayModels:
        endpoints = await model_endpoint_list_async(organization_id=UUID(str(organization_id)))
        return cls((EndpointSnapshot.of(endpoint) for endpoint in endpoints), meter=meter)

    @classmethod
    def of(cls, endpoints: Iterable[ModelEndpoint], *, meter: Meter | None = None) -> GatewayModels:
        return cls((EndpointSnapshot.of(endpoint) for endpoint in endpoints), meter=meter)

    @property
    def aliases(self) -> list[str]:
        return sorted(self._by_alias)

    def endpoint(self, alias: str) -> EndpointSnapshot:
        try:
            return self._by_alias[alias]
        except KeyError:
            raise ModelUnavailable(f"No model has the alias {alias!r} in this organization.") from None

    def chain(self, alias: str) -> list[EndpointSnapshot]:
        """The alias and its fallbacks, in order (unknown or non-chat fallbacks are skipped)."""
        primary = self.endpoint(alias)
        if primary.kind != ModelKind.CHAT:
            raise ModelUnavailable(f"The model {alias!r} is an {primary.kind} model, not a chat model.")
        chain = [primary]
        for name in primary.fallbacks:
            fallback = self._by_alias.get(name)
            if fallback is not None and fallback.kind == ModelKind.CHAT and fallback not in chain:
                chain.append(fallback)
        return chain

    def chat_model(
        self, alias: str, *, temperature: float, max_tokens: int, cache: CachePolicy | None = None
    ) -> BaseChatModel:
        candidates = [
            Candidate(
                alias=endpoint.alias,
                model=self.client_model(endpoint, temperature=temperature, max_tokens=max_tokens),
                first_token_s=endpoint.timeouts.first_token,
                retries=endpoint.max_retries,
                price_in_per_1k=endpoint.price_input_per_1k,
                price_out_per_1k=endpoint.price_output_per_1k,
            )
            for endpoint in self.chain(alias)
        ]
        # Only a metered gateway caches: it knows the organization, which every key starts with.
        cache_ttl, threshold = cache_settings(self.endpoint(alias), cache, temperature) if self.meter else (0, None)
        params = {"chain": [c.alias for c in candidates], "max_tokens": max_tokens, "temperature": temperature}
        return RoutedChatModel(
            alias=alias,
            candidates=candidates,
            meter=self.meter,
            classify=_classify,
            cache_ttl_s=cache_ttl,
            cache_params=params if cache_ttl else {},
            semantic_threshold=threshold,
        )

    def client_model(self, endpoint: EndpointSnapshot, *, temperature: float, max_tokens: int) -> BaseChatModel:
        """The protocol client for one endpoint, from the clients module (shared per event loop)."""

        def build(http: httpx.Client, async_http: HttpPool | None) -> BaseChatModel:
            return _chat_model(
                endpoint, temperature=temperature, max_tokens=max_tokens, http=http, async_http=async_http
            )

        return shared_chat_model((endpoint, float(temperature), int(max_tokens)), build)

    def context_window(self, alias: str) -> int | None:
        """flows.ports.ContextWindows: the alias's window (None when unknown or not an alias)."""
        endpoint = self._by_alias.get(alias)
        return endpoint.context_window if endpoint is not None else None

    def token_counter(self, alias: str) -> TokenCounter:
        endpoint = self._by_alias.get(alias)
        return token_counter(endpoint.tokenizer_dir if endpoint is not None else "")

    def price(self, alias: str) -> tuple[Decimal, Decimal]:
        """(input, output) price per 1,000 tokens."""
        endpoint = self.endpoint(alias)
        return endpoint.price_input_per_1k, endpoint.price_output_per_1k

    def prices(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Every alias's (input, output) price per 1,000 tokens, for costing a finished run."""
        return {alias: self.price(alias) for alias in self._by_alias}

    def cost(self, alias: str, input_tokens: int, output_tokens: int) -> Decimal:
        price_in, price_out = self.price(alias)
        return (price_in * input_tokens + price_out * output_tokens) / 1000

    def timeouts(self, alias: str) -> Timeouts:
        """The caller's deadlines: the first token may take as long as the whole chain of
        candidates (with their retries) does before one of them answers."""
        endpoint = self.endpoint(alias)
        if endpoint.kind != ModelKind.CHAT:
            return endpoint.timeouts
        chain = self.chain(alias)
        first = sum(e.timeouts.first_token * (e.max_retries + 1) + RETRY_MAX_S * e.max_retries for e in chain)
        return Timeouts(endpoint.timeouts.connect, first, max(e.timeouts.idle for e in chain))

    async def probe(self, alias: str, prompt: str, *, max_tokens: int = 64) -> ProbeResult:
        """One short streamed answer, with the endpoint's first-token and idle timeouts; model
        failures come out as ModelUnavailable / ModelTimeout."""
        result: ProbeResult | None = None
        async for piece in self.probe_stream(alias, prompt, max_tokens=max_tokens):
            if isinstance(piece, ProbeResult):
                result = piece
        if result is None:  # not reached: probe_stream ends with one or raises
            raise ModelUnavailable(f"The model {alias!r} ended its answer without a result.")
        return result

    async def probe_stream(
        self, alias: str, prompt: str, *, max_tokens: int = 64
    ) -> AsyncGenerator[str | ProbeResult, None]:
        """`probe` as it happens: the answer's text pieces as they arrive, then one ProbeResult.
        The same path as `probe` (routing, fallbacks, the meter's budget, rate limit and ledger);
        stopping early (aclose, a cancelled task) closes the model's stream and is recorded."""
        timeouts = self.timeouts(alias)
        model = self.chat_model(alias, temperature=0, max_tokens=max_tokens)
        started = time.perf_counter()
        ttft_ms: float | None = None
        reply = AIMessageChunk(content="")
        stream = _with_timeouts(model.astream([HumanMessage(content=prompt)]), timeouts)
        try:
            async for chunk in stream:
                reply = reply + chunk
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    if ttft_ms is None:
                        ttft_ms = round((time.perf_counter() - started) * 1000, 1)
                    yield text
        except Exception as exc:
            error = model_error(exc, alias=alias)
            if error is exc:
                raise
            raise error from None
        finally:
            await stream.aclose()
        usage: dict[str, Any] = dict(reply.usage_metadata or {})
        yield ProbeResult(
            text=str(reply.content),
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            ttft_ms=ttft_ms,
        )


def _chat_model(
    endpoint: EndpointSnapshot,
    *,
    temperature: float,
    max_tokens: int,
    http: httpx.Client,
    async_http: HttpPool | None,
) -> OpenAIStreamingChat:
    api_key = NO_API_KEY
    if endpoint.api_key_encrypted:
        try:
            api_key = decrypt(endpoint.api_key_encrypted)
        except SecretUnreadable as exc:
            raise ModelUnavailable(f"The API key of model {endpoint.alias!r} is unreadable: {exc}") from None
    timeout = httpx.Timeout(
        connect=endpoint.timeouts.connect, read=endpoint.timeouts.idle, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
    )
    return OpenAIStreamingChat(
        alias=endpoint.alias,
        base_url=endpoint.base_url,
        model_name=endpoint.model,
        api_key=SecretStr(api_key),
        temperature=temperature,
        max_tokens=max_tokens,
        timeout=timeout,
        sync_client=http,
        async_client=async_http,
        egress=None if endpoint.instance_owned else EgressPolicy(),
    )


async def _with_timeouts(stream: AsyncIterator[Any], timeouts: Timeouts) -> AsyncGenerator[AIMessageChunk, None]:
    iterator = stream.__aiter__()
    timeout, waiting_for = timeouts.first_token, "the first token"
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(anext(iterator), timeout)
            except StopAsyncIteration:
                return
            except TimeoutError:
                message = f"The model sent nothing for {timeout:g} s while waiting for {waiting_for}."
                raise ModelTimeout(message) from None
            timeout, waiting_for = timeouts.idle, "the next token"
            yield chunk
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _status_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    return message


def _classify(exc: BaseException, alias: str) -> BaseException:
    return model_error(exc, alias=alias)


def model_error(exc: BaseException, *, alias: str) -> FlowError | BaseException:
    """The gateway's error for a failed model call (the original when it is not a model failure)."""
    if isinstance(exc, FlowError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, TimeoutError, *_TIMEOUT_ERRORS)):
        return ModelTimeout(f"The model {alias!r} did not answer in time.")
    if isinstance(exc, openai.APIStatusError):
        return model_refusal(alias, exc.status_code, _status_detail(exc), getattr(exc, "code", None))
    if isinstance(exc, (openai.APIError, OSError, *_TRANSPORT_ERRORS)):
        return ModelUnavailable(f"The server of model {alias!r} cannot be reached or dropped the call.")
    return exc
