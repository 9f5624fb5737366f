"""The cost shown before an evaluation starts: the flow's LLM nodes at their aliases' prices, the
prompt estimated at three UTF-8 bytes a token (the gateway's EstimateCounter rule) plus each
node's template, the answer at the node's max_tokens (an upper bound); judges likewise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.evaluation.evaluators.spec import JUDGE_KINDS, EvaluatorSpec
from apps.serving.models import ModelEndpoint
from apps.tenancy.models import Organization

BYTES_PER_TOKEN = 3
JUDGE_PROMPT_TOKENS = 250
JUDGE_OUTPUT_TOKENS = 100


def _tokens(text: str) -> int:
    return len(text.encode()) // BYTES_PER_TOKEN + 1


def estimate_cost(
    *, organization: Organization, graph: dict[str, Any], messages: list[str], samples: int, specs: list[EvaluatorSpec]
) -> Decimal:
    prices = {
        alias: (price_in, price_out)
        for alias, price_in, price_out in ModelEndpoint.objects.filter(organization=organization).values_list(
            "alias", "price_input_per_1k", "price_output_per_1k"
        )
    }
    zero = (Decimal(0), Decimal(0))
    message_tokens = sum(_tokens(message) for message in messages)
    count = len(messages)
    total = Decimal(0)
    for node in graph.get("nodes") or []:
        if not isinstance(node, dict) or node.get("type") != "llm":
            continue
        config = node.get("config") or {}
        price_in, price_out = prices.get(str(config.get("model", "")), zero)
        template_tokens = _tokens(str(config.get("system", "")) + str(config.get("prompt", "")))
        input_tokens = message_tokens + count * template_tokens
        output_tokens = count * int(config.get("max_tokens") or 512)
        total += (price_in * input_tokens + price_out * output_tokens) / 1000
    for spec in specs:
        if spec.kind not in JUDGE_KINDS:
            continue
        price_in, price_out = prices.get(spec.model or "", zero)
        calls = 2 if spec.kind == "pairwise" else 1
        input_tokens = calls * (message_tokens * 2 + count * JUDGE_PROMPT_TOKENS)
        output_tokens = calls * count * JUDGE_OUTPUT_TOKENS
        total += (price_in * input_tokens + price_out * output_tokens) / 1000
    return (total * samples).quantize(Decimal("0.000001"))
