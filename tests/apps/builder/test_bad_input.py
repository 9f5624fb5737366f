"""Bad input on the builder's routes: 400 with a code and the field, nothing persisted."""

from __future__ import annotations

from typing import Any

import pytest

from apps.builder.models import Flow, FlowVersion
from tests.apps.builder.conftest import create_flow, flows_url
from tests.conftest import Member

WRITES = [
    ("post", ""),
    ("post", "import/"),
    ("patch", "{flow}/"),
    ("put", "{flow}/draft/"),
    ("post", "{flow}/validate/"),
    ("post", "{flow}/versions/"),
    ("post", "{flow}/rollback/"),
    ("post", "{flow}/duplicate/"),
]


def _state() -> tuple[object, ...]:
    return (
        list(Flow.objects.values_list("id", "name", "revision", "draft").order_by("id")),
        FlowVersion.objects.count(),
    )


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_bad_input_malformed_json_is_400_malformed_json(editor: Member, method: str, path: str) -> None:
    flow = create_flow(editor)
    before = _state()
    url = flows_url(editor, path.format(flow=flow["id"]))
    response = getattr(editor.client(), method)(url, data='{"graph": {', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert _state() == before


@pytest.mark.parametrize(
    ("method", "path", "body", "bad_field"),
    [
        ("post", "", {"name": "x", "organization": "other"}, "organization"),
        ("post", "", {"description": "no name"}, "name"),
        ("post", "", {"name": "x", "graph": "nodes"}, "graph"),
        ("patch", "{flow}/", {"name": "x", "revision": 9}, "revision"),
        ("put", "{flow}/draft/", {"graph": {"nodes": [], "edges": []}, "revision": 1, "force": True}, "force"),
        ("put", "{flow}/draft/", {"graph": {"nodes": [], "edges": []}, "revision": "one"}, "revision"),
        ("post", "{flow}/validate/", {"spec": {}}, "spec"),
        ("post", "{flow}/versions/", {"note": "x", "number": 7}, "number"),
        ("post", "{flow}/versions/", {"note": "n" * 501}, "note"),
        ("post", "{flow}/rollback/", {"version": 0}, "version"),
        ("post", "{flow}/duplicate/", {"name": "x", "draft": {}}, "draft"),
    ],
)
def test_bad_input_invalid_or_unknown_fields_are_400_with_fields(
    editor: Member, method: str, path: str, body: dict[str, Any], bad_field: str
) -> None:
    flow = create_flow(editor)
    before = _state()
    url = flows_url(editor, path.format(flow=flow["id"]))
    response = getattr(editor.client(), method)(url, body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["code"] == "invalid"
    assert bad_field in payload["fields"]
    assert payload["message"]
    assert _state() == before


def test_bad_input_json_array_instead_of_object(editor: Member) -> None:
    response = editor.client().post(flows_url(editor), [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Flow.objects.exists()


def test_bad_input_form_encoded_body_is_415(editor: Member) -> None:
    response = editor.client().post(flows_url(editor), data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not Flow.objects.exists()
