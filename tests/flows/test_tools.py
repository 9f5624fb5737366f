from __future__ import annotations

import pytest

from flows.tools import CalculatorError, calculate, resolve_tool
from tests.flows.memory_ports import make_ports


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1+2*3", 7),
        ("(1+2)*3", 9),
        ("2^10", 1024),
        ("sqrt(16)", 4.0),
        ("-3 + abs(-2)", -1),
        ("7 // 2", 3),
        ("round(pi, 2)", 3.14),
    ],
)
def test_calculator_arithmetic(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "().__class__",
        "open('/etc/passwd')",
        "lambda: 1",
        "9**99999",
        "1/0",
        "x" * 600,
        "[1,2]",
        "'a'*3",
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(CalculatorError):
        calculate(expression)


async def test_tools_current_time_uses_clock_port() -> None:
    tool = resolve_tool("current_time", make_ports())
    assert await tool.ainvoke({"timezone": "Europe/Paris"}) == "2026-01-02T04:04:05+01:00"


async def test_tools_http_request_goes_through_http_port() -> None:
    ports = make_ports()
    tool = resolve_tool("http_request", ports)
    assert (await tool.ainvoke({"url": "https://example.org/x"})).startswith("HTTP 200")
    assert ports.http.calls == [("GET", "https://example.org/x")]  # type: ignore[attr-defined]


def test_tools_unknown_tool_is_tool_unavailable() -> None:
    from flows.errors import ToolUnavailable

    with pytest.raises(ToolUnavailable):
        resolve_tool("rm -rf", make_ports())
