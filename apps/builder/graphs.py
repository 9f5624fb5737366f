"""Graph helpers of the builder: the starter graph, the size cap, and secret removal for exports."""

from __future__ import annotations

import json
import re
from typing import Any

from apps.config.errors import InvalidInput
from flows.secrets import REFERENCE

# FlowSpec caps nodes and edges; this caps what node configs can add (long prompts included).
MAX_GRAPH_BYTES = 2_000_000

_SECRET_WORDS = frozenset(
    {"apikey", "secret", "password", "passwd", "token", "authorization", "credential", "credentials"}
)
# Compounds matched on the key squashed to letters and digits: api_key, apiKey, X-Api-Key...
_SECRET_COMPOUNDS = ("apikey", "privatekey", "accesskey")
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def starter_graph() -> dict[str, Any]:
    """What a new flow starts from: chat input -> prompt -> LLM -> output, left to right."""
    kinds = [
        ("input", "chat_input", {}),
        ("prompt", "prompt", {"template": "{{question}}"}),
        ("llm", "llm", {"model": "local"}),
        ("output", "output", {}),
    ]
    nodes = [
        {"id": node_id, "type": kind, "version": 1, "position": {"x": index * 280.0, "y": 0.0}, "config": config}
        for index, (node_id, kind, config) in enumerate(kinds)
    ]
    links = [
        ("input", "message", "prompt", "question"),
        ("prompt", "messages", "llm", "prompt"),
        ("llm", "text", "output", "value"),
    ]
    edges = [
        {"id": f"{source}-{target}", "source": source, "source_port": out, "target": target, "target_port": into}
        for source, out, target, into in links
    ]
    return {"nodes": nodes, "edges": edges}


def check_graph_size(graph: Any) -> None:
    size = len(json.dumps(graph, separators=(",", ":")))
    if size > MAX_GRAPH_BYTES:
        raise InvalidInput(
            f"The graph is {size} bytes of JSON; the limit is {MAX_GRAPH_BYTES}.", code="graph_too_large"
        )


def is_secret_key(key: str) -> bool:
    """api_key, apiKey, X-Api-Key, client_secret, access_token... but not max_tokens."""
    words = _NON_ALNUM.split(_CAMEL_BOUNDARY.sub(r"\1_\2", key).lower())
    squashed = "".join(words)
    return any(word in _SECRET_WORDS for word in words) or any(c in squashed for c in _SECRET_COMPOUNDS)


def is_reference_only(value: Any) -> bool:
    """`{{secrets.NAME}}` (or `Bearer {{secrets.NAME}}`): a reference to an organization's secret,
    which an export keeps; the value itself never is in a graph (flows/secrets.py)."""
    if not isinstance(value, str) or not REFERENCE.search(value):
        return False
    return re.fullmatch(r"(?i)\s*(bearer|basic|token)?\s*", REFERENCE.sub("", value)) is not None


def without_secrets(value: Any) -> Any:
    """A copy of `value` with every dict key that looks like a secret removed, at any depth
    (unless its value only refers to an organization's secret by name)."""
    if isinstance(value, dict):
        return {
            k: without_secrets(v)
            for k, v in value.items()
            if not (isinstance(k, str) and is_secret_key(k)) or is_reference_only(v)
        }
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value
