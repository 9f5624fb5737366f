"""Finding 1 of the security review: no server-side request reaches an internal address.

A real HTTP server on 127.0.0.1 stands in for an internal service (an admin panel, a metadata
endpoint, Trellis itself). It answers every path, with a body that must never come back to a
client. Every path that makes server-side requests is pointed at it: saving a model or embedding
endpoint, the test prompt (JSON and streamed), a flow run's model call, an embedding call (ingestion
and search), the HTTP tool. Each is refused with `egress_refused`, the stand-in sees no request,
and no answer quotes it. The instance's own model (the builtin `local` endpoint) is allowed by
construction, whatever its address; the operator allowlist lets exact host:port pairs through.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.config.errors import InvalidInput
from apps.knowledge.embeddings import EmbeddingFailed, embedder_for
from apps.serving.models import ModelEndpoint, ModelKind
from apps.serving.services import model_endpoint_create, model_endpoint_ensure_builtin
from apps.tenancy.models import Organization
from tests.apps.serving.conftest import StubServer
from tests.conftest import Member
from tests.flows.graphs import chat_flow, graph

SECRET = "INTERNAL-ONLY-7c1e"


class Internal:
    """What the stand-in internal service saw."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hits: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _chat_answer(text: str) -> bytes:
    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


@pytest.fixture(scope="module")
def internal() -> Iterator[Internal]:
    """An internal service on 127.0.0.1 that is NOT in the operator's allowlist."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            seen.append(f"GET {self.path}")
            self._answer(404, f"{SECRET} admin page".encode(), "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(f"POST {self.path}")
            if self.path.endswith("/chat/completions"):
                self._answer(200, _chat_answer(f"{SECRET} says hi"), "text/event-stream")
            else:
                self._answer(
                    500, json.dumps({"error": {"message": f"{SECRET} stack trace"}}).encode(), "application/json"
                )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service = Internal(int(server.server_address[1]))
    service.hits = seen
    assert f"127.0.0.1:{service.port}" not in settings.EGRESS_ALLOW
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh(internal: Internal) -> Internal:
    internal.hits.clear()
    return internal


def _models_url(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/models/"


def _planted(member: Member, base_url: str, *, alias: str = "inside", kind: str = ModelKind.CHAT) -> ModelEndpoint:
    """An endpoint row pointing inside, written around the save-time check: what a DNS answer that
    changed after the endpoint was saved (rebinding) leaves behind. Connection-time vetting must
    still refuse it."""
    endpoint = model_endpoint_create(access=member.access, alias=alias, kind=kind, base_url="http://h/v1", model="m")
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(base_url=base_url)
    endpoint.refresh_from_db()
    return endpoint


# --- saving an endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "{internal}/v1",
        "http://localhost:{port}/v1",
        "http://169.254.169.254/latest",
        "http://10.0.0.7:8000/v1",
        "http://[::1]:{port}/v1",
        "http://2130706433:{port}/v1",
    ],
)
def test_egress_model_endpoint_to_an_internal_address_is_refused_on_save(
    org_a: Member, fresh: Internal, base_url: str
) -> None:
    url = base_url.format(internal=fresh.url, port=fresh.port)
    body = {"alias": "inside", "base_url": url, "model": "m"}
    response = org_a.client().post(_models_url(org_a), body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "egress_refused"
    builtin = ModelEndpoint.objects.get(organization=org_a.organization, is_builtin=True)
    patched = org_a.client().patch(f"{_models_url(org_a)}{builtin.pk}/", {"base_url": url}, format="json")
    assert (patched.status_code, patched.json()["code"]) == (400, "egress_refused")
    assert fresh.hits == []


# --- the test prompt ------------------------------------------------------------------------------


def test_egress_model_test_prompt_never_reaches_an_internal_service(org_a: Member, fresh: Internal) -> None:
    endpoint = _planted(org_a, f"{fresh.url}/v1")
    response = org_a.client().post(f"{_models_url(org_a)}{endpoint.pk}/test/", {"prompt": "hi"}, format="json")
    assert 400 <= response.status_code < 600 and response.status_code != 500
    assert response.json()["code"] == "egress_refused"
    assert SECRET not in response.content.decode()
    assert fresh.hits == []


@pytest.mark.django_db(transaction=True)  # the stream view reads in its own thread
def test_egress_model_test_stream_never_reaches_an_internal_service(
    org_a: Member, fresh: Internal, api_key_for: Callable[..., str]
) -> None:
    endpoint = _planted(org_a, f"{fresh.url}/v1")
    url = f"{_models_url(org_a)}{endpoint.pk}/test/stream/"
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, 'editor')}")
    response = client.post(url, {"prompt": "hi"}, format="json")
    text = async_to_sync(_collect)(response.streaming_content) if response.streaming else response.content.decode()
    assert "egress_refused" in text
    assert SECRET not in text
    assert fresh.hits == []


async def _collect(content: Any) -> str:
    return b"".join([bytes(chunk) async for chunk in content]).decode()


def test_egress_upstream_error_bodies_are_never_echoed(org_a: Member, stub: StubServer) -> None:
    """An allowed (public) server's error page is not quoted either: a code, a generic message."""
    endpoint = model_endpoint_create(
        access=org_a.access, alias="wrong", base_url=f"{stub.origin}/nowhere/v1", model="m"
    )
    response = org_a.client().post(f"{_models_url(org_a)}{endpoint.pk}/test/", {"prompt": "hi"}, format="json")
    assert response.status_code == 502
    assert response.json()["code"] == "model_unavailable"
    assert "no such page" not in response.content.decode()
    assert "HTTP 404" in response.json()["message"]


