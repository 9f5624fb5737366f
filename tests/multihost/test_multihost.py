"""Two web hosts, one external PostgreSQL, one Redis, a queue worker: what production runs.

The tests share one cluster and run in file order: the idle sockets opened first are checked
after the others (a minute later), host A is killed and comes back before the balancer's
rolling restart.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
import websockets

from tests.apps.knowledge.files import markdown_bytes
from tests.multihost.harness import Cluster, Haproxy
from tests.support.standin import reply_tokens

TERMINAL = {"run.finished", "run.failed", "run.cancelled"}
SITE = "https://shop.example.com"
IDLE_SECONDS = 60


async def until(ws: Any, kinds: set[str], seen: list[dict[str, Any]], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        seen.append(event)
        if event["type"] in kinds:
            return dict(event)


def ws_url(base: str, path: str = "/ws/") -> str:
    return base.replace("http://", "ws://") + path


async def pong(ws: Any) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    answer = await until(ws, {"pong", "error"}, [], timeout=10)
    return bool(answer["type"] == "pong")


class IdleSockets(threading.Thread):
    """An app socket and a widget socket on host B, opened now and left idle (no frame either
    way) until `check()`, in their own event loop while the other tests run."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        host = cluster.hosts[1].url
        self.app_url, self.headers = ws_url(host), cluster.headers
        self.widget_url = ws_url(host, f"/ws/widget/{cluster.seed['widget']}/")
        self.loop = asyncio.new_event_loop()
        self.sockets: list[Any] = []
        self.opened_at = 0.0
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._open())
        self.ready.set()
        self.loop.run_forever()

    async def _open(self) -> None:
        app = await websockets.connect(self.app_url, additional_headers=self.headers, ping_interval=None)
        widget = await websockets.connect(self.widget_url, origin=SITE, ping_interval=None)  # type: ignore[arg-type]
        self.sockets = [app, widget]
        assert [await pong(ws) for ws in self.sockets] == [True, True]
        self.opened_at = time.monotonic()

    def check(self) -> list[bool]:
        future = asyncio.run_coroutine_threadsafe(self._check(), self.loop)
        return future.result(timeout=30)

    async def _check(self) -> list[bool]:
        answers = [await pong(ws) for ws in self.sockets]
        for ws in self.sockets:
            await ws.close()
        return answers


@pytest.fixture(scope="module")
def idle_sockets(cluster: Cluster) -> IdleSockets:
    sockets = IdleSockets(cluster)
    sockets.start()
    assert sockets.ready.wait(30)
    return sockets


def test_hosts_are_ready_on_redis_and_sockets_open(cluster: Cluster, idle_sockets: IdleSockets) -> None:
    for host in cluster.hosts:
        token = {"Authorization": f"Bearer {cluster.environment['METRICS_TOKEN']}"}
        body = httpx.get(f"{host.url}/readyz", headers=token, timeout=5).json()
        assert body["status"] == "ready" and body["checks"]["queue"]["backend"] == "RedisHuey", body
    assert idle_sockets.opened_at > 0


def test_run_on_a_is_followed_and_cancelled_through_b(cluster: Cluster) -> None:
    host_a, host_b = cluster.hosts

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with (
            websockets.connect(ws_url(host_a.url), additional_headers=cluster.headers) as a,
            websockets.connect(ws_url(host_b.url), additional_headers=cluster.headers) as b,
        ):
            on_a: list[dict[str, Any]] = []
            on_b: list[dict[str, Any]] = []
            flow = cluster.seed["flows"]["slow"]
            await a.send(json.dumps({"type": "run.start", "flow": flow, "inputs": {"message": "hi"}}))
            run_id = (await until(a, {"run.started"}, on_a))["run"]
            for _ in range(5):
                await until(a, {"token"}, on_a)
            await b.send(json.dumps({"type": "run.resume", "run": run_id, "after": 0}))
            for _ in range(3):
                await until(b, {"token"}, on_b)
            async with httpx.AsyncClient(headers=cluster.headers) as client:
                cancel = await client.post(cluster.api(host_b, f"runs/{run_id}/cancel/"))
            assert cancel.status_code == 202, cancel.text
            await until(a, TERMINAL, on_a)
            await until(b, TERMINAL, on_b)
            return on_a, on_b

    on_a, on_b = asyncio.run(scenario())
    assert on_a[-1]["type"] == on_b[-1]["type"] == "run.cancelled", (on_a[-1], on_b[-1])
    stored = httpx.get(cluster.api(host_b, f"runs/{on_a[0]['run']}/events/"), headers=cluster.headers).json()
    received = [e for e in on_a if "seq" in e]
    assert [(e["seq"], e["type"], e.get("data")) for e in stored] == [
        (e["seq"], e["type"], e.get("data")) for e in received
    ]
    text = "".join(e["data"]["text"] for e in received if e["type"] == "token")
    assert text and "".join(reply_tokens(200)).startswith(text)
    assert [e["seq"] for e in on_b] == list(range(1, len(on_b) + 1))  # B: every event once, in order


