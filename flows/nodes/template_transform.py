"""Template transform: reshapes text and JSON with a Jinja template, in a sandbox.

No user code runs in the server (DESIGN invariant 5), so there is no code node; this is what
takes its place. The template sees its input ports as variables and nothing else: Jinja's
immutable sandbox with every attribute refused (`{{ order.id }}` reads the key `id` of a mapping,
never a Python attribute, so `__class__`, methods and `format` are out of reach), no globals but
a capped `range`, `*`/`**` and the filters that can grow a text (`replace`, `center`, `indent`)
checked before they allocate, no printf-style formatting, and a budget of loop steps, output size
and time. It renders in a worker thread so a heavy template never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import operator
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from jinja2 import TemplateError, meta, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.errors import NodeFailed
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.types import PortType
from flows.values import to_json

MAX_OUTPUT = 1_000_000  # characters
MAX_STEPS = 200_000  # loop iterations over inputs and ranges, all loops together
MAX_SECONDS = 2.0
MAX_REPEAT = 100_000  # "ab" * n and [x] * n
MAX_EXPONENT = 1000
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,40}$"
# `{{secrets.NAME}}` / `{{vars.NAME}}` are the organization's, filled in before the run (flows/secrets.py).
RESERVED = frozenset({"secrets", "vars"})


_REPLACE, _CENTER, _INDENT, _JOIN = FILTERS["replace"], FILTERS["center"], FILTERS["indent"], FILTERS["join"]


class TemplateRefused(NodeFailed):
    code = "template_refused"


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SecurityError(f"the template took more than {MAX_STEPS:,} loop steps")
        if self.steps % 1024 == 0 and time.monotonic() > self.deadline:
            raise SecurityError(f"the template ran longer than {MAX_SECONDS:g} s")


class _CountedList(list[Any]):
    """An input list whose iteration spends the render's budget."""

    budget: _Budget

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self.budget.step()
            yield item


class _CountedDict(dict[str, Any]):
    budget: _Budget

    def __iter__(self) -> Iterator[str]:
        for key in super().__iter__():
            self.budget.step()
            yield key


class _CountedStr(str):
    budget: _Budget

    def __iter__(self) -> Iterator[str]:
        for char in super().__iter__():
            self.budget.step()
            yield char


def _counted(value: Any, budget: _Budget) -> Any:
    """Input values whose iteration spends the budget (nested loops over a long input stop)."""
    counted: Any = value
    if isinstance(value, list):
        counted = _CountedList(_counted(item, budget) for item in value)
    elif isinstance(value, dict):
        counted = _CountedDict({str(key): _counted(item, budget) for key, item in value.items()})
    elif isinstance(value, str):
        counted = _CountedStr(value)
    else:
        return value
    counted.budget = budget
    return counted


def _checked_size(size: int) -> None:
    if size > MAX_OUTPUT:
        raise SecurityError(f"the result would be longer than {MAX_OUTPUT:,} characters")


