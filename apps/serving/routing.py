"""`RoutedChatModel`: one alias's call through the gateway, in front of whatever chat models the
clients module builds (any LangChain BaseChatModel that streams).

Before the first chunk nothing has reached the caller, so a failure (refused connection, HTTP
error, no first chunk within the candidate's first-token timeout) is retried with backoff and
then handed to the next fallback. From the first chunk on the call is committed: chunks pass
straight through (no buffering) and a later failure is the caller's error. Every call, answered
or not, lands in the ledger (apps.serving.accounting) with its attempts, tokens, cost and timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict

from apps.config.db import in_db_thread
from apps.config.metrics import model_call_observe
from apps.serving import semantic
from apps.serving.accounting import Meter, ledger_call
from apps.serving.cache import ANSWERS
from apps.serving.models import ModelCall
from apps.serving.streaming import as_message_chunk
from flows.errors import ContextTooLong, FlowError, ModelTimeout, ModelUnavailable
from flows.values import TextChunk

logger = logging.getLogger(__name__)

RETRY_BASE_S = 0.2
RETRY_MAX_S = 2.0


@dataclass(frozen=True)
class Candidate:
    alias: str
    model: BaseChatModel
    first_token_s: float
    retries: int
    price_in_per_1k: Decimal
    price_out_per_1k: Decimal


def _chunks(
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    on_text: Callable[[str, int], None] | None = None,
) -> AsyncIterator[AIMessageChunk | TextChunk]:
    """The model's chunks. A model with its own `_astream` is read directly: BaseChatModel.astream
    would add a callback round, a metadata dict and a merge of every chunk at the end per call,
    which is a third of the per-token cost under load, for tracing that Trellis does itself. A
    model with `astream_chunks` (apps.serving.streaming) skips the generation wrapper too."""
    direct = getattr(model, "astream_chunks", None)
    if direct is not None:
        if on_text is not None and getattr(model, "relays_text", False):
            return direct(messages, stop, on_text=on_text, **kwargs).__aiter__()  # type: ignore[no-any-return]
        return direct(messages, stop, **kwargs).__aiter__()  # type: ignore[no-any-return]
    if type(model)._astream is BaseChatModel._astream:
        return model.astream(messages, stop=stop, **kwargs).__aiter__()
    return _messages(model._astream(messages, stop=stop, **kwargs))


async def _messages(stream: AsyncIterator[ChatGenerationChunk]) -> AsyncIterator[AIMessageChunk | TextChunk]:
    try:
        async for chunk in stream:
            yield chunk.message  # type: ignore[misc]
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _describe(exc: BaseException, classify: Callable[[BaseException, str], BaseException], alias: str) -> str:
    error = classify(exc, alias)
    return getattr(error, "message", None) or str(error) or type(exc).__name__


class _Relayed:
    """The route's side of plain text relayed past it (apps.serving.streaming.TextRelay): counted
    and kept for the answer cache as the route's loop does a TextChunk, then handed on."""

    __slots__ = ("chunks", "keep", "on_text", "texts")

    def __init__(self, on_text: Callable[[str, int], None], texts: list[str], keep: bool) -> None:
        self.on_text, self.texts, self.keep = on_text, texts, keep
        self.chunks = 0

    def __call__(self, text: str, pieces: int) -> None:
        self.chunks += pieces
        if self.keep:
            self.texts.append(text)
        self.on_text(text, pieces)


