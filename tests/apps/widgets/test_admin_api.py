"""The widget settings API: roles, validation, key rotation, analytics, tenant isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.runs.models import Run
from apps.tenancy.models import AuditEvent, Role
from apps.widgets.models import Feedback, Visitor, Widget, WidgetRun
from tests.apps.builder.conftest import create_flow, publish
from tests.apps.widgets.conftest import SITE, open_session
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)  # the public views read in their own DB thread


@pytest.fixture
def flow(org_a: Member) -> dict[str, Any]:
    created = create_flow(org_a, "Support bot")
    publish(org_a, created)
    return created


def _base(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/widgets/"


def test_widget_create_normalizes_origins_and_audits(org_a: Member, flow: dict[str, Any]) -> None:
    body = {
        "flow": flow["id"],
        "allowed_origins": ["https://Shop.Example.com/", "https://shop.example.com", "http://127.0.0.1:8080"],
        "appearance": {"title": "Help", "primary_color": "#112233", "suggestions": ["Hours?"]},
    }
    response = org_a.client().post(_base(org_a), body, format="json")
    assert response.status_code == 201, response.json()
    widget = response.json()
    assert widget["allowed_origins"] == ["https://shop.example.com", "http://127.0.0.1:8080"]
    assert widget["public_key"].startswith("wpk_") and widget["name"] == "Support bot"
    assert widget["appearance"]["title"] == "Help" and widget["appearance"]["greeting"]  # defaults kept
    assert widget["published_version"] == 1 and widget["pinned_version"] is None
    assert AuditEvent.objects.filter(action="widget.create").exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"allowed_origins": ["not an origin"]},
        {"appearance": {"primary_color": "red; background:url(x)"}},
        {"appearance": {"avatar_url": "javascript:alert(1)"}},
        {"appearance": {"avatar_url": "http://insecure.example.com/a.png"}},
        {"pinned_version": 99},
        {"graph": {"nodes": []}},
    ],
)
def test_widget_create_refuses_bad_settings(org_a: Member, flow: dict[str, Any], bad: dict[str, Any]) -> None:
    response = org_a.client().post(_base(org_a), {"flow": flow["id"], **bad}, format="json")
    assert response.status_code in (400, 404), response.json()
    assert not Widget.objects.exists()


def test_widget_viewer_reads_but_cannot_change(
    org_a: Member, flow: dict[str, Any], add_member: Callable[..., Member]
) -> None:
    viewer = add_member(org_a.organization, Role.VIEWER)
    assert viewer.client().post(_base(org_a), {"flow": flow["id"]}, format="json").status_code == 403
    created = org_a.client().post(_base(org_a), {"flow": flow["id"]}, format="json").json()
    assert viewer.client().get(_base(org_a)).status_code == 200
    assert viewer.client().patch(f"{_base(org_a)}{created['id']}/", {"name": "x"}, format="json").status_code == 403


def test_widget_rotate_key_kills_the_old_key_and_its_sessions(org_a: Member, flow: dict[str, Any]) -> None:
    created = org_a.client().post(_base(org_a), {"flow": flow["id"], "allowed_origins": [SITE]}, format="json").json()
    assert open_session(APIClient(), created["public_key"]).status_code == 200
    rotated = org_a.client().post(f"{_base(org_a)}{created['id']}/rotate-key/").json()
    assert rotated["public_key"] != created["public_key"]
    assert open_session(APIClient(), created["public_key"]).status_code == 404
    assert open_session(APIClient(), rotated["public_key"]).status_code == 200


def test_widget_pin_and_disable(org_a: Member, flow: dict[str, Any]) -> None:
    created = org_a.client().post(_base(org_a), {"flow": flow["id"], "allowed_origins": [SITE]}, format="json").json()
    publish(org_a, flow)  # v2
    url = f"{_base(org_a)}{created['id']}/"
    assert org_a.client().get(url).json()["published_version"] == 2
    pinned = org_a.client().patch(url, {"pinned_version": 1}, format="json").json()
    assert pinned["pinned_version"] == 1 and pinned["published_version"] == 1
    org_a.client().patch(url, {"enabled": False}, format="json")
    assert open_session(APIClient(), created["public_key"]).status_code == 404


def test_widget_analytics_counts_per_day(org_a: Member, flow: dict[str, Any]) -> None:
    created = org_a.client().post(_base(org_a), {"flow": flow["id"]}, format="json").json()
    widget = Widget.objects.get(pk=created["id"])
    visitor = Visitor.objects.create(widget=widget)
    for rating, tokens in ((1, 10), (-1, 20), (None, 30)):
        run = Run.objects.create(
            organization=org_a.organization,
            flow_id=flow["id"],
            source="widget",
            input_tokens=tokens,
            output_tokens=1,
            cost="0.5",
        )
        WidgetRun.objects.create(run=run, widget=widget, visitor=visitor)
        if rating:
            Feedback.objects.create(run=run, widget=widget, rating=rating)
    body = org_a.client().get(f"{_base(org_a)}{created['id']}/analytics/?days=7").json()
    assert len(body["days"]) == 7
    assert body["totals"]["messages"] == 3 and body["totals"]["input_tokens"] == 60
    assert body["totals"]["thumbs_up"] == 1 and body["totals"]["thumbs_down"] == 1
    assert float(body["totals"]["cost"]) == 1.5
    assert body["days"][-1]["messages"] == 3


def test_widget_isolation_other_tenant_ids_answer_404_and_change_nothing(
    org_a: Member, org_b: Member, api_key_for: Callable[..., str]
) -> None:
    theirs = create_flow(org_b, "Their flow")
    publish(org_b, theirs)
    their_widget = org_b.client().post(_base(org_b), {"flow": theirs["id"]}, format="json").json()
    mine = create_flow(org_a, "Mine")
    before = list(Widget.objects.values_list("id", "name", "public_key", "flow_id").order_by("id"))
    key_client = APIClient(HTTP_AUTHORIZATION=f"Bearer {api_key_for(org_a, Role.ADMIN)}")
    for client in (org_a.client(), key_client):
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("get", _base(org_b), {}),
            ("post", _base(org_b), {"flow": theirs["id"]}),
            ("post", _base(org_a), {"flow": theirs["id"]}),  # their flow through our org
        ]
        for org in (org_b, org_a):
            url = f"{_base(org)}{their_widget['id']}/"
            requests += [
                ("get", url, {}),
                ("patch", url, {"name": "pwned"}),
                ("delete", url, {}),
                ("post", f"{url}rotate-key/", {}),
                ("get", f"{url}analytics/", {}),
            ]
        for method, url, body in requests:
            response = getattr(client, method)(url, body, format="json")
            assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        # Pointing our widget at their flow is refused too.
        ours = org_a.client().post(_base(org_a), {"flow": mine["id"]}, format="json").json()
        moved = client.patch(f"{_base(org_a)}{ours['id']}/", {"flow": theirs["id"]}, format="json")
        assert moved.status_code == 404
        Widget.objects.filter(pk=ours["id"]).delete()
    after = list(Widget.objects.values_list("id", "name", "public_key", "flow_id").order_by("id"))
    assert after == before


def test_widget_hosted_page_sets_csp_and_frame_ancestors(org_a: Member, flow: dict[str, Any]) -> None:
    created = org_a.client().post(_base(org_a), {"flow": flow["id"], "allowed_origins": [SITE]}, format="json").json()
    response = APIClient().get(f"/w/{created['public_key']}/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert f"frame-ancestors 'self' {SITE}" in csp
    assert "X-Frame-Options" not in response  # frame-ancestors decides
    assert f'data-key="{created["public_key"]}"' in response.content.decode()
    assert APIClient().get("/w/wpk_unknown/").status_code == 404
