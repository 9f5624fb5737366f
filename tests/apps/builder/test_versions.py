"""Publishing, the version history, diff, rollback and restore."""

from __future__ import annotations

import pytest

from apps.builder.models import Flow, FlowVersion, ImmutableVersion
from apps.tenancy.models import AuditEvent
from tests.apps.builder.conftest import create_flow, cyclic_flow, flow_url, publish, save_draft
from tests.conftest import Member
from tests.flows.graphs import chat_flow


def test_publish_of_a_cyclic_draft_is_flow_invalid_with_issues_and_creates_nothing(editor: Member) -> None:
    flow = create_flow(editor)
    save_draft(editor, flow, cyclic_flow())
    response = editor.client().post(flow_url(editor, flow["id"], "versions/"), {"note": "v1"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "flow_invalid"
    assert "cycle" in body["message"]
    assert sorted((i["code"], i["node"]) for i in body["issues"]) == [("graph.cycle", "llm"), ("graph.cycle", "prompt")]
    assert not FlowVersion.objects.exists()
    assert Flow.objects.get(pk=flow["id"]).published_version is None
    assert not AuditEvent.objects.filter(action="flow.publish").exists()


def test_publish_of_a_draft_with_a_dangling_edge_names_the_edge(editor: Member) -> None:
    flow = create_flow(editor)
    spec = chat_flow()
    spec["edges"].append(
        {"id": "ghost", "source": "llm", "source_port": "text", "target": "nowhere", "target_port": "value"}
    )
    save_draft(editor, flow, spec)
    response = editor.client().post(flow_url(editor, flow["id"], "versions/"), {}, format="json")
    assert response.status_code == 400
    assert [(i["code"], i["edge"], i["pointer"]) for i in response.json()["issues"]] == [
        ("edge.unknown_target", "ghost", "/edges/3/target")
    ]
    assert not FlowVersion.objects.exists()


def test_publish_change_publish_diff_rollback_restore(editor: Member) -> None:
    client = editor.client()
    flow = create_flow(editor, graph=chat_flow(template="v1 {{question}}"))
    v1 = publish(editor, flow, note="first")
    assert (v1["number"], v1["note"], v1["published"], v1["created_by"]) == (1, "first", True, editor.user.username)

    changed = chat_flow(template="v2 {{question}}")
    changed["nodes"][2]["config"]["temperature"] = 0.1
    changed["nodes"][3]["label"] = "Answer"
    changed["nodes"][0]["position"] = {"x": -50, "y": 40}
    save_draft(editor, flow, changed)
    v2 = publish(editor, flow, note="warmer prompt")
    assert v2["number"] == 2

    versions = client.get(flow_url(editor, flow["id"], "versions/")).json()
    assert [(v["number"], v["published"]) for v in versions] == [(2, True), (1, False)]
    assert "graph" not in versions[0]

    diff = client.get(flow_url(editor, flow["id"], "diff/"), {"from": 1, "to": 2}).json()
    assert (diff["from"], diff["to"], diff["identical"]) == ("1", "2", False)
    changes = {c["id"]: c for c in diff["nodes"]["changed"]}
    assert sorted(changes) == ["llm", "out", "prompt"]
    assert changes["prompt"]["config_keys"] == ["template"]
    assert changes["llm"]["config_keys"] == ["temperature"]
    assert (changes["out"]["fields"], changes["out"]["after"]) == (["label"], {"label": "Answer"})
    assert diff["nodes"]["moved"] == [{"id": "in", "before": {"x": 0.0, "y": 0.0}, "after": {"x": -50.0, "y": 40.0}}]
    assert diff["nodes"]["added"] == diff["nodes"]["removed"] == []
    assert diff["edges"] == {"added": [], "removed": []}

    response = client.post(flow_url(editor, flow["id"], "rollback/"), {"version": 1}, format="json")
    assert response.status_code == 200
    assert response.json()["published_version"] == 1
    assert Flow.objects.get(pk=flow["id"]).published_version == FlowVersion.objects.get(number=1)
    versions = client.get(flow_url(editor, flow["id"], "versions/")).json()
    assert [(v["number"], v["published"]) for v in versions] == [(2, False), (1, True)]
    rollback = AuditEvent.objects.get(action="flow.rollback")
    assert (rollback.data["from"], rollback.data["to"]) == (2, 1)

    revision = client.get(flow_url(editor, flow["id"])).json()["revision"]
    response = client.post(flow_url(editor, flow["id"], "versions/1/restore/"), format="json")
    assert response.status_code == 200
    restored = response.json()
    assert restored["revision"] == revision + 1
    assert restored["draft"]["nodes"][1]["config"]["template"] == "v1 {{question}}"
    assert restored["published_version"] == 1
    after = client.get(flow_url(editor, flow["id"], "diff/"), {"from": 1, "to": "draft"}).json()
    assert after["identical"] is True
    assert FlowVersion.objects.count() == 2
    assert AuditEvent.objects.filter(action="flow.publish").count() == 2


def test_version_detail_has_the_frozen_graph(editor: Member) -> None:
    flow = create_flow(editor, graph=chat_flow(template="frozen {{question}}"))
    publish(editor, flow)
    save_draft(editor, flow, chat_flow(template="moved on {{question}}"))
    response = editor.client().get(flow_url(editor, flow["id"], "versions/1/"))
    assert response.status_code == 200
    body = response.json()
    assert (body["number"], body["published"]) == (1, True)
    assert body["graph"]["nodes"][1]["config"]["template"] == "frozen {{question}}"


def test_version_rows_cannot_be_updated(editor: Member) -> None:
    flow = create_flow(editor)
    publish(editor, flow)
    version = FlowVersion.objects.get()
    version.graph = {"nodes": [], "edges": []}
    with pytest.raises(ImmutableVersion):
        version.save()
    version.refresh_from_db()
    assert len(version.graph["nodes"]) == 4


@pytest.mark.parametrize("number", [2, 0, 99999999999])
def test_version_that_does_not_exist_is_404_everywhere(editor: Member, number: int) -> None:
    flow = create_flow(editor)
    publish(editor, flow)
    client = editor.client()
    assert client.get(flow_url(editor, flow["id"], f"versions/{number}/")).status_code == 404
    assert client.post(flow_url(editor, flow["id"], f"versions/{number}/restore/")).status_code == 404
    assert client.get(flow_url(editor, flow["id"], "diff/"), {"from": number}).status_code == 404
    rollback = client.post(flow_url(editor, flow["id"], "rollback/"), {"version": max(number, 1) + 1}, format="json")
    assert rollback.status_code == 404
    row = Flow.objects.get(pk=flow["id"])
    assert (row.revision, row.published_version.number if row.published_version else None) == (1, 1)


def test_diff_defaults_to_published_against_draft(editor: Member) -> None:
    flow = create_flow(editor)
    client = editor.client()
    nothing_published = client.get(flow_url(editor, flow["id"], "diff/")).json()
    assert (nothing_published["from"], nothing_published["to"]) == (None, "draft")
    assert [n["id"] for n in nothing_published["nodes"]["added"]] == ["input", "llm", "output", "prompt"]
    assert len(nothing_published["edges"]["added"]) == 3
    publish(editor, flow)
    graph = client.get(flow_url(editor, flow["id"])).json()["draft"]
    graph["nodes"].append({"id": "extra", "type": "memory", "config": {"turns": 3}})
    save_draft(editor, flow, graph)
    diff = client.get(flow_url(editor, flow["id"], "diff/")).json()
    assert (diff["from"], diff["to"]) == ("1", "draft")
    assert diff["nodes"]["added"] == [{"id": "extra", "type": "memory", "version": 1, "label": None}]


@pytest.mark.parametrize("query", [{"from": "latest"}, {"to": "-1"}, {"from": "1.5"}, {"to": "²"}, {"from": "1" * 12}])
def test_diff_with_a_bad_reference_is_400(editor: Member, query: dict[str, str]) -> None:
    flow = create_flow(editor)
    response = editor.client().get(flow_url(editor, flow["id"], "diff/"), query)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(query)


def test_rollback_needs_a_version_number(editor: Member) -> None:
    flow = create_flow(editor)
    response = editor.client().post(flow_url(editor, flow["id"], "rollback/"), {}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["fields"]
