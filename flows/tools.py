"""Built-in tools (calculator, current time, HTTP request, knowledge search) as LangChain tools.

None evaluates user text as code: the calculator walks a parsed arithmetic tree, and HTTP goes
through the egress-guarded client of the ports.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, field_validator

from flows.errors import ToolUnavailable
from flows.http import HttpRequest, answer_text, send
from flows.ports import Ports

MAX_EXPRESSION = 500
MAX_POWER = 1000
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


class CalculatorError(ValueError):
    pass


def calculate(expression: str) -> float | int:
    """Arithmetic only: numbers, + - * / // % **, parentheses, a few math functions."""
    if len(expression) > MAX_EXPRESSION:
        raise CalculatorError("The expression is too long.")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise CalculatorError(f"Not an arithmetic expression: {expression!r}") from None
    result: float | int = _evaluate(tree.body)
    return result


def _evaluate(node: ast.AST) -> Any:
    match node:
        case ast.Constant(value=int() | float() as value) if not isinstance(value, bool):
            return value
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            lhs, rhs = _evaluate(left), _evaluate(right)
            if isinstance(op, ast.Pow) and abs(rhs) > MAX_POWER:
                raise CalculatorError("The exponent is too large.")
            try:
                return _BINARY[type(op)](lhs, rhs)
            except ZeroDivisionError:
                raise CalculatorError("Division by zero.") from None
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _UNARY[type(op)](_evaluate(operand))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            return _FUNCTIONS[name](*[_evaluate(arg) for arg in args])
    raise CalculatorError(f"Unsupported expression part: {ast.dump(node)[:60]}")


class CalculatorArgs(BaseModel):
    expression: str = Field(description="An arithmetic expression, e.g. (3 + 4) * 2 or sqrt(2)")


class TimeArgs(BaseModel):
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris")


class HttpArgs(BaseModel):
    url: str = Field(description="An http(s) URL on the public internet")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] | None = Field(default=None, description="Request headers")
    query: dict[str, str] | None = Field(default=None, description="Query parameters")
    body: str | None = Field(default=None, description="A JSON (or text) body for POST, PUT, PATCH")
    timeout_s: float = Field(default=10.0, ge=0.5, le=60.0)

    @field_validator("headers", "query", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        """The tool-call node's arguments are text: a JSON object arrives as a string."""
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object of strings") from None
        return value


class SearchArgs(BaseModel):
    knowledge_base: UUID
    query: str
    k: int = Field(default=4, ge=1, le=20)


def _calculator(ports: Ports) -> BaseTool:
    async def run(expression: str) -> str:
        return str(calculate(expression))

    return StructuredTool.from_function(
        coroutine=run, name="calculator", args_schema=CalculatorArgs, description="Evaluates arithmetic exactly."
    )


def _current_time(ports: Ports) -> BaseTool:
    async def run(timezone: str = "UTC") -> str:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"Unknown time zone {timezone!r}."
        return ports.clock.now().astimezone(zone).isoformat(timespec="seconds")

    return StructuredTool.from_function(
        coroutine=run, name="current_time", args_schema=TimeArgs, description="The current date and time."
    )


def _http_request(ports: Ports) -> BaseTool:
    async def run(
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        body: str | None = None,
        timeout_s: float = 10.0,
    ) -> str:
        request = HttpRequest(method, url, headers or {}, query or {}, json_body=body, timeout=timeout_s)
        return answer_text(await send(ports.http, request))

    return StructuredTool.from_function(
        coroutine=run,
        name="http_request",
        args_schema=HttpArgs,
        description="Fetches a public URL (private networks are refused).",
    )


def _knowledge_search(ports: Ports) -> BaseTool:
    async def run(knowledge_base: UUID, query: str, k: int = 4) -> str:
        documents = await ports.retrievers.retrieve(knowledge_base, query, k=k, mode="hybrid", score_threshold=None)
        return "\n\n".join(f"[{i}] {d.page_content}" for i, d in enumerate(documents, start=1)) or "No results."

    return StructuredTool.from_function(
        coroutine=run, name="knowledge_search", args_schema=SearchArgs, description="Searches a knowledge base."
    )


BUILTIN_TOOLS: dict[str, Callable[[Ports], BaseTool]] = {
    "calculator": _calculator,
    "current_time": _current_time,
    "http_request": _http_request,
    "knowledge_search": _knowledge_search,
}


# Ports.settings: an async (tool name, result text) -> the text to hand on, which every tool
# result passes before a node or an agent sees it (apps.guardrails sets it: a policy's injection
# check on tool results, whichever hook added the tool). Absent: results are handed on as they are.
TOOL_RESULT_CHECK = "tool_result_check"


async def checked_result(ports: Ports, name: str, result: str) -> str:
    check = ports.settings.get(TOOL_RESULT_CHECK)
    return result if check is None else str(await check(name, result))


def tool_names(ports: Ports | None = None) -> list[str]:
    return sorted({*BUILTIN_TOOLS, *(ports.extra_tools if ports else {})})


def resolve_tool(name: str, ports: Ports) -> BaseTool:
    if name in ports.extra_tools:
        return ports.extra_tools[name]
    factory = BUILTIN_TOOLS.get(name)
    if factory is None:
        raise ToolUnavailable(f"There is no tool named {name!r}.")
    return factory(ports)
