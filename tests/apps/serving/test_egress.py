"""Invariant 6: outbound HTTP on behalf of flows refuses private, loopback and metadata addresses,
on the first hop and on every redirect, and connects only to the address it vetted."""

from __future__ import annotations

import ipaddress
import json

import pytest

from apps.serving.egress import MAX_BODY_BYTES, EgressClient, address_problem
from flows.errors import EgressRefused
from tests.apps.serving.conftest import StubServer

REFUSED_URLS = [
    "http://127.0.0.1/",  # loopback
    "http://127.8.9.10:8080/x",
    "http://10.1.2.3/",  # private
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://169.254.10.10/",  # link-local
    "http://100.64.0.1/",  # shared / CGNAT
    "http://100.127.255.254/",
    "http://0.0.0.0/",  # unspecified
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://192.0.2.1/",  # documentation: not global
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[fe80::1]/",
    "http://[fc00::1]/",  # unique local
    "http://[ff02::1]/",  # multicast
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://2130706433/",  # 127.0.0.1 written as one number
    "http://0x7f.1/",
    "http://localhost/",
    "http://LOCALHOST:8000/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_egress_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        await EgressClient(allow=[]).request("GET", url)
    assert caught.value.code == "egress_refused", caught.value.message


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("10.0.0.1", "a private address"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_egress_address_problem_names_the_range(address: str, reason: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "not a url"])
async def test_egress_refuses_other_schemes(url: str) -> None:
    with pytest.raises(EgressRefused):
        await EgressClient(allow=[]).request("GET", url)


async def test_egress_refuses_unknown_methods(stub: StubServer) -> None:
    with pytest.raises(EgressRefused):
        await EgressClient(allow=[stub.pair]).request("CONNECT", f"{stub.origin}/ok")


async def test_egress_refuses_a_private_server_that_is_not_allowed(stub: StubServer) -> None:
    with pytest.raises(EgressRefused):
        await EgressClient(allow=[]).request("GET", f"{stub.origin}/ok")
    assert stub.seen == []


async def test_egress_allowed_pair_is_reached(stub: StubServer) -> None:
    status, text = await EgressClient(allow=[stub.pair]).request("GET", f"{stub.origin}/ok")
    assert (status, text) == (200, "hello")


async def test_egress_allow_list_is_exact_host_and_port(stub: StubServer) -> None:
    for allow in [f"127.0.0.1:{stub.port + 1}", "127.0.0.1", f"localhost:{stub.port}"]:
        with pytest.raises(EgressRefused):
            await EgressClient(allow=[allow]).request("GET", f"{stub.origin}/ok")
    assert stub.seen == []


async def test_egress_allow_list_comes_from_settings(stub: StubServer, settings: object) -> None:
    settings.EGRESS_ALLOW = [stub.pair]  # type: ignore[attr-defined]
    assert (await EgressClient().request("GET", f"{stub.origin}/ok"))[0] == 200


async def test_egress_connects_to_the_vetted_address_with_the_original_host(stub: StubServer) -> None:
    client = EgressClient(allow=[f"localhost:{stub.port}"])
    status, text = await client.request("GET", f"http://localhost:{stub.port}/headers", headers={"Host": "evil.test"})
    assert status == 200
    assert json.loads(text)["host"] == f"localhost:{stub.port}"


async def test_egress_sends_method_headers_and_body(stub: StubServer) -> None:
    client = EgressClient(allow=[stub.pair])
    status, _ = await client.request("POST", f"{stub.origin}/v1/chat/completions", headers={"X-Flow": "1"}, body="{}")
    assert status == 200
    seen = stub.seen[-1]
    assert (seen.method, seen.body, seen.headers["x-flow"]) == ("POST", b"{}", "1")


async def test_egress_refuses_a_redirect_into_a_private_address(stub: StubServer, other_stub: StubServer) -> None:
    client = EgressClient(allow=[stub.pair])
    for target in [f"{other_stub.origin}/ok", "http://169.254.169.254/latest/meta-data/", "http://localhost/"]:
        with pytest.raises(EgressRefused) as caught:
            await client.request("GET", f"{stub.origin}/redirect?to={target}")
        assert caught.value.code == "egress_refused"
    assert other_stub.seen == []


async def test_egress_follows_redirects_it_may_follow(stub: StubServer) -> None:
    status, text = await EgressClient(allow=[stub.pair]).request("GET", f"{stub.origin}/redirect?to=/ok")
    assert (status, text) == (200, "hello")


async def test_egress_303_turns_post_into_get(stub: StubServer) -> None:
    client = EgressClient(allow=[stub.pair])
    status, _ = await client.request("POST", f"{stub.origin}/redirect?status=303&to=/ok", body="data")
    assert status == 200
    assert [(seen.method, seen.path) for seen in stub.seen] == [("POST", "/redirect"), ("GET", "/ok")]


async def test_egress_drops_credentials_on_a_redirect_to_another_origin(
    stub: StubServer, other_stub: StubServer
) -> None:
    client = EgressClient(allow=[stub.pair, other_stub.pair])
    secret = {"Authorization": "Bearer secret", "Cookie": "a=b"}
    status, text = await client.request("GET", f"{stub.origin}/redirect?to={other_stub.origin}/headers", headers=secret)
    assert status == 200
    assert "authorization" not in json.loads(text)
    assert "cookie" not in json.loads(text)
    assert stub.seen[0].headers["authorization"] == "Bearer secret"


async def test_egress_stops_after_five_redirects(stub: StubServer) -> None:
    with pytest.raises(EgressRefused) as caught:
        await EgressClient(allow=[stub.pair]).request("GET", f"{stub.origin}/loop")
    assert caught.value.code == "egress_redirects"
    assert len(stub.seen) == 6  # the request and five redirects, no more


async def test_egress_cuts_an_oversized_body(stub: StubServer) -> None:
    status, text = await EgressClient(allow=[stub.pair]).request("GET", f"{stub.origin}/big?bytes={3 * MAX_BODY_BYTES}")
    assert status == 200
    assert len(text) == MAX_BODY_BYTES


async def test_egress_times_out_a_slow_server(stub: StubServer) -> None:
    with pytest.raises(EgressRefused) as caught:
        await EgressClient(allow=[stub.pair], total_timeout=0.5).request("GET", f"{stub.origin}/slow?s=3")
    assert caught.value.code == "egress_timeout"


async def test_egress_reports_an_unreachable_server() -> None:
    from tests.apps.serving.conftest import free_port

    port = free_port()
    with pytest.raises(EgressRefused) as caught:
        await EgressClient(allow=[f"127.0.0.1:{port}"]).request("GET", f"http://127.0.0.1:{port}/")
    assert caught.value.code == "egress_failed"
