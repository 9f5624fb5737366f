"""The canvas editor in Chromium (Playwright) against a real server on a scratch database.

    .venv/bin/python tests/bench/bench_editor.py [--loads 5] [--drag-nodes 300]

1. Time from opening the editor URL to interactive (every node drawn, the editor's toolbar
   ready) for a 50-node flow: median of --loads page loads (the browser cache warm after the first).
2. Bundle size, gzipped: what every page loads, and the editor's lazy chunk.
3. Frames per second while dragging a node, and while panning, on a --drag-nodes flow,
   counted with requestAnimationFrame in the page (the browser's own measure).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import free_port, wait_ok

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
PASSWORD = "bench passphrase 1"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def big_graph(count: int) -> dict[str, object]:
    """chat input -> a chain of merge nodes -> output, on a grid."""
    nodes = [{"id": "in", "type": "chat_input", "position": {"x": 0, "y": 0}, "config": {}}]
    edges = []
    previous, port = "in", "message"
    for i in range(count - 2):
        node_id = f"m{i}"
        nodes.append(
            {"id": node_id, "type": "merge", "position": {"x": 260 * ((i + 1) % 15), "y": 160 * ((i + 1) // 15)}}
        )
        edges.append({"id": f"e{i}", "source": previous, "source_port": port, "target": node_id, "target_port": "a"})
        previous, port = node_id, "value"
    nodes.append({"id": "out", "type": "output", "position": {"x": 0, "y": 160 * (count // 15 + 1)}, "config": {}})
    edges.append({"id": "e_out", "source": previous, "source_port": port, "target": "out", "target_port": "value"})
    return {"nodes": nodes, "edges": edges}


def setup_data(env: dict[str, str], sizes: list[int]) -> tuple[str, dict[int, str]]:
    graphs = {size: big_graph(size) for size in sizes}
    script = f"""
import json, django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create
from apps.builder.services import flow_create
user = User.objects.create_user("bench", "bench@example.test", {PASSWORD!r})
org = organization_create(actor=Actor(user=user, api_key=None), name="Bench")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
graphs = json.loads({json.dumps(json.dumps(graphs))})
ids = {{size: str(flow_create(access=access, name=f"{{size}} nodes", description="", graph=g).pk)
       for size, g in graphs.items()}}
print(json.dumps({{"org": str(org.pk), "flows": ids}}))
"""
    out = subprocess.check_output([PY, "-c", script], cwd=ROOT, env=env, text=True)
    data = json.loads(out.strip().splitlines()[-1])
    return data["org"], {int(k): v for k, v in data["flows"].items()}


def bundle_sizes() -> dict[str, float]:
    assets = ROOT / "frontend" / "dist" / "assets"
    index_html = (ROOT / "frontend" / "dist" / "index.html").read_text()
    sizes = {"initial_kb": 0.0, "editor_kb": 0.0}
    for path in assets.iterdir():
        if path.suffix not in {".js", ".css"}:
            continue
        kb = len(gzip.compress(path.read_bytes(), 9)) / 1024
        if path.name in index_html:
            sizes["initial_kb"] += kb
        elif path.name.startswith("route-"):
            sizes["editor_kb"] += kb
    return sizes


FPS_PROBE = """() => { window.__frames = 0; window.__stop = false;
  const tick = () => { window.__frames += 1; if (!window.__stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); window.__t0 = performance.now(); }"""
FPS_READ = "() => { window.__stop = true; return window.__frames * 1000 / (performance.now() - window.__t0); }"


def measure(base: str, org: str, flows: dict[int, str], loads: int, drag_nodes: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    results: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill("bench")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Main").wait_for()

        samples = []
        for _ in range(loads):
            page.goto(f"/o/{org}/flows")
            page.get_by_role("heading", name="Flows").wait_for()
            started = time.perf_counter()
            page.goto(f"/o/{org}/flows/{flows[50]}")
            page.wait_for_function("document.querySelectorAll('.react-flow__node').length === 50", timeout=60_000)
            page.get_by_role("button", name="Auto-layout").wait_for()
            samples.append((time.perf_counter() - started) * 1000)
        results["tti_50_first_ms"] = samples[0]
        results["tti_50_median_ms"] = statistics.median(samples)

        page.goto(f"/o/{org}/flows/{flows[drag_nodes]}")
        page.wait_for_function("document.querySelectorAll('.react-flow__node').length > 0", timeout=60_000)
        page.wait_for_timeout(1000)
        node = page.locator(".react-flow__node").first.locator(".fnode__header")
        box = node.bounding_box()
        assert box
        x, y = box["x"] + 20, box["y"] + 10
        page.evaluate(FPS_PROBE)
        page.mouse.move(x, y)
        page.mouse.down()
        for i in range(120):
            page.mouse.move(x + 200 * (i % 60) / 60, y + 100 * (i % 60) / 60)
        page.mouse.up()
        results["drag_fps"] = page.evaluate(FPS_READ)
        results["drawn_nodes"] = page.evaluate("document.querySelectorAll('.react-flow__node').length")

        canvas = page.locator(".react-flow__pane").bounding_box()
        assert canvas
        cx, cy = canvas["x"] + canvas["width"] - 60, canvas["y"] + 60
        page.evaluate(FPS_PROBE)
        page.mouse.move(cx, cy)
        page.mouse.down()
        for i in range(120):
            page.mouse.move(cx - 300 * (i % 60) / 60, cy + 200 * (i % 60) / 60)
        page.mouse.up()
        results["pan_fps"] = page.evaluate(FPS_READ)
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--drag-nodes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tr-", dir="/tmp") as tmp:
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "LOGIN_RATE": "1000/min",
        }
        port = free_port()
        subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        org, flows = setup_data(env, sorted({50, args.drag_nodes}))
        server = subprocess.Popen(
            [PY, "-m", "uvicorn", "apps.config.asgi:application", "--port", str(port), "--lifespan", "off"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ok(f"http://127.0.0.1:{port}/healthz")
            figures = {**bundle_sizes(), **measure(f"http://127.0.0.1:{port}", org, flows, args.loads, args.drag_nodes)}
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(
        f"bundle, gzipped: initial {figures['initial_kb']:.1f} KiB, editor chunk (lazy) {figures['editor_kb']:.1f} KiB"
    )
    print(
        f"50-node flow, open -> interactive: first {figures['tti_50_first_ms']:.0f} ms, "
        f"median of {args.loads} {figures['tti_50_median_ms']:.0f} ms"
    )
    print(
        f"{args.drag_nodes}-node flow ({figures['drawn_nodes']:.0f} nodes drawn in view): "
        f"drag {figures['drag_fps']:.0f} fps, pan {figures['pan_fps']:.0f} fps"
    )


if __name__ == "__main__":
    main()