# --- a flow run's model call and the HTTP tool ------------------------------------------------------


@pytest.fixture
def run_flow(org_a: Member, api_key_for: Callable[..., str]) -> Callable[[dict[str, Any], str], dict[str, Any]]:
    """Publishes `flow_graph` and runs it over HTTP (the run endpoint, an API key) with `message`."""

    def run(flow_graph: dict[str, Any], message: str) -> dict[str, Any]:
        from apps.config.asgi import application

        client, base = org_a.client(), f"/api/v1/orgs/{org_a.organization.id}/flows/"
        flow = client.post(base, {"name": "probe", "graph": flow_graph}, format="json").json()
        assert client.post(f"{base}{flow['id']}/versions/", {"note": "v1"}, format="json").status_code == 201
        key = api_key_for(org_a, "editor")

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as http:
                return await http.post(
                    f"{base}{flow['id']}/run/",
                    json={"inputs": {"message": message}},
                    headers={"Authorization": f"Bearer {key}"},
                )

        response = asyncio.run(go())
        assert response.status_code != 500, response.text
        return dict(response.json())

    return run


@pytest.mark.django_db(transaction=True)
def test_egress_flow_run_model_call_never_reaches_an_internal_service(
    org_a: Member, fresh: Internal, run_flow: Callable[[dict[str, Any], str], dict[str, Any]]
) -> None:
    _planted(org_a, f"{fresh.url}/v1")
    body = run_flow(chat_flow(model="inside"), "hello")
    text = json.dumps(body)
    assert body["status"] == "failed" and "egress_refused" in text, text
    assert SECRET not in text
    assert fresh.hits == []


@pytest.mark.django_db(transaction=True)
def test_egress_http_tool_never_reaches_an_internal_service(
    org_a: Member, fresh: Internal, run_flow: Callable[[dict[str, Any], str], dict[str, Any]]
) -> None:
    tool_flow = (
        graph()
        .node("in", "chat_input")
        .node("fetch", "tool", tool="http_request", arguments={"url": "{{message}}"})
        .node("out", "output")
        .edge("in", "fetch", "message", "message")
        .edge("fetch", "out", "result", "value")
        .spec
    )
    body = run_flow(tool_flow, f"{fresh.url}/admin")
    text = json.dumps(body)
    assert body["status"] == "failed" and "egress_refused" in text, text
    assert SECRET not in text
    assert fresh.hits == []


# --- embedding endpoints -----------------------------------------------------------------------------


def test_egress_embedding_endpoint_never_reaches_an_internal_service(org_a: Member, fresh: Internal) -> None:
    _planted(org_a, f"{fresh.url}/v1", alias="inside-embed", kind=ModelKind.EMBEDDING)
    with pytest.raises(EmbeddingFailed) as caught:
        embedder_for(organization=org_a.organization, model="inside-embed").embed(["hello"])
    assert caught.value.code == "egress_refused"
    assert SECRET not in caught.value.message
    assert fresh.hits == []


