from __future__ import annotations

import json
from typing import Any, Literal

import regex
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.errors import NodeFailed
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.templating import lookup
from flows.types import PortType
from flows.values import to_text

REGEX_TIMEOUT_S = 0.1  # a pathological pattern fails the route, never stalls the server
MAX_MATCH_INPUT = 100_000
DEFAULT_ROUTE = "default"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")
    label: str = Field(min_length=1, max_length=80)
    kind: Literal["contains", "equals", "regex", "json_field", "classifier"] = "contains"
    value: str = Field(default="", max_length=2000)
    field: str = Field(default="", max_length=200, description="json_field: dotted path, e.g. order.status")
    case_sensitive: bool = False
    description: str = Field(default="", max_length=500, description="classifier: when to pick this route")

    @model_validator(mode="after")
    def _check(self) -> Route:
        if self.kind == "regex":
            try:
                regex.compile(self.value)
            except regex.error as exc:
                raise ValueError(f"Invalid regular expression: {exc}") from None
        if self.kind == "json_field" and not self.field:
            raise ValueError("A json_field route needs a field path.")
        if self.id == DEFAULT_ROUTE:
            raise ValueError("'default' is reserved for the fallback route.")
        return self


class BranchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route] = Field(min_length=1, max_length=20)
    default_route: bool = Field(default=True, description="Take 'default' when no route matches")
    classifier_model: str | None = Field(default=None, json_schema_extra={"format": "model-alias"})

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: list[Route]) -> list[Route]:
        ids = [r.id for r in routes]
        if len(ids) != len(set(ids)):
            raise ValueError("Route ids must be unique.")
        return routes

    @model_validator(mode="after")
    def _classifier(self) -> BranchConfig:
        if any(r.kind == "classifier" for r in self.routes) and not self.classifier_model:
            raise ValueError("Classifier routes need classifier_model.")
        return self


def _matches(route: Route, value: Any) -> bool:
    text = to_text(value)[:MAX_MATCH_INPUT]
    if route.kind == "json_field":
        try:
            data = json.loads(text) if isinstance(value, str) else value
        except json.JSONDecodeError:
            return False
        found = lookup(data if isinstance(data, dict) else {}, route.field)
        return bool(found) if not route.value else to_text(found) == route.value
    needle, haystack = (route.value, text) if route.case_sensitive else (route.value.lower(), text.lower())
    if route.kind == "contains":
        return needle in haystack
    if route.kind == "equals":
        return haystack.strip() == needle.strip()
    if route.kind == "regex":
        flags = 0 if route.case_sensitive else regex.IGNORECASE
        try:
            return regex.search(route.value, text, flags=flags, timeout=REGEX_TIMEOUT_S) is not None
        except TimeoutError:
            return False
    return False


@register
class BranchNode(NodeType[BranchConfig]):
    type, version = "branch", 1
    title = "Branch"
    description = "Routes the input down exactly one path: by a condition, or by an LLM classifier."
    category, icon = "logic", "git-branch"
    config_model = BranchConfig
    inputs = {"input": Port(PortType.ANY, description="The value to route")}

    def output_ports(self, config: BranchConfig) -> dict[str, Port]:
        ports = {route.id: Port(PortType.ANY, description=route.label) for route in config.routes}
        if config.default_route:
            ports[DEFAULT_ROUTE] = Port(PortType.ANY, description="When no route matches")
        return ports

    async def run(self, config: BranchConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext) -> dict[str, Any]:
        value = inputs["input"]
        chosen = next((r.id for r in config.routes if r.kind != "classifier" and _matches(r, value)), None)
        classifier_routes = [r for r in config.routes if r.kind == "classifier"]
        if chosen is None and classifier_routes and config.classifier_model:
            chosen = await self._classify(config.classifier_model, classifier_routes, to_text(value), ports, ctx)
        if chosen is None:
            if not config.default_route:
                raise NodeFailed("No route matched and there is no default route.", code="branch_no_match")
            chosen = DEFAULT_ROUTE
        # Only the chosen port carries a value: the executor skips what hangs off the others.
        return {chosen: value}

    @staticmethod
    async def _classify(alias: str, routes: list[Route], text: str, ports: Ports, ctx: NodeContext) -> str | None:
        model = ports.models.chat_model(alias, temperature=0, max_tokens=16)
        options = "\n".join(f"- {r.label}: {r.description}" if r.description else f"- {r.label}" for r in routes)
        reply = await model.ainvoke(
            [
                SystemMessage(
                    content=f"Classify the user's input into one category. Answer with the category "
                    f"name only.\nCategories:\n{options}"
                ),
                HumanMessage(content=text[:8000]),
            ]
        )
        usage: dict[str, Any] = dict(reply.usage_metadata or {})
        ctx.usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), alias)
        answer = str(reply.content).strip().lower()
        for route in routes:
            if route.label.lower() in answer or route.id in answer:
                return route.id
        return None