def test_document_uploaded_on_a_reports_progress_on_b(cluster: Cluster) -> None:
    host_a, host_b = cluster.hosts
    kb = cluster.seed["kb"]

    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(ws_url(host_b.url), additional_headers=cluster.headers) as b:
            subscribe = {"type": "knowledge.subscribe", "knowledge_base": kb}
            await b.send(json.dumps(subscribe))
            await until(b, {"knowledge.subscribed"}, [])
            async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
                files = {"files": ("coast.md", markdown_bytes(), "text/markdown")}
                upload = await client.post(cluster.api(host_a, f"knowledge-bases/{kb}/documents/"), files=files)
            assert upload.status_code == 201, upload.text
            events: list[dict[str, Any]] = []
            while not events or events[-1]["status"] not in {"ready", "failed"}:
                await until(b, {"knowledge.progress"}, events, timeout=90)
            return events

    events = asyncio.run(scenario())
    assert events[-1]["status"] == "ready" and events[-1]["chunk_count"] >= 1, events[-1]
    assert "embedding" in [e["status"] for e in events]


def test_redis_restart_mid_traffic_loses_nothing_accepted(cluster: Cluster) -> None:
    """Redis goes down in the middle of a run followed from the other host and of a document
    upload: the sockets stay, the run's events are all stored, the upload is ingested."""
    host_a, host_b = cluster.hosts
    kb = cluster.seed["kb"]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[bool], httpx.Response]:
        async with (
            websockets.connect(ws_url(host_a.url), additional_headers=cluster.headers) as a,
            websockets.connect(ws_url(host_b.url), additional_headers=cluster.headers) as b,
        ):
            on_a: list[dict[str, Any]] = []
            on_b: list[dict[str, Any]] = []
            flow = cluster.seed["flows"]["chat"]  # two seconds of tokens
            await a.send(json.dumps({"type": "run.start", "flow": flow, "inputs": {"message": "mid-outage"}}))
            run_id = (await until(a, {"run.started"}, on_a))["run"]
            await until(a, {"token"}, on_a)
            await b.send(json.dumps({"type": "run.resume", "run": run_id, "after": 0}))
            await asyncio.to_thread(cluster.redis.stop)
            async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
                files = {"files": ("outage.md", markdown_bytes("Written while Redis was down."), "text/markdown")}
                upload = await client.post(cluster.api(host_a, f"knowledge-bases/{kb}/documents/"), files=files)
            await asyncio.sleep(1)
            await asyncio.to_thread(cluster.redis.start)
            await until(a, TERMINAL, on_a)
            await until(b, TERMINAL, on_b)
            return on_a, on_b, [await pong(a), await pong(b)], upload

    on_a, on_b, answers, upload = asyncio.run(scenario())
    assert answers == [True, True]
    assert on_a[-1]["type"] == on_b[-1]["type"] == "run.finished", (on_a[-1], on_b[-1])
    stored = httpx.get(cluster.api(host_b, f"runs/{on_a[0]['run']}/events/"), headers=cluster.headers).json()
    assert [(e["seq"], e["type"]) for e in stored] == [(e["seq"], e["type"]) for e in on_a if "seq" in e]
    assert [e["seq"] for e in on_b] == [e["seq"] for e in stored]
    # The upload was accepted while the queue was unreachable: the worker's sweep ingests it.
    assert upload.status_code == 201, upload.text
    document = upload.json()[0]["document"]["id"]
    url = cluster.api(host_b, f"knowledge-bases/{kb}/documents/{document}/")
    deadline = time.monotonic() + 60
    while (status := httpx.get(url, headers=cluster.headers).json()["status"]) not in {"ready", "failed"}:
        assert time.monotonic() < deadline, f"the document accepted during the outage is still {status}"
        time.sleep(0.5)
    assert status == "ready"
    for host in cluster.hosts:
        log = host.log.read_text()
        assert "Exception in ASGI application" not in log, log[-3000:]


def test_host_killed_mid_run_client_resumes_on_b_and_run_fails_clearly(cluster: Cluster) -> None:
    host_a, host_b = cluster.hosts

    async def scenario() -> tuple[list[dict[str, Any]], float]:
        seen: list[dict[str, Any]] = []
        async with websockets.connect(ws_url(host_a.url), additional_headers=cluster.headers) as a:
            flow = cluster.seed["flows"]["slow"]
            await a.send(json.dumps({"type": "run.start", "flow": flow, "inputs": {"message": "hi"}}))
            await until(a, {"run.started"}, seen)
            for _ in range(10):
                await until(a, {"token"}, seen)
            await asyncio.sleep(0.5)  # the recorder has stored what was sent (it flushes each 0.2 s)
            killed_at = time.monotonic()
            await asyncio.to_thread(host_a.kill)
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    seen.append(json.loads(await asyncio.wait_for(a.recv(), 10)))
        async with websockets.connect(ws_url(host_b.url), additional_headers=cluster.headers) as b:
            after = max(e["seq"] for e in seen if "seq" in e)
            await b.send(json.dumps({"type": "run.resume", "run": seen[0]["run"], "after": after}))
            await until(b, TERMINAL | {"error"}, seen, timeout=60)
        return seen, time.monotonic() - killed_at

    seen, took = asyncio.run(scenario())
    final = seen[-1]
    assert final["type"] == "run.failed" and final["data"]["code"] == "worker_lost", final
    env = cluster.environment
    limit = int(env["TRELLIS_RUN_ORPHAN_SECONDS"]) + int(env["TRELLIS_PERIODIC_SECONDS"])
    assert took < limit + 10, took
    seqs = [e["seq"] for e in seen if "seq" in e]
    assert seqs == sorted(set(seqs)), "an event twice or out of order across the hosts"
    host_a.start()  # the machine comes back for the tests that follow
    host_a.wait_ready()


