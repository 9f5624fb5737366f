"""`{{secrets.NAME}}` and `{{vars.NAME}}` in node configs: found, filled in, and kept out of traces.

The app reads an organization's secrets and variables once, before the compile, fills every
reference in the graph's node configs (`fill`), and wraps the run's event sink with `redact`, so
a secret's value never reaches a stored event, span, message or a client, whatever a node or an
upstream server did with it. The stored graph keeps the references, never the values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flows.errors import FlowError

REFERENCE = re.compile(r"\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
REDACTED = "[secret]"
MIN_REDACTED_LENGTH = 4  # shorter values would blank out ordinary words


class MissingReference(FlowError):
    code = "reference_not_found"


@dataclass(frozen=True)
class References:
    secrets: frozenset[str]
    variables: frozenset[str]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(graph: Mapping[str, Any]) -> References:
    """The secret and variable names the graph's node configs refer to."""
    found: dict[str, set[str]] = {"secrets": set(), "vars": set()}
    for node in graph.get("nodes") or []:
        if isinstance(node, dict):
            for text in _strings(node.get("config") or {}):
                for kind, name in REFERENCE.findall(text):
                    found[kind].add(name)
    return References(frozenset(found["secrets"]), frozenset(found["vars"]))


def mentions_references(graph: Mapping[str, Any]) -> bool:
    refs = references(graph)
    return bool(refs.secrets or refs.variables)


def fill(graph: Mapping[str, Any], *, secrets: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, Any]:
    """A copy of the graph with every reference in node configs replaced by its value; a name
    the organization does not have raises MissingReference naming the node."""

    def replace_in(value: Any, node: str) -> Any:
        if isinstance(value, str):

            def one(match: re.Match[str]) -> str:
                kind, name = match.group(1), match.group(2)
                table = secrets if kind == "secrets" else variables
                if name not in table:
                    what = "secret" if kind == "secrets" else "variable"
                    raise MissingReference(
                        f"The node {node!r} uses the {what} {name!r}, which this organization does not have: "
                        f"add it under Integrations, or change the node.",
                        code=f"{what}_not_found",
                    )
                return table[name]

            return REFERENCE.sub(one, value)
        if isinstance(value, dict):
            return {key: replace_in(item, node) for key, item in value.items()}
        if isinstance(value, list):
            return [replace_in(item, node) for item in value]
        return value

    nodes = []
    for node in graph.get("nodes") or []:
        if isinstance(node, dict) and node.get("config"):
            label = str(node.get("label") or node.get("id") or "?")
            nodes.append({**node, "config": replace_in(node["config"], label)})
        else:
            nodes.append(node)
    return {**graph, "nodes": nodes}


class Redactor:
    """Replaces every secret value (and its common encodings) in JSON-like data by `[secret]`."""

    def __init__(self, values: Iterable[str]) -> None:
        import base64
        import json

        forms: set[str] = set()
        for value in values:
            if len(value) < MIN_REDACTED_LENGTH:
                continue
            forms.add(value)
            forms.add(json.dumps(value)[1:-1])  # as it reads inside a JSON string
            forms.add(base64.b64encode(value.encode()).decode("ascii"))
        # Longest first, so a value that contains another is replaced whole.
        self.forms = sorted((f for f in forms if len(f) >= MIN_REDACTED_LENGTH), key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(f) for f in self.forms)) if self.forms else None

    def __bool__(self) -> bool:
        return self.pattern is not None

    def text(self, text: str) -> str:
        return self.pattern.sub(REDACTED, text) if self.pattern is not None else text

    def data(self, value: Any) -> Any:
        if self.pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
