"""What the Models page needs of the API: the endpoint's capabilities and context window, model
discovery on a real HTTP server (through the egress policy, never echoing the server's body), and
the ledger with filters and as CSV. Another tenant's ids answer 404."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from apps.serving.discovery import parse_model_list
from apps.serving.models import BUILTIN_CONTEXT_WINDOW, ModelCall, ModelEndpoint
from apps.serving.services import model_endpoint_create
from apps.tenancy.models import Role
from tests.conftest import Member
from tests.support.egress import allow_egress

pytestmark = pytest.mark.django_db

SECRET_BODY = "upstream-secret-detail-4711"
KEY = "sk-discovery-key-1234567890"


class Catalog(BaseHTTPRequestHandler):
    """GET /v1/models lists two models (one with max_model_len) when the right key is sent;
    /broken/v1/models answers HTML; anything else 404 with a body the client must never see."""

    protocol_version = "HTTP/1.1"
    seen_keys: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        Catalog.seen_keys.append(auth)
        if self.path == "/v1/models":
            if auth != f"Bearer {KEY}":
                self._send(401, json.dumps({"error": {"message": SECRET_BODY}}).encode(), "application/json")
                return
            cards = [{"id": "zeta-8b", "object": "model"}, {"id": "alpha-1b", "max_model_len": 4096}]
            self._send(200, json.dumps({"object": "list", "data": cards}).encode(), "application/json")
        elif self.path == "/fail/v1/models":
            self._send(500, SECRET_BODY.encode(), "text/plain")
        elif self.path == "/broken/v1/models":
            self._send(200, f"<html>{SECRET_BODY}</html>".encode(), "text/html")
        else:
            self._send(404, SECRET_BODY.encode(), "text/plain")


@pytest.fixture(scope="module")
def catalog() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Catalog)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    allow_egress(origin)
    yield origin
    server.shutdown()
    server.server_close()


def _discover(member: Member, body: dict[str, Any]) -> Any:
    return member.client().post(f"/api/v1/orgs/{member.organization.id}/models/discover/", body, format="json")


# --- endpoint fields ----------------------------------------------------------------------------


def test_endpoint_capabilities_and_context_window_round_trip(org_a: Member, catalog: str) -> None:
    url = f"/api/v1/orgs/{org_a.organization.id}/models/"
    body = {
        "alias": "big",
        "base_url": f"{catalog}/v1",
        "model": "alpha-1b",
        "supports_tools": True,
        "supports_json_mode": True,
        "supports_vision": True,
        "context_window": 4096,
        "max_retries": 2,
        "fallbacks": ["local"],
    }
    created = org_a.client().post(url, body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["supports_json_mode"], data["supports_vision"], data["context_window"]) == (True, True, 4096)
    changed = org_a.client().patch(f"{url}{data['id']}/", {"context_window": None}, format="json")
    assert changed.status_code == 200 and changed.json()["context_window"] is None
    too_small = org_a.client().patch(f"{url}{data['id']}/", {"context_window": 12}, format="json")
    assert too_small.status_code == 400 and too_small.json()["code"] == "invalid"


def test_the_builtin_local_model_knows_its_2048_token_window(org_a: Member) -> None:
    local = ModelEndpoint.objects.get(organization=org_a.organization, alias="local")
    assert local.context_window == BUILTIN_CONTEXT_WINDOW == 2048


def test_viewers_read_endpoints_but_cannot_change_or_discover(org_a: Member, add_member: Any, catalog: str) -> None:
    viewer = add_member(org_a.organization, Role.VIEWER)
    listed = viewer.client().get(f"/api/v1/orgs/{org_a.organization.id}/models/")
    assert listed.status_code == 200 and [e["alias"] for e in listed.json()] == ["local"]
    assert "api_key" not in listed.json()[0]
    refused = viewer.client().post(
        f"/api/v1/orgs/{org_a.organization.id}/models/",
        {"alias": "x", "base_url": f"{catalog}/v1", "model": "m"},
        format="json",
    )
    assert refused.status_code == 403
    assert _discover(viewer, {"base_url": f"{catalog}/v1", "api_key": KEY}).status_code == 403


# --- discovery ----------------------------------------------------------------------------------


def test_discover_lists_models_with_their_context_windows(org_a: Member, catalog: str) -> None:
    answer = _discover(org_a, {"base_url": f"{catalog}/v1", "api_key": KEY})
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "models": [{"id": "alpha-1b", "context_window": 4096}, {"id": "zeta-8b", "context_window": None}]
    }


def test_discover_with_an_endpoints_stored_key_only_for_its_own_url(org_a: Member, catalog: str) -> None:
    endpoint = model_endpoint_create(
        access=org_a.access, alias="remote", base_url=f"{catalog}/v1", model="zeta-8b", api_key=KEY
    )
    Catalog.seen_keys.clear()
    same = _discover(org_a, {"base_url": f"{catalog}/v1", "endpoint": endpoint.pk})
    assert same.status_code == 200 and len(same.json()["models"]) == 2
    elsewhere = _discover(org_a, {"base_url": f"{catalog}/broken/v1", "endpoint": endpoint.pk})
    assert elsewhere.status_code == 400
    assert Catalog.seen_keys == [f"Bearer {KEY}", ""]  # the key never went to the other URL


def test_discover_failures_say_why_without_the_servers_body(org_a: Member, catalog: str) -> None:
    for base_url, key, status, words in [
        (f"{catalog}/v1", "wrong", 400, "refused the API key (HTTP 401)"),
        (f"{catalog}/nothing/v1", KEY, 400, "HTTP 404"),
        (f"{catalog}/broken/v1", KEY, 400, "not an OpenAI-compatible model list"),
        (f"{catalog}/fail/v1", KEY, 502, "HTTP 500"),
        ("http://no-such-host.invalid/v1", KEY, 400, "cannot be reached"),
    ]:
        answer = _discover(org_a, {"base_url": base_url, "api_key": key})
        assert answer.status_code == status, answer.json()
        assert answer.json()["code"] == "discovery_failed" and words in answer.json()["message"]
        assert SECRET_BODY not in json.dumps(answer.json())


def test_discover_goes_through_the_egress_policy(org_a: Member) -> None:
    answer = _discover(org_a, {"base_url": "http://169.254.169.254/v1"})
    assert answer.status_code == 400 and answer.json()["code"] == "egress_refused"
    bad = _discover(org_a, {"base_url": "ftp://example.com/v1"})
    assert bad.status_code == 400


def test_parse_model_list_takes_bare_lists_and_skips_junk() -> None:
    models = parse_model_list(json.dumps([{"id": "b", "context_length": 8192}, {"id": ""}, "x", {"id": "a"}]))
    assert [(m.id, m.context_window) for m in models] == [("a", None), ("b", 8192)]


# --- the ledger ---------------------------------------------------------------------------------


def _calls(member: Member) -> None:
    now = timezone.now()
    rows = [
        ("local", "local", "ok", now - timedelta(minutes=1), "0.001"),
        ("big", "local", "ok", now - timedelta(hours=2), "0.5"),
        ("big", "", "failed", now - timedelta(days=3), "0"),
    ]
    for alias, served_by, status, at, cost in rows:
        ModelCall.objects.create(
            organization=member.organization,
            alias=alias,
            served_by=served_by,
            status=status,
            at=at,
            cost=cost,
            input_tokens=10,
            output_tokens=5,
            error="=HYPERLINK(evil)" if status == "failed" else "",
        )


def test_ledger_filters(org_a: Member) -> None:
    _calls(org_a)
    url = f"/api/v1/orgs/{org_a.organization.id}/model-calls/"
    client = org_a.client()
    assert [c["alias"] for c in client.get(url).json()] == ["local", "big", "big"]
    assert len(client.get(url, {"alias": "big"}).json()) == 2
    assert [c["alias"] for c in client.get(url, {"served_by": "local", "alias": "big"}).json()] == ["big"]
    assert [c["status"] for c in client.get(url, {"status": "failed"}).json()] == ["failed"]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert len(client.get(url, {"since": since}).json()) == 2
    assert len(client.get(url, {"limit": 1}).json()) == 1
    for bad in ({"status": "nope"}, {"flow": "not-a-uuid"}, {"since": "yesterday"}, {"limit": 0}):
        answer = client.get(url, bad)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid", bad


def test_ledger_csv_export_with_filters_and_no_formulas(org_a: Member, org_b: Member) -> None:
    _calls(org_a)
    _calls(org_b)
    url = f"/api/v1/orgs/{org_a.organization.id}/model-calls/export/"
    answer = org_a.client().get(url, {"alias": "big"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert [(r["alias"], r["status"]) for r in rows] == [("big", "ok"), ("big", "failed")]
    assert rows[1]["error"] == "'=HYPERLINK(evil)"  # a spreadsheet shows it, never runs it
    assert rows[0]["input_tokens"] == "10" and rows[0]["cost"].startswith("0.5")
    everything = org_a.client().get(url).content.decode().splitlines()
    assert len(everything) == 1 + 3  # header and org A's rows only


def test_discover_and_export_of_another_tenant_answer_404(org_a: Member, org_b: Member, catalog: str) -> None:
    _calls(org_b)
    other = org_b.organization.id
    client = org_a.client()
    assert client.get(f"/api/v1/orgs/{other}/model-calls/export/").status_code == 404
    answer = client.post(
        f"/api/v1/orgs/{other}/models/discover/", {"base_url": f"{catalog}/v1", "api_key": KEY}, format="json"
    )
    assert answer.status_code == 404
    own_key = model_endpoint_create(
        access=org_b.access, alias="theirs", base_url=f"{catalog}/v1", model="zeta-8b", api_key=KEY
    )
    borrowed = _discover(org_a, {"base_url": f"{catalog}/v1", "endpoint": own_key.pk})
    assert borrowed.status_code == 404  # another tenant's endpoint (and its key) is not found


def test_quota_shows_this_months_tokens_and_spend(org_a: Member) -> None:
    _calls(org_a)  # 0.001 + 0.5 this month (one call 3 days ago may fall in the previous month)
    answer = org_a.client().get(f"/api/v1/orgs/{org_a.organization.id}/model-quota/").json()
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    expected = sum(
        (c.cost for c in ModelCall.objects.filter(organization=org_a.organization, at__gte=month_start)),
        start=Decimal(0),
    )
    assert Decimal(answer["spent_this_month"]) == expected > 0
    assert answer["used_this_month"] > 0


# --- budgets in money ---------------------------------------------------------------------------


def test_a_monthly_cost_budget_is_set_read_and_refuses_calls_once_spent(org_a: Member) -> None:
    url = f"/api/v1/orgs/{org_a.organization.id}/model-quota/"
    answer = org_a.client().put(url, {"monthly_cost_budget": "0.25"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert Decimal(answer.json()["monthly_cost_budget"]) == Decimal("0.25")
    assert org_a.client().put(url, {"monthly_cost_budget": "-1"}, format="json").status_code == 400
    local = ModelEndpoint.objects.get(organization=org_a.organization, alias="local")
    test_url = f"/api/v1/orgs/{org_a.organization.id}/models/{local.pk}/test/"
    ModelCall.objects.create(organization=org_a.organization, alias="local", status="ok", at=timezone.now(), cost="0.3")
    refused = org_a.client().post(test_url, {"prompt": "hi"}, format="json")
    assert refused.status_code == 429 and refused.json()["code"] == "budget_exceeded"
    assert "0.30 of its 0.25 budget" in refused.json()["message"]


def test_the_meter_counts_cost_within_a_run_and_the_run_start_reads_the_cost_budget(org_a: Member) -> None:
    from apps.builder.services import flow_create
    from apps.runs.selectors import run_start_snapshot
    from apps.serving.accounting import BudgetExhausted, Meter, ledger_call
    from tests.flows.graphs import chat_flow

    meter = Meter.of_quota(
        org_a.organization.pk,
        budget=None,
        requests_per_minute=None,
        used=0,
        cost_budget=Decimal("1"),
        cost_used=Decimal("0.5"),
    )
    meter.admit()
    call = ledger_call(
        alias="local",
        served_by="local",
        status="ok",
        input_tokens=1,
        output_tokens=1,
        cost=Decimal("0.6"),
        ttft_ms=1.0,
        latency_ms=2.0,
        attempts=[],
    )
    meter.record(call)  # no event loop here: written at once
    with pytest.raises(BudgetExhausted):
        meter.admit()

    flow = flow_create(access=org_a.access, name="Budget", description="", graph=chat_flow(model="local"))
    ModelCall.objects.create(organization=org_a.organization, alias="x", status="ok", at=timezone.now(), cost="0.2")
    org_a.client().put(
        f"/api/v1/orgs/{org_a.organization.id}/model-quota/", {"monthly_cost_budget": "5"}, format="json"
    )
    month = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    snapshot = run_start_snapshot(
        flow_id=flow.pk,
        organization_id=org_a.organization.pk,
        user_id=org_a.user.pk,
        version_number=None,
        session_id=None,
        month_start=month,
    )
    assert snapshot is not None
    assert snapshot.cost_budget == Decimal("5")
    assert snapshot.cost_used_this_month == sum(
        (c.cost for c in ModelCall.objects.filter(organization=org_a.organization, at__gte=month)), start=Decimal(0)
    )


def test_an_endpoint_on_a_deployment_takes_its_max_model_len_as_context_window(org_a: Member) -> None:
    from django.conf import settings

    from apps.builder.services import flow_create
    from apps.runs.selectors import run_start_snapshot
    from apps.serving.deployments import deployment_create
    from apps.serving.gateway import EndpointSnapshot, GatewayModels
    from apps.serving.selectors import model_endpoint_list
    from tests.flows.graphs import chat_flow

    deployment = deployment_create(
        access=org_a.access,
        name="big",
        model_dir=str(settings.LOCAL_MODEL_DIR),
        port=19601,
        engine_args={"max_model_len": 4096},
    )
    model_endpoint_create(
        access=org_a.access, alias="deployed", base_url="https://example.com/v1", model="m", deployment=deployment.pk
    )
    gateway = GatewayModels.of(list(model_endpoint_list(organization=org_a.organization)))
    assert gateway.context_window("deployed") == 4096
    assert gateway.context_window("local") == BUILTIN_CONTEXT_WINDOW  # its own, entered
    flow = flow_create(access=org_a.access, name="Window", description="", graph=chat_flow(model="deployed"))
    snapshot = run_start_snapshot(
        flow_id=flow.pk,
        organization_id=org_a.organization.pk,
        user_id=org_a.user.pk,
        version_number=None,
        session_id=None,
        month_start=timezone.now().replace(day=1),
    )
    assert snapshot is not None
    windows = {row["alias"]: EndpointSnapshot.from_row(row).context_window for row in snapshot.endpoints}
    assert windows == {"deployed": 4096, "local": BUILTIN_CONTEXT_WINDOW}
