"""Draft saves: optimistic concurrency by revision, shape checked, semantic issues returned."""

from __future__ import annotations

from typing import Any

from apps.builder.graphs import MAX_GRAPH_BYTES
from apps.builder.models import Flow
from tests.apps.builder.conftest import create_flow, cyclic_flow, flow_url, save_draft
from tests.conftest import Member
from tests.flows.graphs import chat_flow


def _put(member: Member, flow_id: str, graph: Any, revision: int) -> Any:
    return member.client().put(
        flow_url(member, flow_id, "draft/"), {"graph": graph, "revision": revision}, format="json"
    )


def test_draft_save_bumps_the_revision_and_returns_no_issues_for_a_valid_graph(editor: Member) -> None:
    flow = create_flow(editor)
    response = _put(editor, flow["id"], chat_flow(template="Hi {{question}}"), 1)
    assert response.status_code == 200
    assert response.json() == {"revision": 2, "issues": []}
    row = Flow.objects.get(pk=flow["id"])
    assert (row.revision, row.draft["nodes"][1]["config"]["template"]) == (2, "Hi {{question}}")
    assert row.updated_by == editor.user


def test_draft_save_with_a_stale_revision_is_409_and_changes_nothing(editor: Member, org_a: Member) -> None:
    flow = create_flow(editor)
    assert _put(org_a, flow["id"], chat_flow(template="theirs {{question}}"), 1).status_code == 200
    response = _put(editor, flow["id"], chat_flow(template="mine {{question}}"), 1)
    assert response.status_code == 409
    assert response.json()["code"] == "stale_draft"
    row = Flow.objects.get(pk=flow["id"])
    assert (row.revision, row.draft["nodes"][1]["config"]["template"]) == (2, "theirs {{question}}")


def test_draft_save_accepts_work_in_progress_and_reports_its_issues(editor: Member) -> None:
    flow = create_flow(editor)
    response = _put(editor, flow["id"], cyclic_flow(), 1)
    assert response.status_code == 200
    body = response.json()
    assert body["revision"] == 2
    assert {(i["code"], i["node"]) for i in body["issues"]} == {("graph.cycle", "llm"), ("graph.cycle", "prompt")}
    assert len(Flow.objects.get(pk=flow["id"]).draft["edges"]) == 4


def test_draft_save_of_a_malformed_graph_is_invalid_graph_and_changes_nothing(editor: Member) -> None:
    flow = create_flow(editor)
    graph = {"nodes": [{"id": "a", "type": "llm", "colour": "red"}], "edges": "none"}
    response = _put(editor, flow["id"], graph, 1)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_graph"
    assert {i["pointer"] for i in body["issues"]} == {"/nodes/0/colour", "/edges"}
    row = Flow.objects.get(pk=flow["id"])
    assert (row.revision, row.draft) == (1, flow["draft"])


def test_draft_save_of_a_graph_that_is_not_an_object_is_400(editor: Member) -> None:
    flow = create_flow(editor)
    response = _put(editor, flow["id"], [1, 2, 3], 1)
    assert response.status_code == 400
    assert "graph" in response.json()["fields"]
    assert Flow.objects.get(pk=flow["id"]).revision == 1


def test_draft_save_of_an_oversized_graph_is_refused(editor: Member) -> None:
    flow = create_flow(editor)
    graph = chat_flow(template="x" * 40_000)
    graph["nodes"][1]["config"]["system"] = "y" * (MAX_GRAPH_BYTES // 2)
    graph["nodes"][2]["config"]["system_prompt"] = "z" * (MAX_GRAPH_BYTES // 2)
    response = _put(editor, flow["id"], graph, 1)
    assert (response.status_code, response.json()["code"]) == (400, "graph_too_large")
    assert Flow.objects.get(pk=flow["id"]).revision == 1


def test_draft_save_needs_the_revision(editor: Member) -> None:
    flow = create_flow(editor)
    response = editor.client().put(flow_url(editor, flow["id"], "draft/"), {"graph": chat_flow()}, format="json")
    assert response.status_code == 400
    assert "revision" in response.json()["fields"]


def test_validate_checks_an_unsaved_graph_without_saving_it(editor: Member) -> None:
    flow = create_flow(editor)
    spec = chat_flow()
    spec["edges"].append(
        {"id": "ghost", "source": "llm", "source_port": "text", "target": "nowhere", "target_port": "value"}
    )
    response = editor.client().post(flow_url(editor, flow["id"], "validate/"), {"graph": spec}, format="json")
    assert response.status_code == 200
    assert [(i["code"], i["edge"], i["pointer"]) for i in response.json()["issues"]] == [
        ("edge.unknown_target", "ghost", "/edges/3/target")
    ]
    assert Flow.objects.get(pk=flow["id"]).revision == 1


def test_validate_without_a_graph_checks_the_saved_draft_and_viewers_may_ask(editor: Member, viewer: Member) -> None:
    flow = create_flow(editor)
    client = viewer.client()
    assert client.post(flow_url(viewer, flow["id"], "validate/"), {}, format="json").json() == {"issues": []}
    save_draft(editor, flow, cyclic_flow())
    issues = client.post(flow_url(viewer, flow["id"], "validate/"), {}, format="json").json()["issues"]
    assert {i["code"] for i in issues} == {"graph.cycle"}
