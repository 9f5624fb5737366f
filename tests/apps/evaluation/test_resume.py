"""Kill the real huey worker mid-evaluation, start another: it resumes, and the samples already
stored are not run again (one row per item and sample, the done count exact)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from apps.evaluation.models import EvalSample, Evaluation
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.support.egress import egress_pair
from tests.support.worker import huey_worker, wait_until

LEASE = 2
ITEMS = 12


@pytest.mark.django_db(transaction=True)
def test_evaluation_resumes_after_killed_worker(
    org_a: Member,
    standin_url: str,
    endpoint: Callable[..., dict[str, Any]],
    publish_flow: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    endpoint(alias="slow", model="standin-rate-20-n-6")  # 0.3 s a run
    flow = publish_flow(alias="slow", graph=chat_flow(template="{{question}}", model="slow"))
    client, org = org_a.client(), org_a.organization.id
    items = [{"message": f"question {i}", "expected_output": "alpha bravo"} for i in range(ITEMS)]
    dataset = client.post(f"/api/v1/orgs/{org}/datasets/", {"name": "d", "items": items}, format="json").json()
    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    log = tmp_path / "worker.log"
    worker = huey_worker(
        log, TRELLIS_EVALUATION_LEASE_SECONDS=str(LEASE), TRELLIS_EGRESS_ALLOW=egress_pair(standin_url)
    )
    try:
        body = {
            "flow": flow["id"],
            "version": "1",
            "dataset": dataset["id"],
            "evaluators": [{"name": "has", "kind": "contains", "value": "alpha"}],
            "concurrency": 1,
        }
        started = client.post(f"/api/v1/orgs/{org}/evaluations/", body, format="json").json()
        samples = EvalSample.objects.filter(evaluation_id=started["id"])
        wait_until(lambda: samples.count() >= 3, 120, "the first samples")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        before = set(samples.values_list("id", "run_id"))
        assert len(before) < ITEMS
        time.sleep(LEASE + 0.5)  # the dead worker's lease runs out
        worker = huey_worker(
            log, TRELLIS_EVALUATION_LEASE_SECONDS=str(LEASE), TRELLIS_EGRESS_ALLOW=egress_pair(standin_url)
        )
        evaluation = Evaluation.objects.filter(pk=started["id"])
        wait_until(lambda: evaluation.get().status == "completed", 180, "the resumed evaluation")
    finally:
        worker.kill()
        worker.wait(timeout=10)
    done = evaluation.get()
    assert (done.done, done.failed) == (ITEMS, 0), log.read_text()[-2000:]
    assert samples.count() == ITEMS
    assert before <= set(samples.values_list("id", "run_id"))  # what was stored was not redone
    assert done.summary["evaluators"]["has"]["mean"] == 1.0
