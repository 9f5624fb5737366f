"""Mustache-style `{{variable}}` templates: substitution only, never evaluation of user text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
# `{{secrets.NAME}}` and `{{vars.NAME}}` are the organization's (flows.secrets fills them before the
# run), never a node's input.
RESERVED_ROOTS = frozenset({"secrets", "vars"})


def variables(template: str) -> list[str]:
    """Top-level variable names in order of first use (`{{a.b}}` needs input `a`)."""
    seen: dict[str, None] = {}
    for match in VARIABLE.finditer(template):
        root = match.group(1).split(".")[0]
        if root not in RESERVED_ROOTS or "." not in match.group(1):
            seen.setdefault(root, None)
    return list(seen)


def lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def render(template: str, values: dict[str, Any], to_text: Callable[[Any], str]) -> str:
    return VARIABLE.sub(lambda m: to_text(lookup(values, m.group(1))), template)
