"""A prompt version as an evaluation's target, the judges' calls in the model-call ledger, and a
cancel in the middle of the pipelined job (no run left running)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest

from apps.evaluation.models import EvalSample, Evaluation
from apps.runs.models import Run
from apps.serving.models import ModelCall
from tests.apps.evaluation.conftest import execute
from tests.conftest import Member
from tests.flows.graphs import chat_flow

ITEMS = [{"message": word, "expected_output": word} for word in ("alpha", "bravo", "charlie")]


def _dataset(member: Member, items: list[dict[str, Any]] | None = None) -> str:
    response = member.client().post(
        f"/api/v1/orgs/{member.organization.id}/datasets/", {"name": "golden", "items": items or ITEMS}, format="json"
    )
    assert response.status_code == 201, response.json()
    return str(response.json()["id"])


@pytest.mark.django_db(transaction=True)
def test_a_prompt_version_is_evaluated_and_kept_on_the_evaluation(org_a: Member, echo_flow: dict[str, Any]) -> None:
    dataset = _dataset(org_a)
    base = f"/api/v1/orgs/{org_a.organization.id}/evaluations/"
    body = {"flow": echo_flow["id"], "version": "1", "dataset": dataset, "evaluators": [{"name": "e", "kind": "exact"}]}
    client = org_a.client()
    for prompt, code in [
        ({"node": "nowhere", "template": "Q: {{question}}"}, "invalid_prompt"),
        ({"node": "llm", "template": "Q: {{question}}"}, "invalid_prompt"),  # not a prompt node
        ({"node": "prompt", "template": "Q: {{question}} {{unwired}}"}, "invalid_prompt"),  # no edge feeds it
        ({"node": "prompt", "template": "   "}, "invalid"),  # blank
    ]:
        refused = client.post(base, body | {"prompt": prompt}, format="json")
        assert refused.status_code == 400, refused.json()
        assert refused.json()["code"] == code
    assert client.get(base).json() == []  # nothing was created

    started = client.post(base, body | {"prompt": {"node": "prompt", "template": "Q: {{question}}"}}, format="json")
    assert started.status_code == 201, started.json()
    assert started.json()["prompt_node"] == "prompt"
    assert started.json()["prompt_template"] == "Q: {{question}}"
    assert started.json()["target"] == "v1 + prompt prompt"
    evaluation = execute(started.json()["id"])
    assert evaluation.status == "completed", evaluation.error
    outputs = sorted(EvalSample.objects.filter(evaluation=evaluation).values_list("output", flat=True))
    assert outputs == ["Q: alpha", "Q: bravo", "Q: charlie"]  # the stand-in echoes the replaced prompt
    assert evaluation.summary["evaluators"]["e"]["mean"] == 0.0
    # The flow version itself is unchanged: the same evaluation without the prompt answers as before.
    plain = client.post(base, body, format="json").json()
    assert execute(plain["id"]).summary["evaluators"]["e"]["mean"] == 1.0


@pytest.mark.django_db(transaction=True)
def test_judge_calls_land_in_the_ledger_attributed_to_the_evaluation(
    org_a: Member, echo_flow: dict[str, Any], judge: str
) -> None:
    dataset = _dataset(org_a)
    evaluators = [{"name": "grade", "kind": "judge", "model": judge, "rubric": "Is it right?"}]
    body = {"flow": echo_flow["id"], "version": "1", "dataset": dataset, "evaluators": evaluators, "samples": 2}
    started = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/evaluations/", body, format="json").json()
    evaluation = execute(started["id"])
    assert evaluation.status == "completed", evaluation.error
    sample_runs = set(EvalSample.objects.filter(evaluation=evaluation).values_list("run_id", flat=True))
    judged = ModelCall.objects.filter(organization=org_a.organization, alias=judge)
    assert judged.count() == 6  # one judge call per sample
    assert set(judged.values_list("run_id", flat=True)) == sample_runs  # each with the sample it scored
    assert set(judged.values_list("flow_id", flat=True)) == {evaluation.flow_id}
    judge_cost = sum((call.cost for call in judged), Decimal(0))
    assert judge_cost > 0
    assert Decimal(evaluation.summary["judge_cost"]) == judge_cost
    runs_cost = sum((run.cost or Decimal(0) for run in Run.objects.filter(pk__in=sample_runs)), Decimal(0))
    assert evaluation.cost == runs_cost + judge_cost  # the evaluation's cost includes its judges
    detail = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/evaluations/{evaluation.pk}/").json()
    assert detail["summary"]["judge_cost"] == evaluation.summary["judge_cost"]


@pytest.mark.django_db(transaction=True)
def test_a_cancel_mid_run_leaves_no_run_running(
    org_a: Member,
    endpoint: Any,
    publish_flow: Any,
) -> None:
    endpoint(alias="slow", model="standin-rate-20-n-6")  # about 0.3 s a run
    flow = publish_flow(alias="slow", graph=chat_flow(template="{{question}}", model="slow"))
    dataset = _dataset(org_a, [{"message": f"question {i}"} for i in range(20)])
    base = f"/api/v1/orgs/{org_a.organization.id}/evaluations/"
    body = {
        "flow": flow["id"],
        "version": "1",
        "dataset": dataset,
        "evaluators": [{"name": "l", "kind": "length", "max": 1000}],
        "concurrency": 2,
    }
    started = org_a.client().post(base, body, format="json").json()
    worker = threading.Thread(target=execute, args=(started["id"],))
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not EvalSample.objects.filter(evaluation_id=started["id"]).exists():
        time.sleep(0.05)
    assert org_a.client().post(f"{base}{started['id']}/cancel/").status_code == 200
    worker.join(timeout=60)
    assert not worker.is_alive()
    evaluation = Evaluation.objects.get(pk=started["id"])
    assert evaluation.status == "cancelled"
    assert 0 < evaluation.done < 20
    runs = Run.objects.filter(flow_id=flow["id"], source="evaluation")
    assert not runs.filter(status=Run.Status.RUNNING).exists()  # prepared ahead or in flight: ended
    assert runs.count() >= evaluation.done
