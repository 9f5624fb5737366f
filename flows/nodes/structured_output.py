"""Structured output (parameter extractor): the model fills a JSON Schema from a text; the
answer is validated, and asked once more with the validation error when it does not fit.

Each top-level field of the schema is an output port of its own (string fields as text, the
others as JSON), so a branch can route on a field; `data` carries the whole object.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.errors import ModelUnavailable, NodeFailed
from flows.model_calls import call_model, parse_json_object
from flows.nodes.llm import _timeouts
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_text

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
MAX_FIELDS = 40
RESERVED = frozenset({"data"})
TOOL_NAME = "record"
DEFAULT_INSTRUCTIONS = "Extract the fields described by the schema from the user's text."


class StructuredOutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=100, json_schema_extra={"format": "model-alias"})
    instructions: str = Field(default=DEFAULT_INSTRUCTIONS, max_length=20_000, json_schema_extra={"format": "prompt"})
    json_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}, "required": []},
        json_schema_extra={"format": "json-schema"},
        description="The fields to fill: each becomes an output port",
    )
    method: Literal["auto", "tool_calling", "json_mode", "prompt"] = Field(
        default="auto",
        description="auto: tool calling, reading a plain JSON answer too; json_mode: the API's JSON mode",
    )
    temperature: float = Field(default=0, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=16, le=8192)

    @field_validator("json_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            raise ValueError('The schema must be an object with "properties".')
        properties: dict[str, Any] = schema["properties"]
        if not properties:
            raise ValueError("Add at least one field to the schema.")
        if len(properties) > MAX_FIELDS:
            raise ValueError(f"At most {MAX_FIELDS} fields.")
        for name in properties:
            if not FIELD_NAME.fullmatch(name) or name in RESERVED:
                raise ValueError(f"{name!r} cannot be a field name: letters, digits and _ only, not 'data'.")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"Not a valid JSON Schema: {exc.message}") from None
        return schema


def _port_type(field: Any) -> PortType:
    return PortType.TEXT if isinstance(field, dict) and field.get("type") == "string" else PortType.JSON


def _first_error(schema: dict[str, Any], value: Any) -> str | None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return None
    where = "/".join(str(p) for p in errors[0].path)
    return f"{'at ' + where + ': ' if where else ''}{errors[0].message}"


@register
class StructuredOutputNode(NodeType[StructuredOutputConfig]):
    type, version = "structured_output", 1
    title = "Structured output"
    description = "Has a model fill the fields of a JSON Schema from a text; one output per field."
    category, icon = "model", "list-checks"
    config_model = StructuredOutputConfig
    inputs = {"text": Port(PortType.TEXT, description="What to extract from")}
    outputs = {"data": Port(PortType.JSON, description="The whole object")}

    def output_ports(self, config: StructuredOutputConfig) -> dict[str, Port]:
        ports = dict(self.outputs)
        for name, field in config.json_schema["properties"].items():
            description = field.get("description", "") if isinstance(field, dict) else ""
            ports[name] = Port(_port_type(field), description=description or f"The field {name}")
        return ports

    async def run(
        self, config: StructuredOutputConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        schema = config.json_schema
        model = ports.models.chat_model(config.model, temperature=config.temperature, max_tokens=config.max_tokens)
        method = config.method
        runnable: Any = model
        if method in {"auto", "tool_calling"}:
            record = StructuredTool(
                name=TOOL_NAME,
                description="Record the fields extracted from the text.",
                args_schema=schema,
                coroutine=_unused,
            )
            try:
                runnable = model.bind_tools([record])
            except NotImplementedError:
                if method == "tool_calling":
                    raise NodeFailed(
                        f"The model {config.model!r} cannot call tools: choose another method.",
                        code="tools_unsupported",
                    ) from None
                method = "prompt"
        elif method == "json_mode":
            runnable = model.bind(response_format={"type": "json_object"})
        system = config.instructions or DEFAULT_INSTRUCTIONS
        if method != "tool_calling":  # auto reads a plain JSON answer too
            system += f"\n\nAnswer with only a JSON object that matches this JSON Schema:\n{_compact(schema)}"
        messages: list[BaseMessage] = [SystemMessage(content=system), HumanMessage(content=to_text(inputs.get("text")))]
        first, idle = _timeouts(ports, config.model)
        problem = ""
        for attempt in (1, 2):
            try:
                reply = await call_model(
                    runnable, messages, alias=config.model, ports=ports, ctx=ctx, timeout=first + idle * 4
                )
            except ModelUnavailable:
                if not (attempt == 1 and config.method == "auto" and method == "auto"):
                    raise
                # The server refused the tool (the built-in local model does): a JSON answer instead.
                method, runnable = "prompt", model
                reply = await call_model(
                    runnable, messages, alias=config.model, ports=ports, ctx=ctx, timeout=first + idle * 4
                )
            value, problem = _read(reply)
            if value is not None and (problem := _first_error(schema, value) or "") == "":
                ctx.note("structured_output", {"method": method, "attempts": attempt})
                return {"data": value, **{name: value.get(name) for name in schema["properties"]}}
            messages = [*messages, *_retry(reply, problem)]
        ctx.note("structured_output", {"method": method, "attempts": 2, "error": problem})
        raise NodeFailed(
            f"The model's answer did not fit the schema twice ({problem}): simplify the schema or use a "
            "stronger model.",
            code="structured_output_invalid",
        )


async def _unused(**_: Any) -> str:
    return ""  # the model's call of `record` is read, never run


def _compact(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def _read(reply: AIMessageChunk) -> tuple[dict[str, Any] | None, str]:
    """The object the model gave (tool call arguments, else JSON in its text), or why there is none."""
    calls = [call for call in reply.tool_calls if call["name"] == TOOL_NAME]
    if calls:
        return dict(calls[0]["args"]), ""
    try:
        value = parse_json_object(str(reply.content))
    except ValueError as exc:
        return None, str(exc)
    if not isinstance(value, dict):
        return None, "the answer is JSON but not an object"
    return value, ""


def _retry(reply: AIMessageChunk, problem: str) -> list[BaseMessage]:
    """The wrong answer and what was wrong with it, for the one retry."""
    correction = f"That answer is not valid: {problem}. Answer again with the corrected object only."
    if reply.tool_calls:
        call = reply.tool_calls[0]
        return [reply, ToolMessage(content=correction, tool_call_id=call["id"] or TOOL_NAME)]
    return [reply, HumanMessage(content=correction)]
