"""Evaluation runs through the one run start against the stand-in model and the stand-in judge."""

from __future__ import annotations

from typing import Any

import pytest

from apps.evaluation.models import EvalSample
from apps.runs.models import Run
from tests.apps.evaluation.conftest import execute
from tests.conftest import Member

ITEMS = [
    {"message": "alpha", "expected_output": "alpha", "tags": ["a"]},
    {"message": "bravo", "expected_output": "bravo"},
    {"message": "charlie", "expected_output": "charlie"},
    {"message": "delta", "expected_output": "something else"},
]


def _dataset(member: Member, items: list[dict[str, Any]] | None = None) -> str:
    response = member.client().post(
        f"/api/v1/orgs/{member.organization.id}/datasets/", {"name": "golden", "items": items or ITEMS}, format="json"
    )
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


def _start(member: Member, **body: Any) -> dict[str, Any]:
    response = member.client().post(f"/api/v1/orgs/{member.organization.id}/evaluations/", body, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


@pytest.mark.django_db(transaction=True)
def test_evaluation_scores_every_sample_through_the_run_start(
    org_a: Member, echo_flow: dict[str, Any], judge: str
) -> None:
    dataset = _dataset(org_a)
    evaluators = [
        {"name": "exact", "kind": "exact"},
        {"name": "rouge", "kind": "rouge_l"},
        {"name": "grade", "kind": "judge", "model": judge, "rubric": "Is it right?"},
    ]
    started = _start(org_a, flow=echo_flow["id"], version="1", dataset=dataset, evaluators=evaluators, samples=2)
    assert started["status"] == "queued"
    assert started["total"] == 8
    assert float(started["estimated_cost"]) > 0

    evaluation = execute(started["id"])
    assert evaluation.status == "completed", evaluation.error
    assert (evaluation.done, evaluation.failed) == (8, 0)
    samples = EvalSample.objects.filter(evaluation=evaluation)
    assert samples.count() == 8
    runs = Run.objects.filter(pk__in=samples.values("run_id"))
    assert runs.count() == 8
    assert set(runs.values_list("source", flat=True)) == {"evaluation"}
    summary = evaluation.summary["evaluators"]
    assert summary["exact"]["mean"] == 0.75  # three of four answers are the reference
    assert summary["exact"]["ci_low"] <= 0.75 <= summary["exact"]["ci_high"]
    assert summary["grade"]["mean"] == 0.75  # the judge's fixed 4 on 1..5
    assert {s.scores["grade"]["reasoning"] for s in samples} == {"fixed grade"}
    assert summary["exact"]["items"][str(samples.first().item.key)]["variance"] == 0.0  # type: ignore[union-attr]
    assert evaluation.cost > 0  # the judge's tokens at its prices

    detail = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/evaluations/{evaluation.pk}/items/")
    assert detail.status_code == 200
    rows = detail.json()
    assert len(rows) == 4 and all(len(row["samples"]) == 2 for row in rows)
    export = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/evaluations/{evaluation.pk}/export/")
    assert export.status_code == 200
    assert export.content.decode().count("\n") == 9


@pytest.mark.django_db(transaction=True)
def test_evaluation_pairwise_judge_cancels_position_bias(org_a: Member, echo_flow: dict[str, Any], judge: str) -> None:
    dataset = _dataset(org_a)
    base = _start(
        org_a, flow=echo_flow["id"], version="1", dataset=dataset, evaluators=[{"name": "e", "kind": "exact"}]
    )
    assert execute(base["id"]).status == "completed"
    pairwise = [{"name": "e", "kind": "exact"}, {"name": "vs", "kind": "pairwise", "model": judge}]
    started = _start(
        org_a, flow=echo_flow["id"], version="draft", dataset=dataset, evaluators=pairwise, baseline=base["id"]
    )
    evaluation = execute(started["id"])
    assert evaluation.status == "completed", evaluation.error
    # The judge always prefers answer A: asked both ways round, each side wins once.
    scores = {s.scores["vs"]["score"] for s in EvalSample.objects.filter(evaluation=evaluation)}
    assert scores == {0.5}
    comparison = evaluation.summary["comparison"]["e"]
    assert comparison["n"] == 4
    assert not comparison["significant"]


@pytest.mark.django_db(transaction=True)
def test_evaluation_cancel_and_bad_requests(org_a: Member, echo_flow: dict[str, Any]) -> None:
    dataset = _dataset(org_a)
    base = f"/api/v1/orgs/{org_a.organization.id}/evaluations/"
    client = org_a.client()
    bad = [
        ({"evaluators": []}, "invalid_evaluators"),
        ({"evaluators": [{"name": "x", "kind": "regex"}]}, "invalid_evaluators"),
        ({"evaluators": [{"name": "p", "kind": "pairwise", "model": "echo"}]}, "baseline_required"),
        ({"version": "99"}, "version_not_found"),
    ]
    for change, code in bad:
        body = {
            "flow": echo_flow["id"],
            "version": "1",
            "dataset": dataset,
            "evaluators": [{"name": "e", "kind": "exact"}],
        }
        response = client.post(base, body | change, format="json")
        assert response.status_code in (400, 404), response.json()
        assert response.json()["code"] == code
    assert client.get(base).json() == []  # nothing was created
    started = _start(
        org_a, flow=echo_flow["id"], version="1", dataset=dataset, evaluators=[{"name": "e", "kind": "exact"}]
    )
    cancelled = client.post(f"{base}{started['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert execute(started["id"]).done == 0  # a cancelled evaluation is not run
    assert client.post(f"{base}{started['id']}/cancel/").json()["code"] == "evaluation_not_running"
