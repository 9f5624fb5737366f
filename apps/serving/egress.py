"""The one outbound policy for every server-side request (DESIGN invariant 6), and the HTTP
client that flows use.

`EgressPolicy` is the rule: a host is resolved and refused when ANY address it resolves to is
loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT 100.64/10) or a
cloud metadata address, unless the instance operator allows its exact `host:port` pair
(TRELLIS_EGRESS_ALLOW). Every client that connects on a tenant's behalf asks it for the address
to connect to, after DNS resolution and again on every redirect: the model clients
(apps/serving/httpstream.py, streaming.py), embedding endpoints (apps/knowledge/embeddings.py)
and `EgressClient` below. Only the instance's own model servers (the builtin `local` endpoint
and managed deployments, whose addresses come from the instance, not from a tenant's URL) skip
it, by construction: the caller passes no policy.

`EgressClient` implements flows.ports.HttpClient. Before every hop (the first request and each
redirect, followed by hand) it resolves the host and refuses when ANY address it resolves to is
loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT 100.64/10) or a
cloud metadata address, IPv4 addresses embedded in IPv6 (mapped, 6to4, NAT64) included. It then
connects to the vetted address itself, sending the original Host header (and TLS server name),
so a DNS answer that changes between the check and the connection (DNS rebinding) is never used.
Settings.EGRESS_ALLOW lets exact host:port pairs through (tests reach a local server that way).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping

import httpx
from django.conf import settings

from flows.errors import EgressRefused

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 15.0
MAX_BODY_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers the client sets itself; a caller's copy would confuse the server or the pinning.
CONTROLLED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "proxy-authorization"}
)
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_NETWORK:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why a flow may not connect to `address`, or None for a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)  # the socket connects to the IPv4 address itself
    embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    if embedded is not None and (problem := address_problem(embedded)):
        return problem
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in SHARED_NETWORK, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def parse_allow(pairs: Iterable[str]) -> frozenset[str]:
    return frozenset(pair.strip().lower() for pair in pairs if pair.strip())


class EgressPolicy:
    """Which addresses a server-side request may connect to (see the module docstring)."""

    def __init__(self, allow: Iterable[str] | None = None) -> None:
        self.allow = parse_allow(settings.EGRESS_ALLOW if allow is None else allow)

    def allows_pair(self, host: str, port: int) -> bool:
        return _pair(host.lower().rstrip(".").strip("[]"), port) in self.allow

    def vet(self, host: str, port: int, addresses: Iterable[str]) -> str:
        """The address to connect to among `addresses` (what `host` resolved to), or EgressRefused."""
        found = list(dict.fromkeys(str(address).split("%", 1)[0] for address in addresses))
        shown = host.lower().rstrip(".").strip("[]")
        if not found:
            raise EgressRefused(f"Cannot resolve {shown}.", code="egress_failed")
        if not self.allows_pair(shown, port):
            for address in found:
                if problem := address_problem(ipaddress.ip_address(address)):
                    raise EgressRefused(
                        f"Refused: {shown} is {problem}; server-side requests may only reach public addresses "
                        "(or host:port pairs the operator allows in TRELLIS_EGRESS_ALLOW)."
                    )
        return found[0]

    async def resolve(self, host: str, port: int) -> str:
        """Resolve `host` on the event loop and vet every address; the one to connect to."""
        name = host.strip("[]")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise EgressRefused(f"Cannot resolve {host}.", code="egress_failed") from None
        return self.vet(host, port, (str(info[4][0]) for info in infos))

    def resolve_sync(self, host: str, port: int) -> str:
        name = host.strip("[]")
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise EgressRefused(f"Cannot resolve {host}.", code="egress_failed") from None
        return self.vet(host, port, (str(info[4][0]) for info in infos))

    def check_url(self, url: str) -> None:
        """For a URL being saved (a model or embedding endpoint): EgressRefused when its host is
        refused now. A name that does not resolve yet passes; every connection is vetted again."""
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise EgressRefused("Not a valid URL.") from None
        if target.scheme not in DEFAULT_PORTS or not target.host:
            raise EgressRefused("Only http and https URLs with a host are allowed.")
        _, port = _host_port(target)
        try:
            self.resolve_sync(target.raw_host.decode("ascii"), port)
        except EgressRefused as refused:
            if refused.code != "egress_failed":
                raise


def vetted_post_sync(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    policy: EgressPolicy,
    max_body_bytes: int = 16 * MAX_BODY_BYTES,
) -> tuple[int, bytes]:
    """One POST through the policy from synchronous code (embedding endpoints): the host resolved
    and vetted, the connection pinned to that address (the name kept for Host and TLS), no
    redirects followed, the answer capped. Transport failures are EgressRefused(egress_failed)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise EgressRefused("Not a valid URL.") from None
    if target.scheme not in DEFAULT_PORTS or not target.host:
        raise EgressRefused("Only http and https URLs with a host are allowed.")
    _, port = _host_port(target)
    address = policy.resolve_sync(target.raw_host.decode("ascii"), port)
    sent = {k: v for k, v in headers.items() if k.lower() not in CONTROLLED_HEADERS}
    sent["Host"] = target.netloc.decode("ascii")
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST", target.copy_with(host=address), headers=sent, content=body, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > max_body_bytes:
                        raise EgressRefused("The answer is too large.", code="egress_failed")
                return response.status_code, bytes(received)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise EgressRefused(f"{target.host} did not answer in time.", code="egress_timeout") from None
    except httpx.HTTPError:
        raise EgressRefused(f"Cannot connect to {target.host}.", code="egress_failed") from None