def test_egress_knowledge_search_through_an_internal_embedding_endpoint_is_refused(
    org_a: Member, fresh: Internal
) -> None:
    from apps.config.errors import InvalidInput
    from apps.knowledge.models import KnowledgeBase
    from apps.knowledge.services import knowledge_base_create

    _planted(org_a, f"{fresh.url}/v1", alias="inside-embed", kind=ModelKind.EMBEDDING)
    # Choosing it asks it for its size: refused, and no base is made.
    with pytest.raises(InvalidInput) as refused:
        knowledge_base_create(access=org_a.access, name="kb", embedding_model="inside-embed")
    assert refused.value.code == "egress_refused" and SECRET not in refused.value.message
    assert not KnowledgeBase.objects.filter(organization=org_a.organization).exists()
    # A base that already uses it (its endpoint's URL changed after) is refused at search time.
    kb = knowledge_base_create(access=org_a.access, name="kb")
    KnowledgeBase.objects.filter(pk=kb.pk).update(embedding_model="inside-embed")
    url = f"/api/v1/orgs/{org_a.organization.id}/knowledge-bases/{kb.id}/search/"
    response = org_a.client().post(url, {"query": "hello", "mode": "vector"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "egress_refused"
    assert SECRET not in response.content.decode()
    assert fresh.hits == []


def test_egress_embedding_endpoint_error_bodies_are_never_echoed(org_a: Member, stub: StubServer) -> None:
    model_endpoint_create(
        access=org_a.access, alias="embed", kind=ModelKind.EMBEDDING, base_url=f"{stub.origin}/v1", model="e"
    )
    with pytest.raises(EmbeddingFailed) as caught:
        embedder_for(organization=org_a.organization, model="embed").embed(["hello"])
    assert caught.value.code == "embedding_failed"
    assert "no such page" not in caught.value.message and "HTTP 404" in caught.value.message


# --- allowed by construction, or by the operator ----------------------------------------------------


def test_egress_builtin_local_model_is_reached_by_construction_whatever_its_address(
    settings: Any, make_org: Callable[..., Member], fresh: Internal
) -> None:
    settings.LOCAL_MODEL_URL = f"{fresh.url}/v1"  # the instance's own model server, on loopback
    member = make_org("Instance")
    builtin = model_endpoint_ensure_builtin(organization=member.organization)
    response = member.client().post(f"{_models_url(member)}{builtin.pk}/test/", {"prompt": "hi"}, format="json")
    assert response.status_code == 200, response.json()
    assert fresh.hits == ["POST /v1/chat/completions"]


def test_egress_builtin_repointed_by_a_tenant_loses_its_exemption(
    settings: Any, make_org: Callable[..., Member], fresh: Internal, stub: StubServer
) -> None:
    settings.LOCAL_MODEL_URL = f"{fresh.url}/v1"
    member = make_org("Repointed")
    builtin = model_endpoint_ensure_builtin(organization=member.organization)
    patched = member.client().patch(
        f"{_models_url(member)}{builtin.pk}/", {"base_url": f"{stub.origin}/v1"}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["is_builtin"] is False
    # Pointing it back at the instance's address now goes through the policy like any URL.
    back = member.client().patch(f"{_models_url(member)}{builtin.pk}/", {"base_url": f"{fresh.url}/v1"}, format="json")
    assert (back.status_code, back.json()["code"]) == (400, "egress_refused")


def test_egress_operator_allowlist_lets_an_exact_pair_through(settings: Any, org_a: Member, fresh: Internal) -> None:
    settings.EGRESS_ALLOW = [*settings.EGRESS_ALLOW, f"127.0.0.1:{fresh.port}"]
    response = org_a.client().post(
        _models_url(org_a), {"alias": "inside", "base_url": f"{fresh.url}/v1", "model": "m"}, format="json"
    )
    assert response.status_code == 201, response.json()
    endpoint_id = response.json()["id"]
    answer = org_a.client().post(f"{_models_url(org_a)}{endpoint_id}/test/", {"prompt": "hi"}, format="json")
    assert answer.status_code == 200, answer.json()
    other_port = org_a.client().post(
        _models_url(org_a),
        {"alias": "next", "base_url": f"http://127.0.0.1:{fresh.port + 1}/v1", "model": "m"},
        format="json",
    )
    assert other_port.json()["code"] == "egress_refused"


# --- every endpoint that accepts a URL --------------------------------------------------------------

# (method, path template, field) -> what the test sends there; a new URL-accepting field fails the
# walk below until it is listed here with the outbound policy applied (or in NOT_OUTBOUND with why).
OUTBOUND_URL_FIELDS = {
    ("post", "/api/v1/orgs/{org_id}/models/", "base_url"),
    ("patch", "/api/v1/orgs/{org_id}/models/{endpoint_id}/", "base_url"),
    ("post", "/api/v1/orgs/{org_id}/models/discover/", "base_url"),  # the Models page's model list
    ("post", "/api/v1/orgs/{org_id}/alerts/", "webhook_url"),  # alert webhooks (each delivery vetted too)
    ("patch", "/api/v1/orgs/{org_id}/alerts/{rule_id}/", "webhook_url"),
    # integrations: MCP servers (every connection vetted too) and OpenAPI documents and base URLs
    ("post", "/api/v1/orgs/{org_id}/mcp-servers/", "url"),
    ("patch", "/api/v1/orgs/{org_id}/mcp-servers/{server_id}/", "url"),
    ("post", "/api/v1/orgs/{org_id}/tool-sets/", "url"),
    ("post", "/api/v1/orgs/{org_id}/tool-sets/", "base_url"),
    ("patch", "/api/v1/orgs/{org_id}/tool-sets/{tool_set_id}/", "base_url"),
    # knowledge sources: a website to crawl (every page, redirect and sitemap vetted too)
    ("post", "/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/", "url"),
    # an S3-compatible bucket's endpoint (every list and object request vetted too)
    ("post", "/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/", "endpoint_url"),
}
NOT_OUTBOUND = {
    # Browser origins a widget may be embedded on: matched against Origin headers, never fetched.
    ("post", "/api/v1/orgs/{org_id}/widgets/", "allowed_origins"),
    ("patch", "/api/v1/orgs/{org_id}/widgets/{widget_id}/", "allowed_origins"),
    ("put", "/api/v1/orgs/{org_id}/widgets/{widget_id}/", "allowed_origins"),
    # A model folder on this host (under TRELLIS_MODEL_DIRS) or the offline package's name.
    ("post", "/api/v1/orgs/{org_id}/stored-models/", "origin"),
}
URLISH = ("url", "uri", "origin", "host", "endpoint", "webhook", "link")


def _url_fields() -> set[tuple[str, str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def properties(ref_or_schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in ref_or_schema:
            return properties(components[ref_or_schema["$ref"].rsplit("/", 1)[1]])
        found: dict[str, Any] = dict(ref_or_schema.get("properties", {}))
        for part in ref_or_schema.get("allOf", []) + ref_or_schema.get("oneOf", []):
            found.update(properties(part))
        return found

    fields = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            for media in content.values():
                for name, prop in properties(media.get("schema", {})).items():
                    if prop.get("type") not in ("string", "array", None):
                        continue  # a flag such as hosted_page
                    if any(word in name.lower() for word in URLISH) or prop.get("format") == "uri":
                        fields.add((method, path, name))
    return fields


def test_egress_every_endpoint_that_accepts_a_url_is_known() -> None:
    found = _url_fields()
    unknown = found - OUTBOUND_URL_FIELDS - NOT_OUTBOUND
    assert not unknown, f"URL-accepting fields with no outbound-policy test: {sorted(unknown)}"
    assert found >= OUTBOUND_URL_FIELDS, "a listed endpoint no longer takes that URL: update the list"


def test_egress_every_outbound_url_field_refuses_internal_addresses(org_a: Member, fresh: Internal) -> None:
    org = org_a.organization
    endpoint = model_endpoint_create(access=org_a.access, alias="public", base_url="http://h/v1", model="m")
    alert = {"name": "errors", "metric": "error_rate", "threshold": 5}
    rule = org_a.client().post(f"/api/v1/orgs/{org.id}/alerts/", alert, format="json")
    assert rule.status_code == 201, rule.content
    from apps.integrations.models import McpServer, ToolSet

    server = McpServer.objects.create(organization=org, name="probe", url="https://mcp.example.com/mcp")
    tool_set = ToolSet.objects.create(organization=org, name="probe", base_url="https://api.example.com", operations=[])
    from apps.knowledge.services import knowledge_base_create

    kb = knowledge_base_create(access=org_a.access, name="probe")
    ids = {
        "org_id": str(org.id),
        "endpoint_id": str(endpoint.pk),
        "rule_id": str(rule.json()["id"]),
        "server_id": str(server.pk),
        "tool_set_id": str(tool_set.pk),
        "kb_id": str(kb.pk),
    }
    document = {"openapi": "3.0.0", "paths": {"/x": {"get": {"operationId": "x"}}}}
    bodies = {
        "/api/v1/orgs/{org_id}/models/": {"alias": "probe", "model": "m"},
        "/api/v1/orgs/{org_id}/alerts/": alert,
        "/api/v1/orgs/{org_id}/mcp-servers/": {"name": "inside"},
        "/api/v1/orgs/{org_id}/tool-sets/": {"name": "inside", "document": json.dumps(document)},
        "/api/v1/orgs/{org_id}/knowledge-bases/{kb_id}/sources/": {"kind": "web"},
    }
    by_field = {"endpoint_url": {"kind": "s3", "bucket": "probe", "path_style": True}}
    for method, template, field in sorted(OUTBOUND_URL_FIELDS):
        body = {**by_field.get(field, bodies.get(template, {})), field: f"{fresh.url}/v1"}
        response = getattr(org_a.client(), method)(template.format(**ids), body, format="json")
        assert response.status_code == 400, (method, template, response.content)
        assert response.json()["code"] == "egress_refused", (method, template, response.json())
    assert fresh.hits == []
    assert Organization.objects.filter(pk=org.pk).exists()


def test_egress_deployment_is_exempt_only_while_its_supervisor_reports_it_ready(org_a: Member, fresh: Internal) -> None:
    """A tenant's deployment names a port on this host; until the supervisor launched it there
    (ready), that port could be any internal service, so its calls go through the policy."""
    from apps.serving.models import DeploymentStatus, ModelDeployment

    deployment = ModelDeployment.objects.create(
        organization=org_a.organization,
        name="mine",
        served_name="m",
        port=fresh.port,
        host="127.0.0.1",
        status=DeploymentStatus.FAILED,  # e.g. the port was taken by something else
    )
    endpoint = model_endpoint_create(
        access=org_a.access, alias="served", base_url="http://h/v1", model="m", deployment=deployment.pk
    )
    url = f"{_models_url(org_a)}{endpoint.pk}/test/"
    refused = org_a.client().post(url, {"prompt": "hi"}, format="json")
    assert refused.json()["code"] == "egress_refused" and SECRET not in refused.content.decode()
    assert fresh.hits == []
    ModelDeployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.READY)
    assert org_a.client().post(url, {"prompt": "hi"}, format="json").status_code == 200
    assert fresh.hits == ["POST /v1/chat/completions"]


def test_egress_endpoint_on_its_own_deployment_saves_before_it_is_ready(org_a: Member, fresh: Internal) -> None:
    """Deploy, then add its endpoint at once: the deployment's own address (the instance chose it)
    saves while it is still starting; any other internal URL beside it is still refused."""
    from apps.serving.models import DeploymentStatus, ModelDeployment

    deployment = ModelDeployment.objects.create(
        organization=org_a.organization,
        name="starting",
        served_name="m",
        port=fresh.port,
        host="127.0.0.1",
        status=DeploymentStatus.STARTING,
    )
    saved = model_endpoint_create(
        access=org_a.access, alias="own", base_url=deployment.base_url, model="m", deployment=deployment.pk
    )
    assert saved.base_url == deployment.base_url
    with pytest.raises(InvalidInput) as refused:
        model_endpoint_create(
            access=org_a.access,
            alias="beside",
            base_url=f"http://127.0.0.1:{fresh.port + 1}/v1",
            model="m",
            deployment=deployment.pk,
        )
    assert refused.value.code == "egress_refused"
    assert fresh.hits == []
