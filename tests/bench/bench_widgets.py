"""Widgets: bundle size, script tag -> bubble visible on a throttled load, concurrent public chats.

    .venv/bin/python tests/bench/bench_widgets.py [--levels 10,50,100] [--tokens 30] [--loads 5]

1. widget.js size, raw and gzipped (frontend/dist-widget/widget.js; `make build` first).
2. Time from the script tag to the bubble being visible, in real Chromium with CDP network
   throttling (none / "Fast 4G" / "Slow 3G"-like), median of --loads page loads; the host page's
   DOMContentLoaded is measured too, to show the async tag does not hold the page up.
3. N visitors chatting at once through a widget (session endpoint + widget socket, each its own
   visitor), stand-in model at 30 tok/s: inter-token gap p50/p99 at the visitor, tokens lost.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import websockets
from benchlib import free_port, percentile, wait_ok

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
BUNDLE = ROOT / "frontend" / "dist-widget" / "widget.js"
PROFILES = {
    "none": None,
    "fast-4g (20 ms RTT, 9 Mbit/s)": {"latency": 20, "downloadThroughput": 9e6 / 8, "uploadThroughput": 1.5e6 / 8},
    "slow-3g (400 ms RTT, 400 kbit/s)": {
        "latency": 400,
        "downloadThroughput": 400e3 / 8,
        "uploadThroughput": 400e3 / 8,
    },
}


def bundle_size() -> None:
    raw = BUNDLE.read_bytes()
    print(
        f"widget.js: {len(raw) / 1024:.1f} KiB raw, {len(gzip.compress(raw, 9)) / 1024:.1f} KiB gzipped (aim < 50 KB)"
    )


def setup_data(env: dict[str, str], standin: str, model: str, origin: str) -> str:
    script = f"""
import django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from apps.widgets.services import widget_create
from tests.flows.graphs import chat_flow
user = User.objects.create_user("bench", "bench@example.test", "bench passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Bench")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
model_endpoint_create(access=access, alias="standin", name="stand-in", kind="chat", base_url="{standin}",
                      model="{model}")
flow = flow_create(access=access, name="bench", description="", graph=chat_flow(model="standin"))
flow_version_publish(access=access, flow_id=flow.pk, note="bench")
widget = widget_create(access=access, flow_id=flow.pk, data={{
    "allowed_origins": ["{origin}"], "visitor_messages_per_minute": 1000, "ip_messages_per_minute": 100000,
    "tokens_per_day": 2000000000}})