@pass_eval_context
def _replace(eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text, old, new = str(value), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    _checked_size(len(text) + min(found, count if count is not None else found) * max(len(new) - len(old), 0))
    return _REPLACE(eval_ctx, value, old, new, count)


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = list(value)
    _checked_size(sum(len(str(item)) for item in items) + len(str(d)) * max(len(items) - 1, 0))
    return _JOIN(eval_ctx, items, d, attribute)


def _center(value: Any, width: int = 80) -> str:
    _checked_size(int(width))
    return str(_CENTER(value, width))


def _indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    _checked_size(len(text) + (len(width) if isinstance(width, str) else int(width)) * (text.count("\n") + 1))
    return str(_INDENT(value, width, first, blank))


_PASSED = frozenset({"eval_ctx", "environment", "env", "context"})


def _bounded(name: str, argument: str, limit: int) -> Callable[..., Any]:
    """Jinja's filter `name` refusing an `argument` over `limit` (`batch(10**9, 'x')` would build
    a billion fillers, `tojson(indent=10**8)` a billion spaces per line)."""
    original = FILTERS[name]
    signature = inspect.signature(original)
    # Jinja passes its eval context or environment first to some filters; the signature may not
    # name it (an async variant wraps the plain function).
    skip = int(hasattr(original, "jinja_pass_arg") and next(iter(signature.parameters)) not in _PASSED)

    def bounded(*args: Any, **kwargs: Any) -> Any:
        value = signature.bind(*args[skip:], **kwargs).arguments.get(argument)
        if isinstance(value, int) and abs(value) > limit:
            raise SecurityError(f"{name}: {argument} above {limit:,}")
        return original(*args, **kwargs)

    if hasattr(original, "jinja_pass_arg"):
        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


class _Generator(CodeGenerator):
    """`a ~ b` through the environment's size check (doubling a text in a few `set`s would
    otherwise reach gigabytes before the output's limit is ever looked at)."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802  (Jinja's visitor name)
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _Generator

    @staticmethod
    def checked_concat(parts: tuple[Any, ...]) -> str:
        texts = [str(part) for part in parts]
        _checked_size(sum(len(text) for text in texts))
        return "".join(texts)

    def __init__(self, budget: _Budget | None = None) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=True)
        self.budget = budget or _Budget()
        self.globals.clear()
        self.globals["range"] = self._range
        # The filters that can make a result far larger than their input are checked first;
        # printf-style formatting (a width like %999999999s) is not offered.
        self.filters.update(replace=_replace, center=_center, indent=_indent, join=_join)
        self.filters.update(
            batch=_bounded("batch", "linecount", 10_000),
            slice=_bounded("slice", "slices", 10_000),
            tojson=_bounded("tojson", "indent", 16),
        )
        self.filters.pop("format", None)

    def _range(self, *args: int) -> Iterator[int]:
        for number in range(*args):
            self.budget.step()
            yield number

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False  # keys of mappings still read as `a.b`; Python attributes never

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"attributes are not available in templates ({attribute!r})")

    def is_safe_callable(self, obj: Any) -> bool:
        return isinstance(obj, Macro) or obj == self._range

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _checked_size(len(left) + len(right))
            return operator.add(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                raise SecurityError("printf-style formatting is not available: use filters")
            return operator.mod(left, right)
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError("the exponent is too large")
            return operator.pow(left, right)
        for sequence, count in ((left, right), (right, left)):
            if (
                isinstance(sequence, str | list | tuple)
                and isinstance(count, int)
                and count * len(sequence) > MAX_REPEAT
            ):
                raise SecurityError("the repetition is too large")
        return operator.mul(left, right)


def template_variables(source: str) -> list[str]:
    """The names the template reads from outside, in order of first use; [] when it does not parse."""
    try:
        tree = _Sandbox().parse(source)
    except TemplateError:
        return []
    undeclared = meta.find_undeclared_variables(tree)
    ordered = [n.name for n in tree.find_all(nodes.Name) if n.name in undeclared]
    return list(dict.fromkeys(ordered))


def render_template(source: str, values: dict[str, Any]) -> str:
    """Renders in the sandbox; TemplateRefused says why it would not."""
    environment = _Sandbox()
    try:
        template = environment.from_string(source)
        pieces: list[str] = []
        size = 0
        for piece in template.generate(**{k: _counted(to_json(v), environment.budget) for k, v in values.items()}):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise SecurityError(f"the output is longer than {MAX_OUTPUT:,} characters")
            environment.budget.step()
            pieces.append(piece)
    except SecurityError as exc:
        raise TemplateRefused(f"The template was stopped: {exc}.") from None
    except TemplateError as exc:
        raise NodeFailed(f"The template failed: {exc}.", code="template_error") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise NodeFailed(f"The template failed: {exc}.", code="template_error") from None
    return "".join(pieces)


class TemplateTransformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(
        min_length=1,
        max_length=50_000,
        json_schema_extra={"format": "jinja"},
        description="Jinja: {{ order.id }}, {% for x in items %}…{% endfor %}, filters such as | upper, | tojson",
    )
    output: Literal["text", "json"] = Field(default="text", description="json: the rendered text must be JSON")

    @field_validator("template")
    @classmethod
    def _parses(cls, source: str) -> str:
        try:
            _Sandbox().parse(source)
        except TemplateError as exc:
            raise ValueError(f"The template does not parse: {exc}") from None
        return source


@register
class TemplateTransformNode(NodeType[TemplateTransformConfig]):
    type, version = "template_transform", 1
    title = "Template transform"
    description = "Reshapes text or JSON with a sandboxed Jinja template (no code runs)."
    category, icon = "logic", "braces"
    config_model = TemplateTransformConfig
    outputs = {
        "text": Port(PortType.TEXT, description="The rendered text"),
        "json": Port(PortType.JSON, description="The rendered text parsed as JSON (output: json)"),
    }

    def input_ports(self, config: TemplateTransformConfig) -> dict[str, Port]:
        return {
            name: Port(PortType.ANY, description=f"The variable {name}")
            for name in template_variables(config.template)
            if _is_port_name(name) and name not in RESERVED
        }

    def output_ports(self, config: TemplateTransformConfig) -> dict[str, Port]:
        if config.output == "json":
            return self.outputs
        return {"text": self.outputs["text"]}

    async def run(
        self, config: TemplateTransformConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        text = await asyncio.to_thread(render_template, config.template, inputs)
        if config.output == "text":
            return {"text": text}
        try:
            return {"text": text, "json": json.loads(text)}
        except ValueError as exc:
            raise NodeFailed(f"The template's output is not JSON: {exc}.", code="template_not_json") from None


def _is_port_name(name: str) -> bool:
    return re.fullmatch(NAME, name) is not None
