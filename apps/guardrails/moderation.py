"""The model-based checks a policy may ask for, given to flows.guards as callables.

- `local_classify`: the injection classifier (flows/guards/classifier.py's windows and thresholds)
  on the fine-tuned local MiniLM (apps.guardrails.injection_model; loaded once per process).
- `moderator_for(models)`: a moderation check through a model alias of the run's organization,
  either its endpoint's OpenAI-compatible `POST /moderations` (category scores mapped onto the
  policy's categories) or a chat model asked to score each category as JSON. Calls go through the
  egress policy like every model call; a failure is `ModerationFailed`, which the policy's
  `on_error` turns into a block or a flag. Each call is admitted by the run's meter first (the
  organization's, flow's and widget's budgets and rate limit: a call that would exceed them is not
  made, it fails as `ModerationFailed`, so `on_error` decides) and lands in the ModelCall ledger
  with its tokens (the answer's usage; a `/moderations` answer has none: its input estimated at
  four characters a token) and cost at the alias's prices.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from decimal import Decimal
from typing import Any

from apps.config.crypto import decrypt
from apps.config.db import release_connection
from apps.config.metrics import model_call_observe
from apps.guardrails.injection_model import injection_model
from apps.serving.accounting import Meter, ledger_call
from apps.serving.egress import EgressPolicy, vetted_post_sync
from apps.serving.gateway import EndpointSnapshot
from flows.errors import EgressRefused, FlowError
from flows.guards.classifier import classify_injection
from flows.guards.policy import MODERATION_CATEGORIES, Moderate, ModerationCheck, ModerationFailed
from flows.ports import ChatModels

logger = logging.getLogger(__name__)

MAX_MODERATION_SECONDS = 20.0
MAX_TEXT_CHARS = 8_000  # what a moderation call sends of a longer text

# OpenAI's moderation categories onto the policy's (the highest score of each group).
OPENAI_CATEGORIES = {
    "harassment": "harassment",
    "harassment/threatening": "harassment",
    "hate": "hate",
    "hate/threatening": "hate",
    "self-harm": "self_harm",
    "self-harm/intent": "self_harm",
    "self-harm/instructions": "self_harm",
    "sexual": "sexual",
    "sexual/minors": "sexual",
    "violence": "violence",
    "violence/graphic": "violence",
    "illicit": "illicit",
    "illicit/violent": "illicit",
}

CLASSIFIER_PROMPT = (
    "You are a content moderation classifier. Rate the user's text for each category with a number "
    "from 0 (not at all) to 1 (clearly). Categories: {categories}. Answer with one JSON object and "
    'nothing else, for example {{"{first}": 0.0}}.'
)


class LocalClassify:
    """The local injection model as a `Classify`: user input by the head's shared output, retrieved
    documents and tool results by the carriers' own (`carrier`, wave 9; ADR 0008)."""

    def __call__(self, text: str) -> float:
        return classify_injection(text, injection_model().score)

    def carrier(self, text: str) -> float:
        return classify_injection(text, injection_model().score_carrier)


local_classify = LocalClassify()


def _endpoint(models: ChatModels | None, alias: str) -> EndpointSnapshot:
    lookup = getattr(models, "endpoint", None)
    if lookup is None or not alias:
        raise ModerationFailed("No model alias to moderate with.")
    try:
        endpoint = lookup(alias)
    except FlowError as exc:
        raise ModerationFailed(str(exc)) from None
    if not isinstance(endpoint, EndpointSnapshot):
        raise ModerationFailed(f"The model {alias!r} cannot be reached from here.")
    return endpoint


def _post(endpoint: EndpointSnapshot, path: str, body: dict[str, Any]) -> Any:
    url = endpoint.base_url.rstrip("/") + path
    headers = {"Content-Type": "application/json"}
    if endpoint.api_key_encrypted:
        headers["Authorization"] = f"Bearer {decrypt(endpoint.api_key_encrypted)}"
    policy = EgressPolicy()
    if endpoint.instance_owned:  # the instance's own model server, as the gateway reaches it
        policy = EgressPolicy(allow=[*policy.allow, _pair_of(endpoint.base_url)])
    timeout = min(MAX_MODERATION_SECONDS, endpoint.timeouts.first_token)
    try:
        status, raw = vetted_post_sync(
            url, body=json.dumps(body).encode(), headers=headers, timeout=timeout, policy=policy
        )
    except EgressRefused as exc:
        raise ModerationFailed(str(exc)) from None
    if status != 200:
        logger.warning("moderation through %s answered %s: %s", endpoint.alias, status, raw[:500])
        raise ModerationFailed(f"The moderation model answered {status}.")
    try:
        return json.loads(raw)
    except ValueError:
        raise ModerationFailed("The moderation model's answer is not JSON.") from None


