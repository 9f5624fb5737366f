"""Finding 5 of the security review: throttles keyed on a header the client controls.

The client IP comes from one place (apps.config.client_ip): `X-Forwarded-For` counts only from
TRELLIS_TRUSTED_PROXIES, for the sign-in throttle, widget limits and the audit log alike; uvicorn
gets the same list as --forwarded-allow-ips. Sign-in is throttled per account and per IP with
exponential back-off, and an account's lock is audited.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.config.client_ip import client_ip, forwarded_allow_ips
from apps.tenancy import throttle
from apps.tenancy.models import AuditEvent
from tests.conftest import PASSWORD, Member
from tests.support.asgi_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_throttle() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _login(username: str, password: str, **headers: str) -> Any:
    return APIClient(**headers).post("/api/v1/auth/login/", {"username": username, "password": password}, format="json")


def test_login_throttle_cannot_be_dodged_with_x_forwarded_for(org_a: Member) -> None:
    statuses = [
        _login(org_a.user.username, f"wrong {i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(12)
    ]
    assert statuses[:5] == [400] * 5
    assert 429 in statuses[5:], statuses
    locked = _login(org_a.user.username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert locked.status_code == 429  # even the right password waits out the lock
    assert locked.json()["code"] == "too_many_attempts" and int(locked["Retry-After"]) >= 1


def test_login_throttle_per_ip_covers_many_usernames(make_user: Callable[..., User]) -> None:
    for i in range(throttle.FREE_IP_FAILURES):
        assert _login(f"nobody-{i}", "guess").status_code == 400
    assert _login("nobody-next", "guess").status_code == 429
    user = make_user("elsewhere")
    assert _login(user.username, PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 200  # another IP is fine


def test_login_throttle_backs_off_exponentially_and_a_success_resets_the_account() -> None:
    now = 1_000_000.0
    locks = [throttle.record_failure(username="carol", ip=f"192.0.2.{i}", now=now).account_lock_s for i in range(9)]
    assert locks == [0, 0, 0, 0, 0, 1, 2, 4, 8]
    assert throttle.retry_after(username="carol", ip="192.0.2.200", now=now) == 8
    assert throttle.retry_after(username="carol", ip="192.0.2.200", now=now + 8.5) == 0
    throttle.record_success(username="carol")
    assert throttle.record_failure(username="carol", ip="192.0.2.201", now=now).account_lock_s == 0


def test_login_throttle_lock_is_audited_in_the_accounts_organizations(org_a: Member) -> None:
    for i in range(throttle.FREE_ACCOUNT_FAILURES + 1):
        _login(org_a.user.username, f"wrong {i}")
    event = AuditEvent.objects.get(action="auth.login_throttled")
    assert event.organization == org_a.organization
    assert event.data["user"] == org_a.user.username and event.ip == "127.0.0.1"


def test_client_ip_believes_forwarded_for_only_from_trusted_proxies(settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_ip("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}) == "127.0.0.1"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip("10.1.2.3", {"x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.0.0.7"}) == "203.0.113.9"
    assert client_ip("192.0.2.1", {"x-forwarded-for": "203.0.113.9"}) == "192.0.2.1"


def test_audit_and_throttle_use_the_forwarded_client_behind_a_trusted_proxy(settings: Any, org_a: Member) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    for i in range(throttle.FREE_ACCOUNT_FAILURES + 1):
        _login(org_a.user.username, f"wrong {i}", HTTP_X_FORWARDED_FOR="203.0.113.77")
    assert AuditEvent.objects.get(action="auth.login_throttled").ip == "203.0.113.77"


def test_serve_hands_uvicorn_the_trusted_proxies(settings: Any) -> None:
    source = (ROOT / "apps/config/management/commands/serve.py").read_text()
    assert re.search(r'"--forwarded-allow-ips",\s*",".join\(settings\.TRUSTED_PROXIES\)', source)
    settings.TRUSTED_PROXIES = []
    assert forwarded_allow_ips() == ""
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7/32"]
    assert forwarded_allow_ips() == "10.0.0.0/8,192.0.2.7/32"


async def _peer_seen(forwarded_allow: str | None) -> str:
    """What a real uvicorn reports as the client when a loopback peer sends X-Forwarded-For."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = str(scope["client"][0]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", forwarded_allow_ips=forwarded_allow
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.5"})
            return response.text
    finally:
        server.should_exit = True
        await serving


async def test_uvicorn_with_the_setting_ignores_forwarded_for_from_loopback() -> None:
    assert await _peer_seen(None) == "203.0.113.5"  # uvicorn's default: a sidecar could pick any IP
    assert await _peer_seen("") == "127.0.0.1"  # what serve passes by default


@pytest.mark.parametrize("bad", ["not-an-ip", "10.0.0.0/33", "203.0.113.5,evil"])
def test_trusted_proxies_setting_refuses_bad_entries(bad: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        check=False,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "TRELLIS_TRUSTED_PROXIES": bad,
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TRELLIS_TRUSTED_PROXIES" in result.stderr
