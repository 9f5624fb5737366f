"""Alert rules: an error burst fires a rule and a calm window resolves it; a real webhook receiver
gets both, signed, after a failed first attempt (retried, every attempt logged)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from apps.observability.alerts import SIGNATURE_HEADER, alert_rules_evaluate
from apps.observability.models import AlertRule, WebhookDelivery
from apps.runs.models import Run
from tests.conftest import Member
from tests.support.egress import allow_egress

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers 500 to the first call, then 204."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.calls) == 1 else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/trellis"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    allow_egress(server.url)
    yield server
    server.close()


def _runs(member: Member, flow_id: str, *, at: Any, status: str, count: int) -> None:
    for _ in range(count):
        run = Run.objects.create(organization=member.organization, flow_id=flow_id, status=status, latency_ms=100)
        Run.objects.filter(pk=run.pk).update(started_at=at)


def _verified(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    signature = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(secret.encode(), signature["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature["v1"], expected), "bad signature"
    return dict(json.loads(body))


def test_alert_fires_on_an_error_burst_and_resolves_with_signed_webhooks(
    org_a: Member, publish_flow: Callable[..., Any], receiver: Receiver
) -> None:
    flow = publish_flow(publish=False)
    base = f"/api/v1/orgs/{org_a.organization.id}/alerts/"
    body = {
        "name": "Support bot errors",
        "metric": "error_rate",
        "flow": flow["id"],
        "threshold": 50,
        "window_minutes": 5,
        "min_runs": 3,
        "webhook_url": receiver.url,
    }
    created = org_a.client().post(base, body, format="json")
    assert created.status_code == 201, created.json()
    rule, secret = created.json(), created.json()["webhook_secret"]
    assert secret.startswith("whsec_") and "webhook_secret" not in org_a.client().get(f"{base}{rule['id']}/").json()

    now = timezone.now()
    _runs(org_a, flow["id"], at=now - timedelta(minutes=1), status="completed", count=1)
    assert alert_rules_evaluate(now) == 0  # one run: too few to judge a rate
    _runs(org_a, flow["id"], at=now - timedelta(minutes=1), status="failed", count=3)  # the burst
    assert alert_rules_evaluate(now) == 1
    stored = AlertRule.objects.get(pk=rule["id"])
    assert (stored.state, stored.last_value) == ("firing", 75.0)
    assert alert_rules_evaluate(now) == 0  # still firing: no second event

    later = now + timedelta(minutes=7)
    _runs(org_a, flow["id"], at=later - timedelta(minutes=1), status="completed", count=4)
    assert alert_rules_evaluate(later) == 1
    assert AlertRule.objects.get(pk=rule["id"]).state == "ok"

    # The first call got a 500 and was retried; both events arrived signed.
    assert len(receiver.calls) == 3
    firing = _verified(secret, *receiver.calls[1])
    resolved = _verified(secret, *receiver.calls[2])
    assert receiver.calls[0][1] == receiver.calls[1][1]  # the same event, again
    assert (firing["type"], firing["value"], firing["threshold"]) == ("alert.firing", 75.0, 50.0)
    assert (resolved["type"], resolved["value"], resolved["rule"]["name"]) == ("alert.resolved", 0.0, body["name"])

    history = org_a.client().get(f"{base}{rule['id']}/events/").json()
    assert [e["kind"] for e in history] == ["resolved", "firing"]
    assert [(d["attempt"], d["status_code"], d["delivered"]) for d in history[1]["deliveries"]] == [
        (1, 500, False),
        (2, 204, True),
    ]
    assert WebhookDelivery.objects.filter(delivered=True).count() == 2


def test_alert_webhook_to_a_private_address_is_refused_by_the_egress_guard(
    org_a: Member, publish_flow: Callable[..., Any]
) -> None:
    flow = publish_flow(publish=False)
    url = f"/api/v1/orgs/{org_a.organization.id}/alerts/"
    metadata = "http://169.254.169.254/latest"
    refused = org_a.client().post(
        url, {"name": "cost", "metric": "cost", "threshold": 0, "webhook_url": metadata}, format="json"
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "egress_refused")  # refused on save
    created = org_a.client().post(url, {"name": "cost", "metric": "cost", "threshold": 0}, format="json")
    assert created.status_code == 201, created.json()
    AlertRule.objects.filter(pk=created.json()["id"]).update(webhook_url=metadata)  # and on delivery
    _runs(org_a, flow["id"], at=timezone.now() - timedelta(minutes=1), status="completed", count=1)
    Run.objects.update(cost=1)
    assert alert_rules_evaluate() == 1
    [delivery] = WebhookDelivery.objects.all()  # refused once, not retried
    assert not delivery.delivered and delivery.status_code is None and delivery.error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "metric": "nope", "threshold": 1}, "metric"),
        ({"name": "x", "metric": "cost", "threshold": 1, "window_minutes": 0}, "window_minutes"),
        ({"name": "x", "metric": "cost", "threshold": -1}, "threshold"),
        ({"name": "x", "metric": "cost", "threshold": 1, "webhook_url": "ftp://x"}, "webhook_url"),
        ({"name": "x", "metric": "cost", "threshold": 1, "secret": "mine"}, "secret"),
    ],
)
def test_alert_rule_bad_input(org_a: Member, body: dict[str, Any], field: str) -> None:
    response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/alerts/", body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"], response.json()


def test_alert_rules_need_an_editor_and_are_tenant_scoped(
    org_a: Member, org_b: Member, add_member: Callable[..., Member]
) -> None:
    base = f"/api/v1/orgs/{org_a.organization.id}/alerts/"
    body = {"name": "cost", "metric": "cost", "threshold": 20, "window_minutes": 1440}
    viewer = add_member(org_a.organization, "viewer")
    assert viewer.client().post(base, body, format="json").status_code == 403
    rule = org_a.client().post(base, body, format="json").json()
    assert org_a.client().patch(f"{base}{rule['id']}/", {"threshold": 30}, format="json").json()["threshold"] == 30
    other = org_b.client()
    for url in (base, f"{base}{rule['id']}/", f"{base}{rule['id']}/events/"):
        assert other.get(url).status_code == 404, url
    other_base = f"/api/v1/orgs/{org_b.organization.id}/alerts/"
    assert other.get(f"{other_base}{rule['id']}/").status_code == 404
    assert other.delete(f"{other_base}{rule['id']}/").status_code == 404
    assert org_a.client().delete(f"{base}{rule['id']}/").status_code == 204
