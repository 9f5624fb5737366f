"""How validation issues read: sentences for the person at the canvas, naming nodes by their
label (or id) and type, and saying what to do. flows.validate decides what is wrong; this module
only words it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic_core import ErrorDetails

from flows.registry import NodeType, Port, Registry
from flows.spec import NodeSpec
from flows.types import PortType, compatible

# Config fields the editor shows as a picker (flows' `format`s): "pick one" rather than "fill it in".
_PICKED_FORMATS = {"model-alias", "tool-name", "knowledge-base", "flow-ref", "secret-name", "mcp-tool"}
_CONSTRAINTS = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "below"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "above"),
}


def node_name(node: NodeSpec, node_type: NodeType[Any] | None) -> str:
    """“Answer” (LLM): the label the person gave it, else its id, then what kind of node it is."""
    kind = node_type.title if node_type is not None else node.type
    return f"“{node.label or node.id}” ({kind})"


def _field_schema(node_type: NodeType[Any], loc: Sequence[int | str]) -> dict[str, Any]:
    schema = node_type.config_model.model_json_schema()
    if not loc or not isinstance(loc[0], str):
        return {}
    prop: dict[str, Any] = schema.get("properties", {}).get(loc[0], {})
    return prop if len(loc) == 1 else {}


def _field_words(node_type: NodeType[Any], loc: Sequence[int | str]) -> str:
    """("routes", 0, "value") -> "routes, item 1, value"; a field's own title where it has one."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts.append(f"item {part + 1}")
        elif index == 0:
            title = _field_schema(node_type, [part]).get("title")
            parts.append(str(title or part.replace("_", " ")).lower())
        else:
            parts.append(part.replace("_", " "))
    return ", ".join(parts) or "settings"


def _article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


def _is_empty(error: ErrorDetails) -> bool:
    ctx = error.get("ctx") or {}
    return error["type"] == "missing" or (error["type"] == "string_too_short" and ctx.get("min_length") == 1)


def config_code(error: ErrorDetails) -> str:
    """An empty required field is missing config, whether absent or blank."""
    return "node.missing_config" if _is_empty(error) else "node.invalid_config"


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def config_message(node: NodeSpec, node_type: NodeType[Any], error: ErrorDetails) -> str:
    """One pydantic error in a node's config as a sentence: what the field needs, and where to set it."""
    name = node_name(node, node_type)
    loc = error["loc"]
    field = _field_words(node_type, loc)
    schema = _field_schema(node_type, loc)
    picked = schema.get("format") in _PICKED_FORMATS or "enum" in schema
    kind, ctx = error["type"], error.get("ctx") or {}
    if _is_empty(error) or (kind == "too_short" and schema.get("type") == "array"):
        if schema.get("type") == "array":
            least = (ctx.get("min_length") or 1) if kind == "too_short" else schema.get("minItems", 1)
            one = field.removesuffix("s")
            what = f"one {one}" if least == 1 else f"{least} {field}"
            return f"{name} needs at least {what}: add {'one' if least == 1 else 'them'} in its settings."
        how = "pick one" if picked else "set it"
        return f"{name} needs {_article(field)} {field}: {how} in its settings."
    value = error.get("input")
    shown = f" (it is {value!r})" if isinstance(value, int | float | str) and len(repr(value)) <= 40 else ""
    if kind in _CONSTRAINTS:
        key, words = _CONSTRAINTS[kind]
        return f"{name}: {field} must be {words} {_number(ctx.get(key))}{shown}. Change it in its settings."
    if kind in {"string_too_long", "too_long"}:
        limit = ctx.get("max_length")
        unit = " characters" if kind == "string_too_long" else " items"
        return f"{name}: {field} is too long (at most {limit}{unit}). Shorten it in its settings."
    if kind == "too_short":
        return f"{name}: {field} needs at least {ctx.get('min_length')} item(s). Add them in its settings."
    if kind in {"literal_error", "enum"}:
        return f"{name}: {field} must be one of {ctx.get('expected')}{shown}. Pick one in its settings."
    if kind == "extra_forbidden":
        return f"{name} has a setting it does not know ({field}): remove it, or re-add the node from the palette."
    if kind == "uuid_parsing" and picked:
        return f"{name}: {field} does not name anything that exists: pick one in its settings."
    detail = error["msg"].removeprefix("Value error, ").rstrip(".")
    return f"{name}: {field}: {detail[:1].lower()}{detail[1:]}. Fix it in its settings."


def missing_input_message(name: str, port: str, port_type: PortType) -> str:
    source = "another node's output" if port_type == PortType.ANY else f"a node that gives {port_type}"
    return f"{name} needs its “{port}” input connected: draw a connection into it from {source}."


def unreachable_message(name: str) -> str:
    return (
        f"{name} is not connected to the flow (nothing from the chat input reaches it): "
        "connect one of its inputs, or delete it."
    )


def cycle_message(name: str, others: Iterable[str]) -> str:
    rest = list(others)
    shown = ", ".join(rest[:4]) + (f" and {len(rest) - 4} more" if len(rest) > 4 else "")
    together = f" with {shown}" if shown else ""
    return (
        f"{name} is on a cycle of connections{together}: a flow runs one way, "
        "so remove one of the connections that lead back."
    )


def _converters(registry: Registry, given: PortType, needed: PortType) -> list[str]:
    """Titles of node types with a fixed required input of type `given` and an output that gives `needed`."""
    found: list[str] = []
    for node_type in registry.all():
        ins: Iterable[Port] = node_type.inputs.values()
        outs: Iterable[Port] = node_type.outputs.values()
        # A required input of exactly the given type: made for that value, not merely able to render it.
        takes = any(p.required and p.type == given for p in ins)
        gives = any(p.type != PortType.ANY and compatible(p.type, needed) for p in outs)
        if takes and gives and node_type.title not in found:
            found.append(node_type.title)
    return found


def mismatch_message(
    registry: Registry, source: str, source_port: str, given: PortType, target: str, target_port: str, needed: PortType
) -> str:
    between = _converters(registry, given, needed)
    fix = (
        f"put {_article(between[0].lower())} {between[0]} node between them"
        if between
        else f"connect an output that gives {needed} instead"
    )
    return (
        f"The connection from {source}'s “{source_port}” to {target}'s “{target_port}” does not fit: "
        f"it gives {given}, but “{target_port}” needs {needed}. Delete it and {fix}."
    )


def unknown_port_message(name: str, port: str, side: str, ports: Iterable[str]) -> str:
    choices = ", ".join(f"“{p}”" for p in ports)
    rest = f" (it has {choices})" if choices else ""
    return (
        f"A connection uses {name}'s {side} “{port}”, which it no longer has{rest}: "
        "delete the connection and draw it again."
    )
