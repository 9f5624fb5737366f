"""OpenTelemetry export: a real run's trace reaches a real OTLP/HTTP receiver (an HTTP server in
the test that decodes the protobuf with opentelemetry-proto), with the GenAI attributes, the run's
id as the trace id, a span per node and per model call, and no prompt or answer text."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.observability import otel
from apps.runs.models import Run
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    receiver.paths.append(self.path)
                    receiver.headers.append(dict(self.headers))
                    for resource_spans in request.resource_spans:
                        service = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append(
                                    {
                                        "name": span.name,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent": span.parent_span_id.hex(),
                                        "start": span.start_time_unix_nano,
                                        "end": span.end_time_unix_nano,
                                        "status": span.status.code,
                                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                                        "service": service.get("service.name"),
                                    }
                                )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.spans):
                    return list(self.spans)
            time.sleep(0.1)
        raise AssertionError(f"spans never arrived: {self.spans}")


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.fixture
def exporting(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[otel.Exporter]:
    """Configured by the standard variables, as an operator would: OTEL_EXPORTER_OTLP_ENDPOINT."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=s3cret")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "trellis-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # the SDK's batch delay (5 s by default)
    exporter = otel.configure_from_env()
    assert exporter is not None
    yield exporter
    otel.unconfigure()


def test_off_unless_an_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otel.configure_from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert otel.configure_from_env() is None


async def test_a_run_trace_reaches_an_otlp_receiver_with_genai_attributes(
    org_a: Member,
    api_key_for: Callable[..., str],
    endpoint: Callable[..., Any],
    publish_flow: Callable[..., Any],
    receiver: Receiver,
    exporting: otel.Exporter,
) -> None:
    from channels.db import database_sync_to_async

    from apps.config.asgi import application

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    key = await database_sync_to_async(api_key_for)(org_a, "editor")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1", timeout=30
    ) as client:
        response = await client.post(
            f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/",
            json={"inputs": {"message": "my secret is hunter2"}},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    run = await database_sync_to_async(Run.objects.select_related("flow").get)(pk=body["id"])
    trace_id = run.pk.hex

    # Waited for off the event loop: the model-call ledger is written by a task on it.
    spans = await asyncio.to_thread(receiver.wait_for, lambda spans: any(s["name"].startswith("chat ") for s in spans))
    spans = [s for s in spans if s["trace_id"] == trace_id]
    [root] = [s for s in spans if not s["parent"]]
    assert root["name"] == f"invoke_agent {flow['name']}" and root["service"] == "trellis-test"
    attributes = root["attributes"]
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.id"] == flow["id"] and attributes["trellis.run.id"] == body["id"]
    assert attributes["gen_ai.usage.output_tokens"] == body["output_tokens"] == 12
    assert attributes["trellis.run.source"] == "api" and attributes["trellis.run.status"] == "completed"
    nodes = [s for s in spans if s["parent"] == root["span_id"] and "trellis.node.id" in s["attributes"]]
    assert sorted(s["attributes"]["trellis.node.id"] for s in nodes) == sorted(
        await database_sync_to_async(lambda: list(run.spans.values_list("node", flat=True)))()
    )
    [chat] = [s for s in spans if s["name"].startswith("chat ")]
    llm = [s for s in nodes if s["span_id"] == chat["parent"]]
    assert llm and llm[0]["attributes"]["trellis.node.type"] == "llm", (chat, nodes)
    assert chat["attributes"]["gen_ai.operation.name"] == "chat"
    assert chat["attributes"]["gen_ai.request.model"] == "standin"
    assert chat["attributes"]["gen_ai.response.model"] == "standin"
    assert chat["attributes"]["gen_ai.usage.output_tokens"] == 12
    assert chat["attributes"]["gen_ai.usage.input_tokens"] > 0
    for span in spans:  # nested in time, never exported with text from the run
        assert root["start"] <= span["start"] <= span["end"] <= root["end"], span
        assert not any("hunter2" in str(v) or body["output_text"] in str(v) for v in span["attributes"].values())
    assert receiver.paths[0] == "/v1/traces" and receiver.headers[0]["x-collector-token"] == "s3cret"
