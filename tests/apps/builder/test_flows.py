"""Flow CRUD through the API: create (starter graph), list and search, read, rename, delete, duplicate."""

from __future__ import annotations

from apps.builder.models import Flow, FlowVersion
from apps.tenancy.models import AuditEvent
from tests.apps.builder.conftest import create_flow, flow_url, flows_url, publish, save_draft
from tests.conftest import Member
from tests.flows.graphs import chat_flow


def test_flow_create_starts_from_a_valid_starter_graph(editor: Member) -> None:
    flow = create_flow(editor, "Support bot", description="Answers customers")
    assert (flow["name"], flow["description"], flow["revision"]) == ("Support bot", "Answers customers", 1)
    assert flow["published_version"] is None
    assert flow["created_by"] == flow["updated_by"] == editor.user.username
    nodes = flow["draft"]["nodes"]
    assert [n["type"] for n in nodes] == ["chat_input", "prompt", "llm", "output"]
    assert [n["position"]["x"] for n in nodes] == sorted({n["position"]["x"] for n in nodes})
    assert nodes[1]["config"] == {"template": "{{question}}"}
    assert nodes[2]["config"] == {"model": "local"}
    assert len(flow["draft"]["edges"]) == 3
    assert flow["issues"] == []
    row = Flow.objects.get(pk=flow["id"])
    assert row.organization == editor.organization


def test_flow_create_with_a_graph_stores_it_with_defaults_filled_in(editor: Member) -> None:
    graph = chat_flow()
    del graph["nodes"][0]["version"]
    flow = create_flow(editor, graph=graph)
    assert [n["id"] for n in flow["draft"]["nodes"]] == ["in", "prompt", "llm", "out"]
    assert flow["draft"]["nodes"][0]["version"] == 1
    assert flow["draft"]["nodes"][0]["label"] is None
    assert flow["issues"] == []


