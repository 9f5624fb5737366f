"""An evaluation's target graph: a flow version (or the draft), or a prompt version of it."""

from __future__ import annotations

import copy
from typing import Any

from apps.config.errors import InvalidInput
from flows.validate import validate


def graph_with_prompt(graph: dict[str, Any], prompt: dict[str, Any] | None) -> dict[str, Any]:
    """The graph with one prompt node's template replaced (a prompt version as the target); the
    result must still validate (a template naming a variable no edge feeds is refused)."""
    if not prompt:
        return graph
    node_id, template = str(prompt.get("node") or ""), str(prompt.get("template") or "")
    if not template.strip():
        raise InvalidInput("The prompt's template is empty.", code="invalid_prompt")
    nodes = graph.get("nodes") or []
    node = next((n for n in nodes if isinstance(n, dict) and n.get("id") == node_id), None)
    if node is None or node.get("type") != "prompt":
        raise InvalidInput(f"The flow version has no prompt node {node_id!r}.", code="invalid_prompt")
    changed = copy.deepcopy(graph)
    for entry in changed["nodes"]:
        if entry.get("id") == node_id:
            entry["config"] = {**(entry.get("config") or {}), "template": template}
    before = {(issue.code, issue.node) for issue in validate(graph)}
    issues = [issue for issue in validate(changed) if (issue.code, issue.node) not in before]
    if issues:
        raise InvalidInput(f"With this prompt the flow is not valid: {issues[0].message}", code="invalid_prompt")
    return changed
