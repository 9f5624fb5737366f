"""Template transform: sandboxed Jinja. The invariant: a template reaches no attribute and runs
no code (DESIGN invariant 5), and a heavy one is stopped."""

from __future__ import annotations

from typing import Any

import pytest

from flows.compiler import compile_flow
from flows.events import EventType
from flows.nodes.template_transform import TemplateRefused, render_template
from flows.validate import validate
from tests.flows.graphs import graph
from tests.flows.memory_ports import make_ports


async def _run(template: str, message: str, output: str = "text") -> Any:
    spec = (
        graph()
        .node("in", "chat_input")
        .node("parse", "template_transform", template="{{ message }}", output="json")
        .node("shape", "template_transform", template=template, output=output)
        .node("out", "output", format=output)
        .edge("in", "parse", "message", "message")
        .edge("parse", "shape", "json", "order")
        .edge("shape", "out", output, "value")
        .spec
    )
    events = [e async for e in compile_flow(spec, make_ports()).events({"message": message})]
    return events[-1]


async def test_template_transform_reshapes_json() -> None:
    template = '{"id": {{ order.id }}, "skus": {{ order["lines"]|map(attribute="sku")|list|tojson }}}'
    end = await _run(template, '{"id": 7, "lines": [{"sku": "A"}, {"sku": "B"}]}', output="json")
    assert end.data["outputs"]["output"]["value"] == {"id": 7, "skus": ["A", "B"]}


async def test_template_transform_ports_are_its_variables() -> None:
    from flows.registry import REGISTRY

    node = REGISTRY.get("template_transform", 1)
    assert node is not None
    assert list(node.input_ports(node.parse_config({"template": "{{ a }} {% for x in b %}{{ x }}{% endfor %}"}))) == [
        "a",
        "b",
    ]


@pytest.mark.parametrize(
    "template",
    [
        "{{ order.__class__ }}",
        "{{ order.__class__.__mro__[1].__subclasses__() }}",
        "{{ order.items() }}",
        "{{ order|attr('__class__') }}",
        "{{ ''.__class__ }}",
        "{{ 'x'.format(1) }}",
        "{{ order.get('id') }}",
        "{{ self.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ range.__self__ }}",
        "{% for c in order.__class__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_template_transform_cannot_reach_attributes_or_code(template: str) -> None:
    try:
        rendered = render_template(template, {"order": {"id": 7}})
    except TemplateRefused:
        return
    except Exception as exc:  # any other refusal is fine too, as long as nothing leaked
        assert "class" not in str(exc).lower() or "not" in str(exc).lower()
        return
    assert rendered.strip() == "", rendered  # an unknown name renders as nothing, never as an object


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 99999 }}",
        "{% for i in range(100000000) %}{% endfor %}",
        "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "{% for a in s %}{{ s }}{% endfor %}",
        "{{ (s|replace('x', s))|replace('x', s) }}",
        "{{ ''|center(10**9) }}",
        "{{ s|indent(10**8) }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ range(100000)|join(s) }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
        "{{ [1]|slice(10**9)|list }}",
        "{{ {'a': [1]}|tojson(indent=10**8) }}",
        "{% set a = s ~ s %}" + "{% set a = a ~ a %}" * 12,
        "{% set a = s + s %}" + "{% set a = a + a %}" * 12,
    ],
)
def test_template_transform_stops_heavy_templates(template: str) -> None:
    with pytest.raises(TemplateRefused):
        render_template(template, {"s": "x" * 5000})


async def test_template_transform_refusal_is_a_node_failure() -> None:
    end = await _run("{{ order.__class__ }}", '{"id": 1}')
    assert end.type == EventType.RUN_FAILED and end.data["code"] == "template_refused"


def test_template_transform_rejects_a_template_that_does_not_parse() -> None:
    spec = graph().node("in", "chat_input").node("t", "template_transform", template="{% for %}").spec
    assert "node.invalid_config" in {i.code for i in validate(spec)}
