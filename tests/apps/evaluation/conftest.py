"""Evaluations against real servers: the stand-in model (tests/support/standin.py, `standin-echo`
answers with the prompt, so a flow's answer is known) and a stand-in judge with fixed grades."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.evaluation.models import Evaluation
from apps.evaluation.runner import evaluation_execute
from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 (fixtures)
from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.support.egress import allow_egress

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def judge_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.apps.evaluation.judge_server", "--port", str(port)], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    allow_egress(url)
    yield f"{url}/v1"
    server.kill()
    server.wait(timeout=10)


@pytest.fixture
def echo_flow(
    endpoint: Callable[..., dict[str, Any]],  # noqa: F811
    publish_flow: Callable[..., dict[str, Any]],  # noqa: F811
) -> dict[str, Any]:
    """A published flow whose answer is the message itself (the stand-in echoes the prompt)."""
    endpoint(alias="echo", model="standin-echo")
    return publish_flow(alias="echo", graph=chat_flow(template="{{question}}", model="echo"))


@pytest.fixture
def judge(org_a: Member, judge_url: str) -> str:
    body = {
        "alias": "judge",
        "name": "judge",
        "kind": "chat",
        "base_url": judge_url,
        "model": "judge",
        "price_input_per_1k": "1",
        "price_output_per_1k": "2",
    }
    response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/models/", body, format="json")
    assert response.status_code == 201, response.json()
    return "judge"


def execute(evaluation_id: object) -> Evaluation:
    """What the huey worker does, in this thread."""
    evaluation_execute(str(evaluation_id))
    return Evaluation.objects.get(pk=evaluation_id)