def test_flow_create_with_a_malformed_graph_is_invalid_graph_and_creates_nothing(editor: Member) -> None:
    graph = {"nodes": [{"id": "bad id!", "type": "llm"}], "edges": []}
    response = editor.client().post(flows_url(editor), {"name": "x", "graph": graph}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_graph"
    assert [(i["code"], i["pointer"]) for i in body["issues"]] == [("spec.invalid", "/nodes/0/id")]
    assert not Flow.objects.exists()


def test_flow_list_is_newest_updated_first(editor: Member) -> None:
    first, second = create_flow(editor, "First"), create_flow(editor, "Second")
    client = editor.client()
    assert [f["name"] for f in client.get(flows_url(editor)).json()["results"]] == ["Second", "First"]
    save_draft(editor, first, chat_flow())
    page = client.get(flows_url(editor)).json()
    assert page["count"] == 2
    assert [f["id"] for f in page["results"]] == [first["id"], second["id"]]
    assert "draft" not in page["results"][0]


def test_flow_list_searches_names_and_descriptions(editor: Member) -> None:
    create_flow(editor, "Support bot")
    create_flow(editor, "Sales", description="Qualifies LEADS from the website")
    create_flow(editor, "Internal wiki")
    client = editor.client()
    assert [f["name"] for f in client.get(flows_url(editor), {"q": "support"}).json()["results"]] == ["Support bot"]
    assert [f["name"] for f in client.get(flows_url(editor), {"q": "leads"}).json()["results"]] == ["Sales"]
    assert client.get(flows_url(editor), {"q": "nothing like it"}).json()["count"] == 0


def test_flow_list_paginates(editor: Member) -> None:
    for i in range(3):
        create_flow(editor, f"Flow {i}")
    page = editor.client().get(flows_url(editor), {"limit": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert page["next"] is not None


def test_flow_detail_has_draft_revision_published_number_and_issues(editor: Member) -> None:
    flow = create_flow(editor)
    publish(editor, flow)
    broken = chat_flow()
    broken["nodes"][2]["config"] = {}
    save_draft(editor, flow, broken)
    detail = editor.client().get(flow_url(editor, flow["id"])).json()
    assert detail["revision"] == 2
    assert detail["published_version"] == 1
    assert detail["draft"]["nodes"][2]["config"] == {}
    first = detail["issues"][0]
    assert (first["code"], first["node"], first["pointer"]) == ("node.missing_config", "llm", "/nodes/2/config/model")


def test_flow_update_renames_without_touching_the_draft(editor: Member) -> None:
    flow = create_flow(editor, "Old", description="old text")
    response = editor.client().patch(flow_url(editor, flow["id"]), {"name": "  New  "}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["revision"]) == ("New", "old text", 1)
    assert body["draft"] == flow["draft"]
    response = editor.client().patch(flow_url(editor, flow["id"]), {"description": ""}, format="json")
    assert Flow.objects.get(pk=flow["id"]).description == ""


def test_flow_update_refuses_a_blank_name(editor: Member) -> None:
    flow = create_flow(editor, "Keep")
    response = editor.client().patch(flow_url(editor, flow["id"]), {"name": "   "}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["fields"]
    assert Flow.objects.get(pk=flow["id"]).name == "Keep"


def test_flow_delete_removes_the_flow_and_its_versions_and_is_audited(editor: Member) -> None:
    flow = create_flow(editor, "Doomed")
    publish(editor, flow)
    keep = create_flow(editor, "Keep")
    response = editor.client().delete(flow_url(editor, flow["id"]))
    assert response.status_code == 204
    assert list(Flow.objects.values_list("name", flat=True)) == ["Keep"]
    assert not FlowVersion.objects.exists()
    event = AuditEvent.objects.get(action="flow.delete")
    assert (event.target_id, event.data["name"], event.actor_user) == (flow["id"], "Doomed", editor.user)
    assert editor.client().get(flow_url(editor, flow["id"])).status_code == 404
    assert editor.client().get(flow_url(editor, keep["id"])).status_code == 200


def test_flow_duplicate_copies_the_draft_but_not_the_versions(editor: Member) -> None:
    flow = create_flow(editor, "Original", description="d")
    save_draft(editor, flow, chat_flow(template="Q: {{question}}"))
    publish(editor, flow)
    response = editor.client().post(flow_url(editor, flow["id"], "duplicate/"), {}, format="json")
    assert response.status_code == 201
    copy = response.json()
    assert copy["id"] != flow["id"]
    assert (copy["name"], copy["description"], copy["revision"]) == ("Original (copy)", "d", 1)
    assert copy["published_version"] is None
    assert copy["draft"] == editor.client().get(flow_url(editor, flow["id"])).json()["draft"]
    assert FlowVersion.objects.filter(flow_id=copy["id"]).count() == 0
    named = editor.client().post(flow_url(editor, flow["id"], "duplicate/"), {"name": "Experiment"}, format="json")
    assert named.json()["name"] == "Experiment"


def test_flow_unknown_or_malformed_id_is_404(editor: Member) -> None:
    client = editor.client()
    assert client.get(flow_url(editor, "not-a-uuid")).status_code == 404
    response = client.get(flow_url(editor, "6f1c1f43-7b55-4d8a-9d3c-2f2b8f1e0a11"))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_node_types_lists_the_catalog_and_the_tools(viewer: Member) -> None:
    response = viewer.client().get("/api/v1/node-types/")
    assert response.status_code == 200
    body = response.json()
    types = {entry["type"]: entry for entry in body["node_types"]}
    assert {"chat_input", "prompt", "llm", "retrieve", "branch", "tool", "memory", "merge", "output"} <= set(types)
    assert types["llm"]["config_schema"]["required"] == ["model"]
    assert (types["llm"]["inputs"]["prompt"]["type"], types["llm"]["inputs"]["prompt"]["required"]) == (
        "messages",
        True,
    )
    assert types["prompt"]["dynamic_inputs"] is True
    assert "calculator" in body["tools"]
    assert "documents" in body["port_compatibility"]["documents"]
    assert "documents" not in body["port_compatibility"]["text"]


def test_flow_list_query_count_does_not_grow_with_the_number_of_flows(editor: Member) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert editor.client().get(flows_url(editor)).status_code == 200
        return len(captured)

    publish(editor, create_flow(editor, "First"))
    few = queries()
    for i in range(10):
        publish(editor, create_flow(editor, f"Flow {i}"))
    assert queries() == few


def test_node_ports_follow_the_config_of_each_node(viewer: Member) -> None:
    nodes = [
        {"id": "p", "type": "prompt", "config": {"template": "{{question}} from {{name}}"}},
        {"id": "b", "type": "branch", "config": {"routes": [{"id": "yes", "label": "Yes", "value": "y"}]}},
        {"id": "bad", "type": "prompt", "config": {}},
        {"id": "ghost", "type": "no_such_type", "config": {}},
    ]
    response = viewer.client().post("/api/v1/node-types/ports/", {"nodes": nodes}, format="json")
    assert response.status_code == 200, response.json()
    ports = response.json()["ports"]
    assert list(ports["p"]["inputs"]) == ["question", "name"]
    assert list(ports["b"]["outputs"]) == ["yes", "default"]
    assert (ports["bad"]["inputs"], ports["bad"]["config_valid"]) == ({}, False)
    assert "ghost" not in ports


def test_node_ports_need_a_signed_in_caller_and_refuse_unknown_fields(viewer: Member) -> None:
    from rest_framework.test import APIClient

    body = {"nodes": [{"id": "p", "type": "prompt", "config": {}}]}
    assert APIClient().post("/api/v1/node-types/ports/", body, format="json").status_code in {401, 403}
    bad = {"nodes": [{"id": "p", "type": "prompt", "graph": {}}]}
    response = viewer.client().post("/api/v1/node-types/ports/", bad, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
