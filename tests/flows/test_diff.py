from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from pydantic import ValidationError

from flows.diff import diff_specs
from flows.spec import FlowSpec
from tests.flows.graphs import chat_flow


def _edge(edge_id: str, source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {"id": edge_id, "source": source, "source_port": source_port, "target": target, "target_port": target_port}


def test_diff_of_a_spec_with_itself_is_identical() -> None:
    diff = diff_specs(chat_flow(), chat_flow())
    assert diff["identical"] is True
    assert diff["nodes"] == {"added": [], "removed": [], "changed": [], "moved": []}
    assert diff["edges"] == {"added": [], "removed": []}


def test_diff_fills_defaults_before_comparing() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    for node in new["nodes"]:
        del node["version"]
    new["nodes"][0]["label"] = None
    assert diff_specs(old, new)["identical"] is True
    assert diff_specs(FlowSpec.model_validate(old), new)["identical"] is True


def test_diff_added_and_removed_nodes_are_sorted_summaries() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["nodes"] = [n for n in new["nodes"] if n["id"] != "prompt"]
    new["nodes"].append({"id": "zeta", "type": "memory", "config": {}})
    new["nodes"].append({"id": "alpha", "type": "merge", "label": "Join", "config": {}})
    diff = diff_specs(old, new)
    assert diff["nodes"]["added"] == [
        {"id": "alpha", "type": "merge", "version": 1, "label": "Join"},
        {"id": "zeta", "type": "memory", "version": 1, "label": None},
    ]
    assert diff["nodes"]["removed"] == [{"id": "prompt", "type": "prompt", "version": 1, "label": None}]
    assert diff["identical"] is False


def test_diff_changed_node_lists_config_keys_and_scalar_changes() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    llm = new["nodes"][2]
    llm["config"]["model"] = "gpt"  # changed
    llm["config"]["temperature"] = 0.2  # added
    llm["label"] = "Answerer"
    old["nodes"][2]["config"]["max_tokens"] = 100  # removed in new
    new["nodes"][3]["version"] = 2
    diff = diff_specs(old, new)
    changed = {c["id"]: c for c in diff["nodes"]["changed"]}
    assert list(changed) == ["llm", "out"]
    assert changed["llm"] == {
        "id": "llm",
        "type": "llm",
        "fields": ["config", "label"],
        "config_keys": ["max_tokens", "model", "temperature"],
        "before": {"label": None, "config": {"max_tokens": 100, "model": "echo"}},
        "after": {"label": "Answerer", "config": {"model": "gpt", "temperature": 0.2}},
    }
    assert (changed["out"]["fields"], changed["out"]["before"], changed["out"]["after"]) == (
        ["version"],
        {"version": 1},
        {"version": 2},
    )
    assert diff["nodes"]["moved"] == []


def test_diff_type_change_keeps_the_node_id() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["nodes"][3] = {"id": "out", "type": "merge", "position": old["nodes"][3]["position"]}
    [change] = diff_specs(old, new)["nodes"]["changed"]
    assert (change["id"], change["type"], change["fields"]) == ("out", "merge", ["type"])
    assert (change["before"], change["after"]) == ({"type": "output"}, {"type": "merge"})


def test_diff_position_only_is_moved_not_changed() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["nodes"][1]["position"] = {"x": 10, "y": -20.5}
    diff = diff_specs(old, new)
    assert diff["nodes"]["changed"] == []
    assert diff["nodes"]["moved"] == [
        {"id": "prompt", "before": {"x": 200.0, "y": 0.0}, "after": {"x": 10.0, "y": -20.5}}
    ]
    assert diff["identical"] is False


def test_diff_a_moved_node_with_other_changes_is_changed_with_its_position() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["nodes"][1]["position"] = {"x": 5, "y": 5}
    new["nodes"][1]["config"]["system"] = "Be brief."
    diff = diff_specs(old, new)
    assert diff["nodes"]["moved"] == []
    [change] = diff["nodes"]["changed"]
    assert change["fields"] == ["config", "position"]
    assert change["config_keys"] == ["system"]
    assert change["after"] == {"position": {"x": 5.0, "y": 5.0}, "config": {"system": "Be brief."}}
    assert change["before"]["config"] == {}  # the key was not there before


def test_diff_edges_are_matched_by_connection_not_id() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["edges"][0]["id"] = "redrawn"
    assert diff_specs(old, new)["identical"] is True
    new["edges"][2] = _edge("e9", "prompt", "text", "out", "value")
    new["edges"].append(_edge("a", "in", "message", "out", "sources"))
    diff = diff_specs(old, new)
    assert diff["edges"]["added"] == [
        _edge("a", "in", "message", "out", "sources"),
        _edge("e9", "prompt", "text", "out", "value"),
    ]
    assert diff["edges"]["removed"] == [_edge("e2", "llm", "text", "out", "value")]


def test_diff_counts_duplicate_connections() -> None:
    old = chat_flow()
    new = copy.deepcopy(old)
    new["edges"].append({**old["edges"][0], "id": "twin"})
    diff = diff_specs(old, new)
    assert diff["edges"]["added"] == [{**old["edges"][0], "id": "twin"}]
    assert diff_specs(new, old)["edges"]["removed"] == [{**old["edges"][0], "id": "twin"}]


def test_diff_from_the_empty_graph_adds_everything() -> None:
    diff = diff_specs({"nodes": [], "edges": []}, chat_flow())
    assert [n["id"] for n in diff["nodes"]["added"]] == ["in", "llm", "out", "prompt"]
    assert len(diff["edges"]["added"]) == 3
    assert diff_specs(chat_flow(), {})["nodes"]["removed"][0]["id"] == "in"


def test_diff_is_deterministic_whatever_the_order_of_nodes_and_edges() -> None:
    old = chat_flow()
    new: dict[str, Any] = copy.deepcopy(old)
    for i in range(20):
        new["nodes"].append({"id": f"n{i}", "type": "memory", "config": {"turns": i + 1}})
        new["edges"].append(_edge(f"x{i}", f"n{i}", "history", "llm", "history"))
    new["nodes"][2]["config"]["model"] = "other"
    expected = diff_specs(old, new)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = copy.deepcopy(new)
        rng.shuffle(shuffled["nodes"])
        rng.shuffle(shuffled["edges"])
        assert diff_specs(old, shuffled) == expected
    assert [n["id"] for n in expected["nodes"]["added"]] == sorted(f"n{i}" for i in range(20))


def test_diff_of_a_malformed_spec_raises() -> None:
    with pytest.raises(ValidationError):
        diff_specs(chat_flow(), {"nodes": "oops"})
