"""Origins: normalising what admins type, matching what browsers send, and the caller's IP."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


class BadOrigin(ValueError):
    pass


def normalize_origin(raw: str) -> str:
    """`https://Example.com:443/` -> `https://example.com`; `https://*.example.com` is allowed."""
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BadOrigin(f"{raw!r} is not an origin like https://example.com")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username or parts.password:
        raise BadOrigin(f"{raw!r}: an origin has no path, query or credentials")
    host = parts.hostname.lower()
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:] and "." in host[2:]):
        raise BadOrigin(f"{raw!r}: a wildcard may only be the first label, as in https://*.example.com")
    try:
        port = parts.port
    except ValueError:
        raise BadOrigin(f"{raw!r}: bad port") from None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_matches(origin: str | None, allowed: Iterable[str]) -> bool:
    """A missing or malformed Origin never matches."""
    if not origin or origin == "null":
        return False
    try:
        normalized = normalize_origin(origin)
    except BadOrigin:
        return False
    if "*" in normalized:
        return False
    scheme, _, rest = normalized.partition("://")
    for entry in allowed:
        if entry == normalized:
            return True
        if entry.startswith(f"{scheme}://*."):
            suffix = entry[len(scheme) + 4 :]  # ".example.com[:port]"
            if rest.endswith(suffix) and len(rest) > len(suffix):
                return True
    return False


def own_origin(scheme: str, host_header: str) -> str | None:
    """The Trellis server's own origin as the browser sees it (for the hosted chat page)."""
    try:
        return normalize_origin(f"{scheme}://{host_header}")
    except BadOrigin:
        return None


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.TRUSTED_PROXIES:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(remote_addr: str | None, headers: Mapping[str, str]) -> str:
    """The visitor's address. X-Forwarded-For is read only when the peer is a configured proxy,
    right to left, skipping trusted proxies; anybody else's header is ignored (it is forgeable)."""
    address = remote_addr or "unknown"
    if not _trusted(address):
        return address
    forwarded = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address
    return address
