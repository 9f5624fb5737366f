"""The published flows a sub-flow node or an agent can call, with their inputs and outputs."""

from __future__ import annotations

import pytest

from tests.conftest import Member
from tests.flows.graphs import chat_flow

pytestmark = pytest.mark.django_db


def test_callable_flows_lists_published_flows_with_their_outputs(org_a: Member, org_b: Member) -> None:
    client, base = org_a.client(), f"/api/v1/orgs/{org_a.organization.id}/flows/"
    graph = chat_flow()
    graph["nodes"][-1]["config"] = {"name": "answer", "format": "json"}
    published = client.post(base, {"name": "Lookup", "graph": graph}, format="json").json()
    assert client.post(f"{base}{published['id']}/versions/", {"note": "v1"}, format="json").status_code == 201
    client.post(base, {"name": "Draft only", "graph": chat_flow()}, format="json")
    theirs = (
        org_b.client()
        .post(f"/api/v1/orgs/{org_b.organization.id}/flows/", {"name": "Theirs", "graph": chat_flow()}, format="json")
        .json()
    )
    org_b.client().post(f"/api/v1/orgs/{org_b.organization.id}/flows/{theirs['id']}/versions/", {}, format="json")

    listed = client.get(f"{base}callable/")
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "id": published["id"],
            "name": "Lookup",
            "description": "",
            "version": 1,
            "inputs": [{"name": "message", "type": "text"}],
            "outputs": [{"name": "answer", "format": "json"}],
        }
    ]
    anonymous = org_a.client()
    anonymous.logout()
    assert anonymous.get(f"{base}callable/").status_code in {401, 403}