def vetted_get_sync(
    url: str, *, headers: Mapping[str, str], timeout: float, policy: EgressPolicy, max_body_bytes: int
) -> tuple[int, dict[str, str], bytes]:
    """One GET through the policy from synchronous code (the knowledge crawler): like
    `vetted_post_sync`, pinned to the vetted address, no redirects followed (the caller vets each
    hop again by calling this for it), the answer capped. -> (status, lower-cased headers, body)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise EgressRefused("Not a valid URL.") from None
    if target.scheme not in DEFAULT_PORTS or not target.host:
        raise EgressRefused("Only http and https URLs with a host are allowed.")
    _, port = _host_port(target)
    address = policy.resolve_sync(target.raw_host.decode("ascii"), port)
    sent = {k: v for k, v in headers.items() if k.lower() not in CONTROLLED_HEADERS}
    sent["Host"] = target.netloc.decode("ascii")
    sent.setdefault("Accept-Encoding", "identity")
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request("GET", target.copy_with(host=address), headers=sent, extensions=extensions)
            response = client.send(request, stream=True)
            try:
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > max_body_bytes:
                        raise EgressRefused("The answer is too large.", code="egress_too_large")
                answer = {k.lower(): v for k, v in response.headers.items()}
                return response.status_code, answer, bytes(received)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise EgressRefused(f"{target.host} did not answer in time.", code="egress_timeout") from None
    except httpx.HTTPError:
        raise EgressRefused(f"Cannot connect to {target.host}.", code="egress_failed") from None


def _host_port(url: httpx.URL) -> tuple[str, int]:
    return url.host.lower().rstrip("."), url.port or DEFAULT_PORTS[url.scheme]


def _pair(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class EgressClient:
    """flows.ports.HttpClient: `await client.request("GET", url)` -> (status, text)."""

    def __init__(
        self,
        *,
        allow: Iterable[str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        total_timeout: float = TOTAL_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.policy = EgressPolicy(allow)
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_body_bytes = max_body_bytes
        self.max_redirects = max_redirects

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None
    ) -> tuple[int, str]:
        method = method.upper()
        if method not in METHODS:
            raise EgressRefused(f"The method {method} is not allowed.")
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise EgressRefused("Not a valid URL.") from None
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._follow(method, target, dict(headers or {}), body)
        except TimeoutError:
            raise EgressRefused(f"No complete answer within {self.total_timeout:g} s.", code="egress_timeout") from None

    async def _follow(self, method: str, url: httpx.URL, headers: dict[str, str], body: str | None) -> tuple[int, str]:
        timeout = httpx.Timeout(self.total_timeout, connect=self.connect_timeout)
        # trust_env=False: a proxy from the environment would connect by name and undo the pinning.
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for _ in range(self.max_redirects + 1):
                address = await self._vet(url)
                request = self._pinned_request(client, method, url, address, headers, body)
                try:
                    response = await client.send(request, stream=True)
                except httpx.TimeoutException:
                    raise EgressRefused(f"{url.host} did not answer in time.", code="egress_timeout") from None
                except httpx.HTTPError:
                    raise EgressRefused(f"Cannot connect to {url.host}.", code="egress_failed") from None
                try:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or not location:
                        return response.status_code, await self._read_capped(response)
                finally:
                    await response.aclose()
                next_url = url.join(location)
                if response.status_code == 303 or (response.status_code in {301, 302} and method == "POST"):
                    method, body = "GET", None
                if (next_url.scheme, *_host_port(next_url)) != (url.scheme, *_host_port(url)):
                    headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
                url = next_url
        raise EgressRefused(f"More than {self.max_redirects} redirects.", code="egress_redirects")

    async def _vet(self, url: httpx.URL) -> str:
        """The address to connect to, after checking every address the host resolves to."""
        if url.scheme not in DEFAULT_PORTS:
            raise EgressRefused(f"Only http and https URLs are allowed, not {url.scheme or 'none'}.")
        if not url.host:
            raise EgressRefused("The URL has no host.")
        _, port = _host_port(url)
        return await self.policy.resolve(url.raw_host.decode("ascii"), port)

    @staticmethod
    def _pinned_request(
        client: httpx.AsyncClient,
        method: str,
        url: httpx.URL,
        address: str,
        headers: Mapping[str, str],
        body: str | None,
    ) -> httpx.Request:
        sent = {k: v for k, v in headers.items() if k.lower() not in CONTROLLED_HEADERS}
        sent["Host"] = url.netloc.decode("ascii")
        if not any(k.lower() == "accept-encoding" for k in sent):
            sent["Accept-Encoding"] = "identity"  # so the size cap counts what the server sends
        extensions = {}
        if url.scheme == "https" and not _is_ip(url.host):
            extensions["sni_hostname"] = url.raw_host.decode("ascii")  # SNI and certificate check use the name
        return client.build_request(
            method,
            url.copy_with(host=address),
            headers=sent,
            content=body.encode() if body is not None else None,
            extensions=extensions,
        )

    async def _read_capped(self, response: httpx.Response) -> str:
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk[: self.max_body_bytes - len(received)]
            if len(received) >= self.max_body_bytes:
                break  # the rest is never read: closing the response drops the connection
        encoding = response.charset_encoding or "utf-8"
        try:
            return bytes(received).decode(encoding, errors="replace")
        except LookupError:
            return bytes(received).decode("utf-8", errors="replace")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
