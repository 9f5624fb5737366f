"""Runs against a real stand-in model server (a separate process speaking the OpenAI protocol)."""

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

from tests.conftest import Member
from tests.flows.graphs import chat_flow
from tests.support.egress import allow_egress

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def standin_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tests.support.standin", "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    allow_egress(url)  # a public model as far as the outbound policy goes: the operator allows it
    yield f"{url}/v1"
    server.kill()  # it may hold stalled streams open; a graceful stop would wait for them
    server.wait(timeout=10)


@pytest.fixture
def endpoint(org_a: Member, standin_url: str) -> Callable[..., dict[str, Any]]:
    """Register a model alias of org_a served by the stand-in (`model` picks its behaviour)."""

    def create(alias: str = "standin", model: str = "standin", **extra: Any) -> dict[str, Any]:
        body = {
            "alias": alias,
            "name": alias,
            "kind": "chat",
            "base_url": standin_url,
            "model": model,
            "price_input_per_1k": "0.5",
            "price_output_per_1k": "1.5",
            **extra,
        }
        response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/models/", body, format="json")
        assert response.status_code == 201, response.json()
        return dict(response.json())

    return create


@pytest.fixture
def publish_flow(org_a: Member) -> Callable[..., dict[str, Any]]:
    """Create a flow with `graph` (default: chat input -> prompt -> LLM(alias) -> output) and publish it."""

    def create(alias: str = "standin", graph: dict[str, Any] | None = None, publish: bool = True) -> dict[str, Any]:
        client, base = org_a.client(), f"/api/v1/orgs/{org_a.organization.id}/flows/"
        response = client.post(base, {"name": f"flow {alias}", "graph": graph or chat_flow(model=alias)}, format="json")
        assert response.status_code == 201, response.json()
        flow = dict(response.json())
        if publish:
            published = client.post(f"{base}{flow['id']}/versions/", {"note": "v1"}, format="json")
            assert published.status_code == 201, published.json()
        return flow

    return create