class RoutedChatModel(BaseChatModel):
    """Tries `candidates` in order (each with its retries) until one sends a first chunk."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    alias: str
    candidates: list[Candidate]
    meter: Meter | None = None
    classify: Callable[[BaseException, str], BaseException]
    # The answer cache (apps/serving/cache.py): on when > 0, keyed by the meter's organization.
    cache_ttl_s: float = 0
    cache_params: dict[str, Any] = {}
    # The semantic cache (apps/serving/semantic.py): on when set (and cache_ttl_s > 0).
    semantic_threshold: float | None = None
    # `astream_chunks(..., on_text=)` passes plain text on past this generator when the model
    # answering can (apps.serving.streaming.TextRelay), counted as the chunks it yields.
    relays_text: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "trellis-gateway"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("The gateway is async: use ainvoke/astream.")

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("The gateway is async: use ainvoke/astream.")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        route = self._route(messages, stop, kwargs)
        try:
            async for chunk in route:
                yield ChatGenerationChunk(message=as_message_chunk(chunk))
        finally:
            await route.aclose()  # a caller that stops early ends (and ledgers) the call now, not at GC

    async def astream(  # type: ignore[override]
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Straight through: the candidate's chunks as they come, without a second round of
        LangChain's per-chunk callback bookkeeping (the candidate model does that once)."""
        messages = self._convert_input(input).to_messages()
        route = self._route(messages, stop, kwargs)
        try:
            async for chunk in route:
                yield as_message_chunk(chunk)
        finally:
            await route.aclose()  # a caller that stops early ends (and ledgers) the call now, not at GC

    def astream_chunks(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        *,
        on_text: Callable[[str, int], None] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[AIMessageChunk | TextChunk, None]:
        """`astream` without the conversion: plain text comes as flows.values.TextChunk (the LLM
        node's path, one object per token less). The route's own generator, no layer around it:
        a caller that may stop early closes it (contextlib.aclosing) to end the call then.
        `on_text`: see OpenAIStreamingChat.astream_chunks (only the first candidate's answer is
        relayed: a fallback's chunks carry the `served_by` note)."""
        return self._route(messages, stop, kwargs, on_text)

    def _cache_key(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> str | None:
        if self.cache_ttl_s <= 0 or self.meter is None or kwargs.get("tools"):
            return None
        # The flow version is part of the key: publishing a version starts with an empty cache.
        params = {**self.cache_params, "stop": stop, "kwargs": kwargs, "version": self.meter.version_id}
        return ANSWERS.key(self.meter.organization_id, self.alias, params, messages)

    def _question(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> semantic.Question | None:
        if self.semantic_threshold is None or self.cache_ttl_s <= 0 or self.meter is None or kwargs.get("tools"):
            return None
        return semantic.question_of(
            organization_id=self.meter.organization_id,
            flow_id=self.meter.flow_id,
            version_id=self.meter.version_id,
            alias=self.alias,
            params={**self.cache_params, "stop": stop, "kwargs": kwargs},
            messages=messages,
        )

    async def _route(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        on_text: Callable[[str, int], None] | None = None,
    ) -> AsyncGenerator[AIMessageChunk | TextChunk, None]:
        key, question, answered, vector = await self._cached(messages, stop, kwargs)
        if answered:
            for cached in answered:
                yield cached
            return
        texts: list[str] = []
        relayed = None if on_text is None else _Relayed(on_text, texts, key is not None or vector is not None)
        if self.meter is not None:
            self.meter.admit()
        started = time.perf_counter()
        attempts: list[dict[str, Any]] = []
        candidate, stream, first = await self._first_chunk(messages, stop, kwargs, started, attempts, relayed)
        # Committed: from here on the chunks pass straight through, in this generator (one layer
        # less per token), and whatever happens the call is ledgered once.
        input_tokens = output_tokens = content_chunks = 0
        ttft: float | None = None
        failure: BaseException | None = None
        try:
            chunk = first
            while chunk is not None:
                if chunk.content:
                    if ttft is None:
                        ttft = (time.perf_counter() - started) * 1000
                    content_chunks += chunk.pieces if isinstance(chunk, TextChunk) else 1
                    if (key is not None or vector is not None) and isinstance(chunk.content, str):
                        texts.append(chunk.content)
                if chunk.tool_call_chunks:
                    key = vector = None  # a tool call is not an answer to keep
                    if relayed is not None:
                        relayed.keep = False
                if chunk.usage_metadata:
                    input_tokens += int(chunk.usage_metadata.get("input_tokens", 0))
                    output_tokens += int(chunk.usage_metadata.get("output_tokens", 0))
                if candidate.alias != self.alias:
                    chunk.response_metadata = {**chunk.response_metadata, "served_by": candidate.alias}
                yield chunk
                chunk = await anext(stream, None)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
            if not output_tokens:  # a dropped stream sends no usage: one token per chunk
                output_tokens = content_chunks + (relayed.chunks if relayed is not None else 0)
            status = ModelCall.Status.OK if failure is None else ModelCall.Status.FAILED
            if failure is None:  # only a stream that ended normally is kept
                self._keep(key, question, vector, "".join(texts), input_tokens, output_tokens, candidate)
            if isinstance(failure, (asyncio.CancelledError, GeneratorExit)):
                status, failure = ModelCall.Status.FAILED, asyncio.CancelledError("cancelled")
            self._record(
                candidate.alias, status, input_tokens, output_tokens, ttft, started, attempts, failure, candidate
            )

    async def _cached(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str | None, semantic.Question | None, list[AIMessageChunk | TextChunk], list[float] | None]:
        """The exact cache's key, the semantic cache's question, the cached answer (empty: a
        miss) and the question's vector. The semantic cache's embedding starts first, in its own
        thread, while the exact cache's key is computed and checked here (semantic.Pending),
        unless the question's vector is remembered; whatever happens, a started job is told to go
        on to its search or to stop before this returns."""
        question = self._question(messages, stop, kwargs)
        pending = None
        if question is not None and semantic.EARLY_START and not semantic.EMBEDDER.remembers(question.text):
            # (a remembered question has nothing to overlap: its job starts after an exact miss)
            pending = semantic.start(question, float(self.semantic_threshold or 1))
        try:
            key = self._cache_key(messages, stop, kwargs)
            answered, vector = await self._from_cache(key, question, pending)
        finally:
            if pending is not None:
                pending.stop()  # a no-op after `go`
        return key, question, answered, vector

    async def _from_cache(
        self, key: str | None, question: semantic.Question | None, pending: semantic.Pending | None
    ) -> tuple[list[AIMessageChunk | TextChunk], list[float] | None]:
        """The exact cache's or else the semantic cache's answer as chunks (empty: a miss), and
        the question's vector when the semantic cache looked it up."""
        if key is not None and (hit := ANSWERS.get(key)) is not None:
            started = time.perf_counter()
            usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
            metadata = {"cached": True, "cache": "exact"}
            end = AIMessageChunk(content="", usage_metadata=usage, response_metadata=metadata)  # type: ignore[arg-type]
            price = self.candidates[0]
            saved = (price.price_in_per_1k * hit.input_tokens + price.price_out_per_1k * hit.output_tokens) / 1000
            note = [{"cache": "exact", "saved": str(saved.quantize(Decimal("0.000001")))}]
            self._record("cache", ModelCall.Status.OK, 0, 0, 0.0, started, note, None, self.candidates[0])
            return [TextChunk(hit.text), end], None
        if question is None:
            return [], None
        return await self._semantic(question, pending)

    def _keep(
        self,
        key: str | None,
        question: semantic.Question | None,
        vector: list[float] | None,
        text: str,
        input_tokens: int,
        output_tokens: int,
        candidate: Candidate,
    ) -> None:
        if key is not None:
            ANSWERS.put(key, text, input_tokens, output_tokens, self.cache_ttl_s)
        if question is not None and vector is not None:
            cost = (candidate.price_in_per_1k * input_tokens + candidate.price_out_per_1k * output_tokens) / 1000
            _keep_in_background(question, vector, text, input_tokens, output_tokens, cost, self.cache_ttl_s)

    async def _semantic(
        self, question: semantic.Question, pending: semantic.Pending | None
    ) -> tuple[list[AIMessageChunk | TextChunk], list[float] | None]:
        """The semantic cache's answer as chunks (empty: a miss), and the question's vector. A
        cache that fails (the embedder, the database) is a miss: the model answers, nothing is kept."""
        started = time.perf_counter()
        threshold = float(self.semantic_threshold or 1)
        try:
            if semantic.EARLY_START:
                pending = pending or semantic.start(question, threshold)
                pending.go()
                looked = await pending.result()
            else:  # the previous path (the bench's baseline)
                looked = await in_db_thread(semantic.timed_lookup)(question, threshold)
        except Exception:
            logger.warning("The semantic cache failed; the model answers.", exc_info=True)
            return [], None
        if looked is None:
            return [], None
        found, vector, embed_ms, lookup_ms = looked.hit, looked.vector, looked.embed_ms, looked.lookup_ms
        if found is None:
            return [], vector
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        metadata = {
            "cached": True,
            "cache": "semantic",
            "similarity": round(found.similarity, 4),
            "embed_ms": round(embed_ms, 2),
            "embed_cpu_ms": round(looked.embed_cpu_ms, 2),
            "lookup_ms": round(lookup_ms, 2),
        }
        saved = [{"cache": "semantic", "similarity": round(found.similarity, 4), "saved": str(found.cost)}]
        self._record("semantic-cache", ModelCall.Status.OK, 0, 0, 0.0, started, saved, None, self.candidates[0])
        end = AIMessageChunk(content="", usage_metadata=usage, response_metadata=metadata)  # type: ignore[arg-type]
        return [TextChunk(found.answer), end], vector

    async def _first_chunk(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        started: float,
        attempts: list[dict[str, Any]],
        on_text: _Relayed | None = None,
    ) -> tuple[Candidate, AsyncIterator[AIMessageChunk | TextChunk], AIMessageChunk | TextChunk | None]:
        """The first candidate (with retries) to send a first chunk: it, its stream and that chunk.
        When none does, the call is ledgered as failed and the last error raised."""
        last_error: BaseException | None = None
        for candidate in self.candidates:
            for attempt in range(candidate.retries + 1):
                if attempt:
                    await asyncio.sleep(min(RETRY_MAX_S, RETRY_BASE_S * 2 ** (attempt - 1)))
                relay = on_text if candidate.alias == self.alias else None
                stream = _chunks(candidate.model, messages, stop, kwargs, relay)
                try:
                    async with asyncio.timeout(candidate.first_token_s):
                        first = await anext(stream, None)
                except (Exception, asyncio.CancelledError) as exc:
                    with contextlib.suppress(Exception):
                        await stream.aclose()  # type: ignore[attr-defined]
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    if isinstance(exc, TimeoutError):
                        exc = ModelTimeout(
                            f"The model {candidate.alias!r} sent nothing for {candidate.first_token_s:g} s."
                        )
                    last_error = exc
                    attempts.append({"alias": candidate.alias, "error": _describe(exc, self.classify, candidate.alias)})
                    continue
                return candidate, stream, first
        failure = last_error or ModelUnavailable(f"No model can answer for {self.alias!r}.")
        self._record(self.alias, ModelCall.Status.FAILED, 0, 0, None, started, attempts, failure, self.candidates[0])
        error = self.classify(failure, self.alias)
        if isinstance(error, FlowError) and len(attempts) > 1 and not isinstance(error, ContextTooLong):
            tried = "; ".join(f"{a['alias']}: {a['error']}" for a in attempts)
            raise type(error)(f"Every model for {self.alias!r} failed before answering ({tried})", code=error.code)
        raise error from None

    def _record(
        self,
        served_by: str,
        status: str,
        input_tokens: int,
        output_tokens: int,
        ttft: float | None,
        started: float,
        attempts: list[dict[str, Any]],
        failure: BaseException | None,
        candidate: Candidate,
    ) -> None:
        if self.meter is None:
            return
        cost = (candidate.price_in_per_1k * input_tokens + candidate.price_out_per_1k * output_tokens) / 1000
        call = ledger_call(
            alias=self.alias,
            served_by=served_by,
            status=status,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            ttft_ms=round(ttft, 2) if ttft is not None else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            attempts=attempts,
            error="" if failure is None else _describe(failure, self.classify, served_by),
        )
        self.meter.record(call)
        model_call_observe(call)  # the Prometheus series (apps/config/metrics.py)


_kept: set[asyncio.Task[None]] = set()


def _keep_in_background(
    question: semantic.Question,
    vector: list[float],
    answer: str,
    input_tokens: int,
    output_tokens: int,
    cost: Decimal,
    ttl_s: float,
) -> None:
    """The answer into the semantic cache, after the call (the caller does not wait for it)."""

    async def keep() -> None:
        with contextlib.suppress(Exception):  # a cache that cannot store is only a miss next time
            await in_db_thread(semantic.store)(
                question, vector, answer, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost, ttl_s=ttl_s
            )

    task = asyncio.get_running_loop().create_task(keep(), name="semantic-cache-store")
    _kept.add(task)
    task.add_done_callback(_kept.discard)


async def semantic_flush() -> None:
    """Waits for the semantic cache's pending stores (tests)."""
    while _kept:
        await asyncio.gather(*list(_kept), return_exceptions=True)
