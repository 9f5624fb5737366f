"""What exporting run traces over OTLP costs a run: the same published chat flow on the stand-in
model (20 tokens a reply), served by `manage.py serve --workers 1 --no-worker`, without and with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver in this script (it decodes each
request with opentelemetry-proto and counts the spans).

    .venv/bin/python tests/bench/bench_otel_export.py [--requests 200] [--rounds 2]

Per configuration and round (off, on, off, on, ...: drift falls on both alike): p50 and p95 of
sequential REST JSON runs after a warm-up, and the server's CPU per run (user + system time of
the serve process tree over the timed runs, read from /proc by psutil). The ratio on/off of each
is printed. Export happens off the request path (a queue and the SDK's batch thread), so latency
should not move; the CPU is what the export costs. Never asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
from bench_entrypoints import setup_data
from benchlib import free_port, percentile, wait_ok
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


class Receiver:
    """An OTLP/HTTP trace receiver: counts the spans it is sent."""

    def __init__(self) -> None:
        self.spans = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests += 1
                receiver.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _cpu(pid: int) -> float:
    """User + system seconds of a process and its children (the serve tree)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with_children = proc.cpu_times()
            total += with_children.user + with_children.system
    except psutil.NoSuchProcess:
        pass
    return total


async def _runs(server: str, ids: dict[str, str], requests: int, pid: int) -> tuple[float, float, float, int]:
    url = f"{server}/api/v1/orgs/{ids['org']}/flows/{ids['flow']}/run/"
    headers = {"Authorization": f"Bearer {ids['key']}"}
    samples, errors = [], 0
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(20):  # warm-up
            await client.post(url, json={"inputs": {"message": "hello"}}, headers=headers)
        cpu = _cpu(pid)
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.post(url, json={"inputs": {"message": "hello"}}, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
        cpu_per_run = (_cpu(pid) - cpu) / requests * 1000
    return percentile(samples, 0.5), percentile(samples, 0.95), cpu_per_run, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    receiver = Receiver()
    results: dict[str, list[tuple[float, float, float, int]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="tr-otel-", dir="/tmp") as tmp:
        standin_port = free_port()
        standin = f"http://127.0.0.1:{standin_port}/v1"
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "TRELLIS_MODEL_SUPERVISOR": "off",
            "TRELLIS_EGRESS_ALLOW": f"127.0.0.1:{standin_port}",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            env.pop(name, None)
        standin_proc = subprocess.Popen(
            [PY, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, start_new_session=True
        )
        try:
            subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            ids = setup_data(env, standin)
            wait_ok(f"http://127.0.0.1:{standin_port}/health")
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    port = free_port()
                    served_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url} if mode == "on" else env
                    proc = subprocess.Popen(
                        [PY, "manage.py", "serve", "--port", str(port), "--workers", "1", "--no-worker"],
                        cwd=ROOT,
                        env=served_env,
                        start_new_session=True,
                    )
                    try:
                        wait_ok(f"http://127.0.0.1:{port}/healthz", timeout=120)
                        spans_before = receiver.spans
                        result = asyncio.run(_runs(f"http://127.0.0.1:{port}", ids, args.requests, proc.pid))
                        results[mode].append(result)
                        time.sleep(7)  # the SDK's batch delay (5 s): the spans of the last runs arrive
                        print(
                            f"{mode}: p50 {result[0]:.1f} ms, p95 {result[1]:.1f} ms, "
                            f"server CPU {result[2]:.2f} ms/run, {result[3]} errors, "
                            f"spans received {receiver.spans - spans_before}",
                            flush=True,
                        )
                    finally:
                        os.killpg(proc.pid, signal.SIGINT)
                        proc.wait(timeout=60)
        finally:
            os.killpg(standin_proc.pid, signal.SIGTERM)
            standin_proc.wait(timeout=30)

    def mean(mode: str, index: int) -> float:
        return sum(r[index] for r in results[mode]) / len(results[mode])

    print(f"\n| {args.requests} REST runs x {args.rounds} rounds | export off | export on | on/off |")
    print("|---|---|---|---|")
    for label, index in (("p50 latency, ms", 0), ("p95 latency, ms", 1), ("server CPU per run, ms", 2)):
        off, on = mean("off", index), mean("on", index)
        print(f"| {label} | {off:.2f} | {on:.2f} | {on / off:.3f} |")
    print(f"| spans received | | {receiver.spans} ({receiver.requests} OTLP requests) | |")


if __name__ == "__main__":
    main()
