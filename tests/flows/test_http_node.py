"""The HTTP request node, `{{secrets.*}}` / `{{vars.*}}` references and the redactor, in the pure
engine with an in-memory HTTP client that records what it was asked and answers as scripted."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest

from flows.compiler import compile_flow
from flows.errors import EgressRefused
from flows.events import Event, EventType
from flows.secrets import MissingReference, Redactor, fill, references
from flows.templating import variables
from tests.flows.graphs import graph
from tests.flows.memory_ports import make_ports


class ScriptedHttp:
    def __init__(self, status: int = 200, body: Any = None, delay: float = 0.0, refuse: bool = False) -> None:
        self.status, self.body, self.delay, self.refuse = status, body, delay, refuse
        self.sent: list[dict[str, Any]] = []

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None
    ) -> tuple[int, str]:
        self.sent.append({"method": method, "url": url, "headers": dict(headers or {}), "body": body})
        if self.refuse:
            raise EgressRefused("Refused: 10.0.0.1 is a private address.")
        await asyncio.sleep(self.delay)
        return self.status, self.body if isinstance(self.body, str) else json.dumps(self.body)


def http_flow(**config: Any) -> dict[str, Any]:
    return (
        graph()
        .node("in", "chat_input")
        .node("call", "http_request", **config)
        .node("out", "output", format="json")
        .edge("in", "call", "message", "q")
        .edge("call", "out", "fields", "value")
        .spec
    )


async def run(spec: dict[str, Any], message: str, http: ScriptedHttp) -> list[Event]:
    ports = make_ports()
    ports.http = http
    return [event async for event in compile_flow(spec, ports).events({"message": message})]


async def test_http_node_renders_url_query_body_and_auth_and_maps_the_answer() -> None:
    http = ScriptedHttp(body={"data": {"items": [{"title": "First"}]}, "total": 1})
    spec = http_flow(
        method="POST",
        url="https://api.example.com/search/{{q}}",
        headers={"Accept": "application/json"},
        query={"lang": "en", "q": "{{q}}"},
        body='{"text": "{{q}}"}',
        auth={"type": "bearer", "token": "tok-123"},
        response_mapping={"title": "data.items.0.title", "total": "total", "missing": "data.nope"},
    )
    events = await run(spec, 'a/b "quoted"', http)
    assert events[-1].type == EventType.RUN_FINISHED, events[-1].data
    assert events[-1].data["outputs"]["output"]["value"] == {"title": "First", "total": 1, "missing": None}
    sent = http.sent[0]
    assert sent["url"] == "https://api.example.com/search/a%2Fb%20%22quoted%22?lang=en&q=a%2Fb+%22quoted%22"
    assert json.loads(sent["body"]) == {"text": 'a/b "quoted"'}  # JSON-escaped, not broken
    assert sent["headers"]["Authorization"] == "Bearer tok-123"
    assert sent["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        ({"type": "api_key", "header": "X-Key", "token": "k1"}, "X-Key", "k1"),
        (
            {"type": "basic", "username": "ada", "password": "pw"},
            "Authorization",
            "Basic " + base64.b64encode(b"ada:pw").decode(),
        ),
    ],
)
async def test_http_node_auth_kinds(auth: dict[str, str], header: str, value: str) -> None:
    http = ScriptedHttp(body={})
    await run(http_flow(url="https://api.example.com/{{q}}", auth=auth), "x", http)
    assert http.sent[0]["headers"][header] == value
    assert http.sent[0]["body"] is None  # a GET sends no body


async def test_http_node_fails_on_an_error_status_without_its_body() -> None:
    events = await run(http_flow(url="https://api.example.com/{{q}}"), "x", ScriptedHttp(404, "secret internals"))
    failed = events[-1]
    assert failed.type == EventType.RUN_FAILED and failed.data["code"] == "http_status"
    assert "404" in failed.data["message"] and "internals" not in failed.data["message"]


async def test_http_node_times_out_and_egress_refusals_fail_the_run() -> None:
    slow = await run(http_flow(url="https://api.example.com/{{q}}", timeout_s=0.5), "x", ScriptedHttp(delay=5))
    assert slow[-1].data["code"] == "http_timeout"
    refused = await run(http_flow(url="http://10.0.0.1/{{q}}"), "x", ScriptedHttp(refuse=True))
    assert refused[-1].data["code"] == "egress_refused"


async def test_http_node_refuses_a_body_that_is_not_json_once_filled() -> None:
    events = await run(
        http_flow(method="POST", url="https://a.example/{{q}}", body="{not json {{q}}"), "x", ScriptedHttp()
    )
    assert events[-1].data["code"] == "http_body_invalid"


def test_secrets_and_vars_are_never_input_ports() -> None:
    assert variables("Bearer {{secrets.TOKEN}} for {{vars.REGION}} and {{question}}") == ["question"]
    assert variables("{{secrets}}") == ["secrets"]  # a bare name is still an input


def test_fill_replaces_references_and_names_the_node_of_a_missing_one() -> None:
    spec = http_flow(url="https://{{vars.HOST}}/x/{{q}}", auth={"type": "bearer", "token": "{{secrets.TOKEN}}"})
    refs = references(spec)
    assert (refs.secrets, refs.variables) == (frozenset({"TOKEN"}), frozenset({"HOST"}))
    filled = fill(spec, secrets={"TOKEN": "s3cret"}, variables={"HOST": "api.example.com"})
    config = next(n for n in filled["nodes"] if n["id"] == "call")["config"]
    assert config["url"] == "https://api.example.com/x/{{q}}" and config["auth"]["token"] == "s3cret"
    assert "{{secrets.TOKEN}}" in json.dumps(spec)  # the stored graph is untouched
    with pytest.raises(MissingReference) as missing:
        fill(spec, secrets={}, variables={"HOST": "h"})
    assert missing.value.code == "secret_not_found" and "'call'" in str(missing.value)


def test_redactor_replaces_values_and_their_encodings_but_not_short_ones() -> None:
    redactor = Redactor(["sk-live-1234", 'quo"te-value', "ab"])
    data = {
        "text": "key sk-live-1234 used",
        "nested": [{"echo": json.dumps({"k": 'quo"te-value'})}],
        "b64": base64.b64encode(b"sk-live-1234").decode(),
        "short": "ab stays",
        "number": 5,
    }
    cleaned = redactor.data(data)
    assert cleaned["text"] == "key [secret] used"
    assert "quo" not in cleaned["nested"][0]["echo"] and "[secret]" in cleaned["nested"][0]["echo"]
    assert cleaned["b64"] == "[secret]" and cleaned["short"] == "ab stays" and cleaned["number"] == 5
    assert not Redactor(["ab"])  # nothing long enough to redact: no redactor at all
