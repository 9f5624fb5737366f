"""Datasets over the API: versions, uploads (nothing stored when a row is bad), items from
production (runs, conversations, thumbs-down feedback with its comment)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.evaluation.models import DatasetVersion
from apps.widgets.models import Conversation, Visitor, WidgetRun
from apps.widgets.services import feedback_record, widget_create
from tests.conftest import Member


def _base(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/datasets/"


@pytest.mark.django_db
def test_dataset_every_change_is_a_new_version(org_a: Member) -> None:
    client = org_a.client()
    created = client.post(_base(org_a), {"name": "golden", "items": [{"message": "hi"}]}, format="json").json()
    url = f"{_base(org_a)}{created['id']}/"
    first = client.get(f"{url}items/").json()
    assert first["version"] == 1 and [item["message"] for item in first["items"]] == ["hi"]
    key = first["items"][0]["key"]
    edited = client.put(
        f"{url}items/",
        {"items": [{"key": key, "message": "hi there", "expected_output": "hello"}, {"message": "new"}]},
        format="json",
    )
    assert edited.status_code == 201 and edited.json()["number"] == 2
    second = client.get(f"{url}items/").json()
    assert second["items"][0]["key"] == key  # the same item across versions
    assert client.get(f"{url}items/?version=1").json()["items"][0]["message"] == "hi"  # v1 unchanged
    assert [v["number"] for v in client.get(f"{url}versions/").json()] == [2, 1]


@pytest.mark.django_db
def test_dataset_upload_with_bad_rows_stores_nothing(org_a: Member) -> None:
    client = org_a.client()
    dataset = client.post(_base(org_a), {"name": "golden"}, format="json").json()
    url = f"{_base(org_a)}{dataset['id']}/upload/"
    bad = SimpleUploadedFile("set.jsonl", b'{"message": "ok"}\n{"message": 5}\n{"nope": 1}\n')
    response = client.post(url, {"file": bad}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert [error["row"] for error in body["errors"]] == [2, 3]
    assert not DatasetVersion.objects.filter(dataset_id=dataset["id"], number__gt=1).exists()
    good = SimpleUploadedFile("set.csv", b"message,expected_output\nOne,1\nTwo,2\n")
    response = client.post(url, {"file": good}, format="multipart")
    assert response.status_code == 201 and response.json()["item_count"] == 2


@pytest.mark.django_db(transaction=True)
def test_dataset_from_thumbs_down_feedback_and_runs(
    org_a: Member, echo_flow: dict[str, Any], org_b: Member, api_key_for: Callable[..., str]
) -> None:
    client = org_a.client()
    runner = APIClient()
    runner.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a)}")
    runs = []
    for message in ("first question", "second question"):
        response = runner.post(
            f"/api/v1/orgs/{org_a.organization.id}/flows/{echo_flow['id']}/run/",
            {"inputs": {"message": message}},
            format="json",
        )
        assert response.status_code == 200, response.json()
        runs.append(response.json()["id"])
    widget = widget_create(access=org_a.access, flow_id=echo_flow["id"], data={"name": "site"})
    visitor = Visitor.objects.create(widget=widget)
    from apps.runs.models import Run

    for run_id in runs:
        WidgetRun.objects.create(run_id=run_id, widget=widget, visitor=visitor)
    session = Run.objects.get(pk=runs[0]).session_id
    Conversation.objects.get_or_create(session_id=session, defaults={"widget": widget, "visitor": visitor})
    feedback_record(widget=widget, visitor=visitor.id, run_id=runs[0], rating=-1, comment="Wrong city")
    feedback_record(widget=widget, visitor=visitor.id, run_id=runs[1], rating=1, comment="")

    dataset = client.post(_base(org_a), {"name": "complaints"}, format="json").json()
    url = f"{_base(org_a)}{dataset['id']}/from-production/"
    response = client.post(url, {"thumbs_down": True}, format="json")
    assert response.status_code == 201, response.json()
    items = client.get(f"{_base(org_a)}{dataset['id']}/items/").json()["items"]
    assert [(i["message"], i["comment"], i["origin"], i["expected_output"]) for i in items] == [
        ("first question", "Wrong city", "feedback", "")
    ]
    assert items[0]["source_run"] == runs[0]
    assert client.post(url, {"runs": [runs[1]]}, format="json").status_code == 201
    items = client.get(f"{_base(org_a)}{dataset['id']}/items/").json()["items"]
    assert items[1]["expected_output"] == "second question"  # the production answer as the reference
    # Another tenant's run is not found, and nothing is added.
    theirs = org_b.client().post(_base(org_b), {"name": "x"}, format="json").json()["id"]
    foreign = org_b.client().post(f"{_base(org_b)}{theirs}/from-production/", {"runs": [runs[0]]}, format="json")
    assert foreign.status_code == 404