print(widget.public_key)
"""
    return subprocess.check_output([PY, "-c", script], cwd=ROOT, env=env, text=True).split()[-1]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def time_to_bubble(server: str, key: str, site_dir: Path, site: str, loads: int) -> None:
    from playwright.sync_api import sync_playwright

    (site_dir / "index.html").write_text(
        "<!doctype html><html><head><script>window.t0 = performance.now()</script><title>Host</title></head>"
        f"<body><h1>Host page</h1><p>{'Some content. ' * 200}</p>"
        f'<script src="{server}/widget.js" data-key="{key}" async></script></body></html>'
    )
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        for name, conditions in PROFILES.items():
            bubble, ready = [], []
            for _ in range(loads):
                context = browser.new_context()
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                if conditions:
                    cdp.send("Network.emulateNetworkConditions", {"offline": False, **conditions})
                started = time.perf_counter()
                page.goto(f"{site}/index.html", wait_until="commit")
                shown = page.wait_for_function(
                    "() => { const h = document.querySelector('trellis-chat');"
                    " const b = h && h.shadowRoot && h.shadowRoot.querySelector('.bubble');"
                    " return b && b.getBoundingClientRect().width > 0 ? performance.now() : false }",
                    polling="raf",
                    timeout=60_000,
                ).json_value()
                nav = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return {dcl: n.domContentLoadedEventEnd, start: n.startTime} }"
                )
                bubble.append(shown - nav["start"])
                ready.append(nav["dcl"] - nav["start"])
                context.close()
                del started
            print(
                f"{name}: page DOMContentLoaded {statistics.median(ready):.0f} ms, "
                f"bubble visible {statistics.median(bubble):.0f} ms after navigation start (median of {loads})"
            )
        browser.close()


_CLIENT: list[httpx.AsyncClient] = []


def _http() -> httpx.AsyncClient:
    if not _CLIENT:
        _CLIENT.append(httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1000)))
    return _CLIENT[0]


async def one_visitor(
    server: str,
    key: str,
    origin: str,
    tokens: int,
    gaps: list[float],
    problems: list[str],
    first: list[float] | None = None,
) -> None:
    started = time.perf_counter()
    client = _http()  # one client, as a browser has (building one costs ~50 ms of SSL setup)
    session = await client.post(
        f"{server}/api/widget/v1/session/", content=json.dumps({"key": key}), headers={"Origin": origin}
    )
    if session.status_code != 200:
        problems.append(f"session {session.status_code}: {session.text[:80]!r}")
        return
    token = session.json()["token"]
    phases = [time.perf_counter() - started]
    url = server.replace("http", "ws") + f"/ws/widget/{key}/"
    async with websockets.connect(url, additional_headers={"Origin": origin}, max_queue=None) as ws:
        phases.append(time.perf_counter() - started)
        await ws.send(json.dumps({"type": "chat.send", "token": token, "message": "hi"}))
        last, count = None, 0
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if event["type"] == "error":
                problems.append(event["code"])
                return
            if event["type"] == "chat.accepted":
                phases.append(time.perf_counter() - started)
            if event["type"] == "token":
                now = time.perf_counter()
                if last is None and os.environ.get("BENCH_PHASES"):
                    marks = ", ".join(f"{p * 1000:.0f}" for p in [*phases, now - started])
                    print(f"session, socket open, accepted, first token at ms: {marks}")
                if last is not None:
                    gaps.append(now - last)
                elif first is not None:
                    first.append(now - started)
                last, count = now, count + 1
            if event["type"] in {"run.finished", "run.failed", "run.cancelled"}:
                if event["type"] != "run.finished":
                    problems.append(event["data"].get("code", event["type"]))
                if count != tokens:
                    problems.append(f"lost {tokens - count} tokens")
                return


async def concurrency(server: str, key: str, origin: str, levels: list[int], tokens: int) -> None:
    for _ in range(5):  # warm-up
        await one_visitor(server, key, origin, tokens, [], [])
    for level in levels:
        gaps: list[float] = []
        first: list[float] = []
        problems: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(*(one_visitor(server, key, origin, tokens, gaps, problems, first) for _ in range(level)))
        seconds = time.perf_counter() - started
        lost = sum(int(p.split()[1]) for p in problems if p.startswith("lost "))
        print(
            f"{level:4d} concurrent widget chats x {tokens} tokens at 30 tok/s: wall {seconds:.1f} s "
            f"(ideal {tokens / 30:.1f} s), first token p50 {statistics.median(first):.2f} s "
            f"p99 {percentile(first, 0.99):.2f} s (session + socket + run start), "
            f"gap p50 {statistics.median(gaps) * 1000:.0f} ms, "
            f"p99 {percentile(gaps, 0.99) * 1000:.0f} ms, tokens lost {lost}, problems {len(problems)} "
            f"{sorted(set(problems))[:4]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="10,50,100")
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    bundle_size()
    with tempfile.TemporaryDirectory(prefix="tw-", dir="/tmp") as tmp:
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "TRELLIS_MODEL_SUPERVISOR": "off",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
        site_dir = Path(tmp) / "site"
        site_dir.mkdir()
        host = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site_dir)))
        threading.Thread(target=host.serve_forever, daemon=True).start()
        site = f"http://127.0.0.1:{host.server_address[1]}"
        standin_port, port = free_port(), free_port()
        env["TRELLIS_EGRESS_ALLOW"] = f"127.0.0.1:{standin_port}"  # the stand-in is on loopback: the operator allows it
        procs = [
            subprocess.Popen(
                [PY, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, start_new_session=True
            )
        ]
        server = f"http://127.0.0.1:{port}"
        try:
            subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            model = f"standin-rate-30-n-{args.tokens}"
            key = setup_data(env, f"http://127.0.0.1:{standin_port}/v1", model, site)
            command = [PY, "-m", "uvicorn", "apps.config.asgi:application", "--port", str(port), "--lifespan", "off"]
            command += ["--log-level", "warning", "--ws-per-message-deflate", "false"]
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True))
            wait_ok(f"{server}/healthz")
            if args.loads:
                time_to_bubble(server, key, site_dir, site, args.loads)
            levels = [int(n) for n in args.levels.split(",") if n]
            asyncio.run(concurrency(server, key, site, levels, args.tokens))
        finally:
            host.shutdown()
            for proc in reversed(procs):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)


if __name__ == "__main__":
    main()
