"""The operator's allowlist for tests: stand-in servers on 127.0.0.1 are internal addresses, so
the outbound policy (apps/serving/egress.py) refuses them unless their exact host:port pair is in
TRELLIS_EGRESS_ALLOW, which is what a test server that plays "the outside world" registers."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def egress_pair(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allow_egress(url: str) -> str:
    """Adds the pair of `url` (or `host:port`) to settings.EGRESS_ALLOW for this test process and
    returns it (a session fixture's server stays allowed for the session)."""
    pair = egress_pair(url)
    if pair not in settings.EGRESS_ALLOW:
        settings.EGRESS_ALLOW = [*settings.EGRESS_ALLOW, pair]
    return pair


def nothing_listens_url() -> str:
    """A base URL (…/v1) on 127.0.0.1 where nothing listens, allowed by the operator: past the
    outbound policy, the connection itself is refused (a dead model server)."""
    from tests.support.asgi_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    allow_egress(url)
    return f"{url}/v1"
