"""Origins: normalising what admins type and matching what browsers send. The caller's IP comes
from the one helper, apps.config.client_ip (re-exported here for the widget socket)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from apps.config.client_ip import client_ip

__all__ = ["BadOrigin", "client_ip", "normalize_origin", "origin_matches", "own_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443}


class BadOrigin(ValueError):
    pass


# One DNS label; a host is labels joined by dots (an IPv6 literal is checked by ipaddress).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_FORBIDDEN = re.compile(r"[\s,;'\"<>\\^`{|}]")


def _host_ok(host: str) -> bool:
    if host.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return False
        return True
    labels = host[2:].split(".") if host.startswith("*.") else host.split(".")
    return len(host) <= 253 and all(_LABEL.match(label) for label in labels)


def normalize_origin(raw: str) -> str:
    """`https://Example.com:443/` -> `https://example.com`; `https://*.example.com` is allowed.
    Strict: one origin per entry (no commas, spaces, quotes or semicolons anywhere), a host made of
    DNS labels or an IP literal, no path, query or credentials; what passes is safe to copy into a
    Content-Security-Policy header."""
    value = raw.strip()
    if not value or _FORBIDDEN.search(value):
        raise BadOrigin(f"{raw!r} is not one origin like https://example.com (no spaces, commas or quotes)")
    parts = urlsplit(value)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BadOrigin(f"{raw!r} is not an origin like https://example.com")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username or parts.password:
        raise BadOrigin(f"{raw!r}: an origin has no path, query or credentials")
    host = parts.hostname.lower()
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:] and "." in host[2:]):
        raise BadOrigin(f"{raw!r}: a wildcard may only be the first label, as in https://*.example.com")
    if not _host_ok(host):
        raise BadOrigin(f"{raw!r}: {host!r} is not a host name or IP address")
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
