"""Origins, client addresses behind proxies, signed tokens and rate-limit windows (no model)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core import signing

from apps.widgets.errors import RateLimited
from apps.widgets.models import Widget
from apps.widgets.origins import BadOrigin, client_ip, normalize_origin, origin_matches
from apps.widgets.ratelimit import rate_limit_hit
from apps.widgets.tokens import (
    SESSION_SALT,
    SessionInvalid,
    WidgetSession,
    session_from_token,
    session_token,
    visitor_credential,
    visitor_from_credential,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Example.com/", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("https://*.example.com", "https://*.example.com"),
    ],
)
def test_origin_normalize(raw: str, expected: str) -> None:
    assert normalize_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "example.com",
        "javascript:alert(1)",
        "https://example.com/path",
        "https://a.*.com",
        "ftp://x.org",
        "https://u:p@x.org",
    ],
)
def test_origin_normalize_refuses_non_origins(raw: str) -> None:
    with pytest.raises(BadOrigin):
        normalize_origin(raw)


def test_origin_matches_exact_and_wildcard_only() -> None:
    allowed = ["https://example.com", "https://*.shop.org"]
    assert origin_matches("https://example.com", allowed)
    assert origin_matches("https://eu.shop.org", allowed)
    assert not origin_matches("https://shop.org", allowed)  # the wildcard needs a subdomain
    assert not origin_matches("https://evilshop.org", allowed)
    assert not origin_matches("http://example.com", allowed)  # scheme matters
    assert not origin_matches("https://example.com.evil.net", allowed)
    assert not origin_matches(None, allowed)
    assert not origin_matches("null", allowed)


def test_origin_client_ip_trusts_forwarded_for_only_from_configured_proxies(settings: Any) -> None:
    headers = {"x-forwarded-for": "198.51.100.9, 10.0.0.2"}
    settings.TRUSTED_PROXIES = []
    assert client_ip("10.0.0.1", headers) == "10.0.0.1"  # header ignored: nobody is trusted
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip("10.0.0.1", headers) == "198.51.100.9"  # rightmost untrusted hop
    assert client_ip("203.0.113.5", headers) == "203.0.113.5"  # not via our proxy: forged header ignored
    assert client_ip("10.0.0.1", {"x-forwarded-for": "not-an-ip"}) == "10.0.0.1"


def test_origin_session_token_is_signed_bound_and_expires(settings: Any) -> None:
    session = WidgetSession(uuid.uuid4(), "wpk_x", "https://example.com", None)
    token = session_token(session)
    assert session_from_token(token) == session
    forged = signing.dumps({"w": str(uuid.uuid4()), "k": "wpk_x", "o": "https://evil.net", "v": None}, salt="other")
    with pytest.raises(SessionInvalid):
        session_from_token(forged)
    with pytest.raises(SessionInvalid):
        session_from_token(token[:-2] + "xx")
    settings.WIDGET_SESSION_TTL = -1
    with pytest.raises(SessionInvalid) as caught:
        session_from_token(token)
    assert caught.value.code == "session_expired"
    assert signing.loads(token, salt=SESSION_SALT)["o"] == "https://example.com"


def test_origin_visitor_credential_belongs_to_one_widget() -> None:
    widget, visitor = uuid.uuid4(), uuid.uuid4()
    credential = visitor_credential(widget=widget, visitor=visitor)
    assert visitor_from_credential(credential, widget=widget) == visitor
    assert visitor_from_credential(credential, widget=uuid.uuid4()) is None
    assert visitor_from_credential("garbage", widget=widget) is None


@pytest.mark.django_db
def test_ratelimit_per_visitor_window_resets_and_other_widgets_are_unaffected(
    settings: Any, make_widget: Any, publish_flow: Any, endpoint: Any
) -> None:
    endpoint()
    flow = publish_flow()
    first = Widget.objects.get(pk=make_widget(flow["id"], visitor_messages_per_minute=2)["id"])
    other = Widget.objects.get(pk=make_widget(flow["id"], visitor_messages_per_minute=2)["id"])
    settings.WIDGET_RATE_WINDOW = 60
    visitor, now = uuid.uuid4(), 1_000_040.0  # 20 s into the window that starts at 1_000_020
    rate_limit_hit(widget=first, visitor=visitor, ip="203.0.113.1", now=now)
    rate_limit_hit(widget=first, visitor=visitor, ip="203.0.113.1", now=now + 1)
    with pytest.raises(RateLimited) as caught:
        rate_limit_hit(widget=first, visitor=visitor, ip="203.0.113.1", now=now + 2)
    assert caught.value.code == "rate_limited" and caught.value.retry_after == 38
    rate_limit_hit(widget=other, visitor=visitor, ip="203.0.113.1", now=now + 2)  # its own counters
    rate_limit_hit(widget=first, visitor=visitor, ip="203.0.113.1", now=now + 41)  # the next minute


@pytest.mark.django_db
def test_ratelimit_per_ip_catches_visitors_that_drop_their_identity(
    make_widget: Any, publish_flow: Any, endpoint: Any
) -> None:
    endpoint()
    widget = Widget.objects.get(pk=make_widget(publish_flow()["id"], ip_messages_per_minute=3)["id"])
    for _ in range(3):
        rate_limit_hit(widget=widget, visitor=None, ip="198.51.100.4", now=500.0)
    with pytest.raises(RateLimited) as caught:
        rate_limit_hit(widget=widget, visitor=uuid.uuid4(), ip="198.51.100.4", now=501.0)
    assert caught.value.code == "rate_limited_ip"
    rate_limit_hit(widget=widget, visitor=None, ip="198.51.100.5", now=501.0)  # another address is fine
