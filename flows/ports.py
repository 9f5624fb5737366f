"""What the engine needs from the outside world. The apps implement these with Django, the
database and real model servers; engine tests use deterministic in-memory implementations."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool

FLOW_CACHE_KEY = "flow_cache"  # Ports.settings: the compiled flow's FlowCache (flows.spec) as a dict, or None


@dataclass(frozen=True)
class CachePolicy:
    """A flow's or an LLM node's response-cache choice, which the gateway applies: `mode` "off",
    "exact" (the same normalised prompt, model and parameters) or "semantic" (exact, then a similar
    enough single question); None fields fall back to the model endpoint's settings, then to the
    gateway's defaults. Answers at a temperature above 0 are cached only with `any_temperature`."""

    mode: str
    ttl_s: float | None = None
    threshold: float | None = None
    any_temperature: bool = False


class ChatModels(Protocol):
    def chat_model(
        self, alias: str, *, temperature: float, max_tokens: int, cache: CachePolicy | None = None
    ) -> BaseChatModel:
        """A LangChain chat model for an alias; raises flows.errors.ModelUnavailable if unknown.
        `cache`: the flow's or node's cache policy (None: the endpoint's own setting)."""
        ...


class TokenCounter(Protocol):
    def count(self, messages: Sequence[BaseMessage]) -> int:
        """Prompt tokens of these messages as the model will see them (chat template included)."""
        ...


class ContextWindows(Protocol):
    def context_window(self, alias: str) -> int | None:
        """The model's context window in tokens, or None when nobody knows it."""
        ...

    def token_counter(self, alias: str) -> TokenCounter:
        """The model's tokenizer when the app has it, else a conservative estimate."""
        ...


class Retrievers(Protocol):
    async def retrieve(
        self,
        knowledge_base: UUID,
        query: str,
        *,
        k: int,
        mode: str,
        score_threshold: float | None,
        rerank: str | None = None,
        rerank_top_n: int = 20,
    ) -> list[Document]:
        """Ranked documents; metadata carries document, page, chunk id and score for citations.
        `rerank`: a model alias whose cross-encoder rescored the best `rerank_top_n`."""
        ...


class Memory(Protocol):
    async def history(self, session: str | None, turns: int) -> list[BaseMessage]: ...


class HttpClient(Protocol):
    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None
    ) -> tuple[int, str]:
        """(status, text). Implementations refuse private, loopback and metadata addresses."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SubflowGraph:
    """Another flow's published version, loaded before the run (the sub-flow node and agent tools
    run it; the engine never reads a database)."""

    flow_id: str
    name: str
    graph: dict[str, Any]
    version: int | None = None
    description: str = ""


@dataclass
class Ports:
    models: ChatModels
    retrievers: Retrievers
    memory: Memory
    http: HttpClient
    clock: Clock
    extra_tools: Mapping[str, BaseTool] = field(default_factory=dict)
    # Turns a model client's exception into a FlowError (ModelUnavailable, ModelTimeout...).
    classify_model_error: Callable[[BaseException, str], BaseException] | None = None
    # first_token_timeout / idle_timeout defaults, and "timeouts": {alias: (first_token, idle)}.
    settings: dict[str, Any] = field(default_factory=dict)
    # Context windows and token counting by alias; None: prompts are sent as composed.
    context: ContextWindows | None = None
    # The model-based guard checks (apps.guardrails sets them for every run): the injection
    # classifier's probability for a text, and a moderation model's scores per category
    # (flows.guards.policy.Classify / Moderate). None: guard nodes skip those checks.
    guard_classify: Callable[[str], float] | None = None
    guard_moderate: Callable[[str, Any], dict[str, float]] | None = None
    # Published flows this run may call (sub-flow nodes, agent tools), by flow id.
    subflows: Mapping[str, SubflowGraph] = field(default_factory=dict)