def test_idle_sockets_answer_after_a_minute(idle_sockets: IdleSockets) -> None:
    waited = time.monotonic() - idle_sockets.opened_at
    if waited < IDLE_SECONDS:
        time.sleep(IDLE_SECONDS - waited)
    assert idle_sockets.check() == [True, True]


class Load:
    """REST requests and WebSocket chats through the balancer until stopped; what failed."""

    def __init__(self, cluster: Cluster, url: str) -> None:
        self.cluster, self.url = cluster, url
        self.stop = asyncio.Event()
        self.rest_ok = 0
        self.rest_failed: list[str] = []
        self.chats: list[int] = []  # per socket: chats that ended
        self.reconnects: list[int] = []
        self.unfinished: list[str] = []

    async def rest(self) -> None:
        async with httpx.AsyncClient(headers=self.cluster.headers, timeout=15) as client:
            while not self.stop.is_set():
                try:
                    response = await client.get(self.cluster.api(self.url, "flows/"))
                except httpx.HTTPError as exc:
                    self.rest_failed.append(repr(exc))
                    continue
                if response.status_code == 200:
                    self.rest_ok += 1
                else:
                    self.rest_failed.append(f"{response.status_code} {response.text[:200]}")

    async def _connect(self, index: int) -> Any:
        while True:
            try:
                return await websockets.connect(ws_url(self.url), additional_headers=self.cluster.headers)
            except (OSError, websockets.InvalidHandshake):
                self.reconnects[index] += 1
                await asyncio.sleep(0.2)

    async def chats_on_one_socket(self, index: int) -> None:
        self.chats.append(0)
        self.reconnects.append(0)
        ws = await self._connect(index)
        flow = self.cluster.seed["flows"]["fast"]
        while not self.stop.is_set():
            seen: list[dict[str, Any]] = []
            run: str | None = None
            try:
                await ws.send(json.dumps({"type": "run.start", "flow": flow, "inputs": {"message": "hi"}}))
                run = (await until(ws, {"run.started"}, seen))["run"]
                await until(ws, TERMINAL, seen)
            except (websockets.ConnectionClosed, OSError):
                self.reconnects[index] += 1
                ws = await self._connect(index)
                if run is None:
                    continue  # the start never reached a host: nothing to resume
                try:  # the run may have ended on the host that went away: the other replays it
                    after = max([e["seq"] for e in seen if "seq" in e], default=0)
                    await ws.send(json.dumps({"type": "run.resume", "run": run, "after": after}))
                    await until(ws, TERMINAL, seen, timeout=45)
                except (websockets.ConnectionClosed, OSError, TimeoutError) as exc:
                    self.unfinished.append(f"{run}: {exc!r}")
                    ws = await self._connect(index)
                    continue
            self.chats[index] += 1
            await asyncio.sleep(0.1)
        await ws.close()


def test_rolling_restart_behind_haproxy_fails_no_request(cluster: Cluster) -> None:
    balancer = Haproxy(cluster.folder, cluster.hosts).start()
    try:
        load = Load(cluster, balancer.url)

        async def scenario() -> None:
            tasks = [asyncio.create_task(load.rest()) for _ in range(2)]
            tasks += [asyncio.create_task(load.chats_on_one_socket(i)) for i in range(4)]
            await asyncio.sleep(2)
            for host in cluster.hosts:  # one at a time, as an upgrade does
                await asyncio.to_thread(host.stop)
                await asyncio.to_thread(host.start)
                await asyncio.to_thread(host.wait_ready)
                await asyncio.sleep(3)  # the balancer's checks see it up (rise 2 x 1 s)
            load.stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(scenario())
    finally:
        balancer.stop()
    assert load.rest_failed == [], load.rest_failed[:5]
    assert load.rest_ok > 50, load.rest_ok
    assert load.unfinished == [], load.unfinished
    assert all(chats > 3 for chats in load.chats), load.chats  # every socket chatted on after it resumed
    assert sum(load.reconnects) >= 1, "no socket was on a restarted host: the test proved nothing"
    print(f"rolling restart: {load.rest_ok} REST ok, chats per socket {load.chats}, reconnects {load.reconnects}")