def _pair_of(url: str) -> str:
    import httpx

    target = httpx.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    return f"{target.host}:{port}"


def _scores_of_moderations(answer: Any) -> dict[str, float]:
    try:
        raw = answer["results"][0]["category_scores"]
    except (KeyError, IndexError, TypeError):
        raise ModerationFailed("The moderation answer has no category scores.") from None
    scores: dict[str, float] = {}
    for name, value in raw.items():
        ours = OPENAI_CATEGORIES.get(name)
        if ours is not None and isinstance(value, int | float):
            scores[ours] = max(scores.get(ours, 0.0), float(value))
    return scores


_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def scores_of_reply(reply: str, categories: list[str]) -> dict[str, float]:
    """The first JSON object in a chat model's reply, as scores of the known categories (a
    category it leaves out scores 0); no such object: ModerationFailed."""
    for candidate in _JSON_OBJECT.findall(reply):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(parsed, dict):
            continue
        scores: dict[str, float] = {}
        for name, value in parsed.items():
            key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
            if key in categories and isinstance(value, int | float) and not isinstance(value, bool):
                scores[key] = min(1.0, max(0.0, float(value)))
        if scores:
            return scores
    raise ModerationFailed("The moderation model did not answer with category scores.")


def moderate_with(endpoint: EndpointSnapshot, text: str, check: ModerationCheck) -> dict[str, float]:
    return _moderate(endpoint, text, check, {})


def _moderate(endpoint: EndpointSnapshot, text: str, check: ModerationCheck, usage: dict[str, int]) -> dict[str, float]:
    """The scores; `usage` gets the call's input and output tokens."""
    text = text[:MAX_TEXT_CHARS]
    if check.mode == "moderations":
        usage["input"] = math.ceil(len(text) / 4)  # the answer has no usage: an estimate
        return _scores_of_moderations(_post(endpoint, "/moderations", {"model": endpoint.model, "input": text}))
    categories = [c for c in MODERATION_CATEGORIES if c in check.thresholds]
    system = CLASSIFIER_PROMPT.format(categories=", ".join(categories), first=categories[0] if categories else "hate")
    answer = _post(
        endpoint,
        "/chat/completions",
        {
            "model": endpoint.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
            "temperature": 0,
            "max_tokens": 120,
            "stream": False,
        },
    )
    used = answer.get("usage") if isinstance(answer, dict) else None
    if isinstance(used, dict):
        usage["input"] = int(used.get("prompt_tokens") or 0)
        usage["output"] = int(used.get("completion_tokens") or 0)
    else:
        usage["input"] = math.ceil((len(system) + len(text)) / 4)
    try:
        reply = str(answer["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        raise ModerationFailed("The moderation model's answer has no message.") from None
    return scores_of_reply(reply, categories)


def _ledger(
    meter: Meter,
    endpoint: EndpointSnapshot,
    usage: dict[str, int],
    started: float,
    failure: BaseException | None,
    *,
    release: bool,
) -> None:
    tokens_in, tokens_out = usage.get("input", 0), usage.get("output", 0)
    cost = (endpoint.price_input_per_1k * tokens_in + endpoint.price_output_per_1k * tokens_out) / 1000
    call = ledger_call(
        alias=endpoint.alias,
        served_by=endpoint.alias,
        status="failed" if failure is not None else "ok",
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost=Decimal(cost),
        ttft_ms=None,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        attempts=[],
        error="" if failure is None else f"moderation: {failure}",
    )
    try:
        meter.record(call)  # off the event loop: the row is written here, now
    finally:
        if release:  # a worker thread of the run's (not the run start's database thread)
            release_connection()
    model_call_observe(call)


def moderator_for(models: ChatModels | None) -> Moderate:
    """A `Moderate` callable for the run's models (the alias is the policy's): with the run's
    meter, each call admitted against the budgets and rate limit, and recorded in the ledger."""
    meter = getattr(models, "meter", None)
    made_in = threading.get_ident()  # the run start's database thread: it releases its own connection

    def moderate(text: str, check: ModerationCheck) -> dict[str, float]:
        endpoint = _endpoint(models, check.model)
        if not isinstance(meter, Meter):
            return moderate_with(endpoint, text, check)
        try:
            meter.admit()  # over a budget or the rate limit: no call, the policy's on_error decides
        except FlowError as exc:
            raise ModerationFailed(str(exc)) from None
        usage: dict[str, int] = {}
        started = time.perf_counter()
        release = threading.get_ident() != made_in
        try:
            scores = _moderate(endpoint, text, check, usage)
        except ModerationFailed as exc:
            _ledger(meter, endpoint, usage, started, exc, release=release)
            raise
        _ledger(meter, endpoint, usage, started, None, release=release)
        return scores

    return moderate
