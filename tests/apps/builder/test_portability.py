"""Export leaves secrets out; import reads an export back into a new flow."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.builder.graphs import is_secret_key
from apps.builder.models import Flow
from apps.tenancy.models import AuditEvent
from tests.apps.builder.conftest import create_flow, flow_url, flows_url
from tests.conftest import Member
from tests.flows.graphs import chat_flow

SECRET = "sk-live-0123456789abcdef"


def _graph_with_secrets() -> dict[str, Any]:
    graph = chat_flow()
    graph["nodes"][2]["config"].update(
        {
            "api_key": SECRET,
            "max_tokens": 256,
            "client": {"Authorization": f"Bearer {SECRET}", "timeout": 5, "nested": [{"clientSecret": SECRET}]},
        }
    )
    return graph


def test_export_leaves_out_every_secret_and_keeps_the_rest(editor: Member) -> None:
    flow = create_flow(editor, "Exported", description="with secrets", graph=_graph_with_secrets())
    response = editor.client().get(flow_url(editor, flow["id"], "export/"))
    assert response.status_code == 200
    export = response.json()
    assert SECRET not in json.dumps(export)
    assert (export["format"], export["format_version"]) == ("trellis.flow", 1)
    assert (export["name"], export["description"]) == ("Exported", "with secrets")
    config = export["graph"]["nodes"][2]["config"]
    assert config == {"model": "echo", "max_tokens": 256, "client": {"timeout": 5, "nested": [{}]}}
    assert Flow.objects.get(pk=flow["id"]).draft["nodes"][2]["config"]["api_key"] == SECRET


def test_import_round_trips_an_export(editor: Member) -> None:
    original = create_flow(editor, "Round trip", description="d", graph=chat_flow(template="Hi {{question}}"))
    export = editor.client().get(flow_url(editor, original["id"], "export/")).json()
    response = editor.client().post(flows_url(editor, "import/"), export, format="json")
    assert response.status_code == 201
    imported = response.json()
    assert imported["id"] != original["id"]
    assert (imported["name"], imported["description"], imported["revision"]) == ("Round trip", "d", 1)
    assert imported["draft"] == original["draft"]
    assert imported["issues"] == []
    assert Flow.objects.get(pk=imported["id"]).organization == editor.organization
    assert AuditEvent.objects.get(action="flow.import").target_id == imported["id"]
    again = editor.client().get(flow_url(editor, imported["id"], "export/")).json()
    assert again == export


def _export(**changes: Any) -> dict[str, Any]:
    body = {"format": "trellis.flow", "format_version": 1, "name": "X", "description": "", "graph": chat_flow()}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


@pytest.mark.parametrize(
    "payload",
    [
        _export(format="langflow"),
        _export(format=...),
        _export(format_version=2),
        _export(format_version=True),
        _export(name=""),
        _export(name=...),
        _export(name="n" * 121),
        _export(description=7),
        _export(graph=[]),
        _export(graph=...),
        _export(owner="someone else"),
        [1, 2],
    ],
)
def test_import_of_something_that_is_not_an_export_is_invalid_import(editor: Member, payload: Any) -> None:
    response = editor.client().post(flows_url(editor, "import/"), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_import"
    assert not Flow.objects.exists()


def test_import_of_a_malformed_graph_is_invalid_graph(editor: Member) -> None:
    payload = _export(graph={"nodes": [{"id": "a"}], "edges": []})
    response = editor.client().post(flows_url(editor, "import/"), payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_graph"
    assert body["issues"][0]["pointer"] == "/nodes/0/type"
    assert not Flow.objects.exists()


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("APIKey", True),
        ("X-Api-Key", True),
        ("openai_api_key", True),
        ("apikey", True),
        ("client_secret", True),
        ("Password", True),
        ("access_token", True),
        ("Authorization", True),
        ("private_key", True),
        ("max_tokens", False),
        ("model", False),
        ("template", False),
        ("keyword", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret
