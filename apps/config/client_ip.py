"""The caller's IP address, decided in one place for throttles, widget limits and the audit log.

`X-Forwarded-For` is believed only when the peer is one of TRELLIS_TRUSTED_PROXIES (IPs or
CIDRs; empty by default, so nobody's header counts), read right to left, skipping trusted
proxies: the first address that is not a proxy is the client. Anybody else's header is ignored,
since the client writes it. `manage.py serve` hands uvicorn the same list as
`--forwarded-allow-ips`, so uvicorn never rewrites the peer address from a header this module
would not believe either (uvicorn's own default trusts loopback).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(entries: Iterable[str]) -> list[str]:
    """Normalised networks (`10.0.0.0/8`, `192.0.2.7/32`); ValueError names a bad entry."""
    networks = []
    for entry in entries:
        value = entry.strip()
        if not value:
            continue
        try:
            networks.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise ValueError(f"TRELLIS_TRUSTED_PROXIES: {value!r} is not an IP address or network") from None
    return networks


@cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(remote_addr: str | None, headers: Mapping[str, str]) -> str:
    """The client's address given the peer's (`remote_addr`) and the request headers."""
    address = remote_addr or "unknown"
    if not _trusted(address):
        return address
    forwarded = [hop.strip() for hop in (headers.get("x-forwarded-for") or "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address
    return address


def request_ip(request: Any) -> str:
    """`client_ip` of a Django (or DRF) request."""
    return client_ip(request.META.get("REMOTE_ADDR"), request.headers)


def forwarded_allow_ips() -> str:
    """uvicorn's `--forwarded-allow-ips`: exactly the trusted proxies ("" trusts nobody)."""
    return ",".join(settings.TRUSTED_PROXIES)
