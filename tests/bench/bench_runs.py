"""Live runs over the WebSocket against a stand-in model server (fixed reply at a set rate).

    .venv/bin/python tests/bench/bench_runs.py [--ttft-runs 200] [--chats 500] [--total 10000]

1. Added time to first token: run.start over the WebSocket -> first token event, versus a direct
   streaming request to the stand-in -> first content chunk (p50 of the difference).
2. Concurrent streaming chats: N sockets at once, stand-in at 30 tokens/s; p99 gap between
   tokens at the client, tokens lost or out of order.
3. Memory: server RSS after 1,000 runs and after --total runs (same waves of N chats).

BENCH_TOKENS=N sets the reply length; BENCH_PROFILE=out.json records the server with py-spy
(installed by hand); BENCH_SERVER_WRAPPER="script.py" starts the server as `python script.py
<uvicorn args>` instead of `python -m uvicorn` (a profiler wrapper around uvicorn.main).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import websockets
from benchlib import free_port, percentile, wait_ok

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TOKENS = int(os.environ.get("BENCH_TOKENS", "30"))  # tokens per reply (30: one second at 30 tok/s)
MODEL = f"standin-rate-30-n-{TOKENS}"


def setup_data(env: dict[str, str], standin: str) -> tuple[str, str]:
    script = f"""
import django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create, api_key_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from tests.flows.graphs import chat_flow
user = User.objects.create_user("bench", "bench@example.test", "bench passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Bench")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
model_endpoint_create(access=access, alias="standin", name="stand-in", kind="chat", base_url="{standin}",
                      model="{MODEL}")
flow = flow_create(access=access, name="bench", description="", graph=chat_flow(model="standin"))
flow_version_publish(access=access, flow_id=flow.pk, note="bench")
_, key = api_key_create(access=access, name="bench", role=Role.EDITOR)
print(flow.pk, key)
"""
    out = subprocess.check_output([PY, "-c", script], cwd=ROOT, env=env, text=True)
    flow_id, key = out.split()[-2:]
    return flow_id, key


async def one_chat(
    url: str, key: str, flow_id: str, gaps: list[float], problems: list[str], first_token: list[float] | None = None
) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}, max_queue=None) as ws:
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "run.start", "flow": flow_id, "inputs": {"message": "hi"}}))
        last_seq, last_token_at, count, text = 0, None, 0, []
        while True:
            event = json.loads(await ws.recv())
            if event.get("type") == "error":
                problems.append(event["code"])
                return
            if event["seq"] != last_seq + 1:
                problems.append(f"gap or reorder at seq {event['seq']}")
            last_seq = event["seq"]
            if event["type"] == "token":
                now = time.perf_counter()
                if last_token_at is None and first_token is not None:
                    first_token.append(now - sent)
                if last_token_at is not None:
                    gaps.append(now - last_token_at)
                last_token_at = now
                count += 1
                text.append(event["data"]["text"])
            if event["type"] in {"run.finished", "run.failed", "run.cancelled"}:
                if event["type"] != "run.finished":
                    problems.append(event["data"].get("code", event["type"]))
                elif count != TOKENS:
                    problems.append(f"{count} tokens")
                return


async def direct_ttft(standin: str, runs: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(runs):
            started = time.perf_counter()
            async with client.stream(
                "POST",
                f"{standin}/chat/completions",
                json={
                    "model": MODEL,
                    "stream": True,
                    "messages": [{"role": "user", "content": "Question: hi"}],
                },
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                        samples.append(time.perf_counter() - started)
                        break
    return samples


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (this one when pid is None): load on the machine from
    elsewhere does not change it, so it is the steadier measure of cost per token."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def rss_mib(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


async def waves(url: str, key: str, flow_id: str, chats: int, total: int) -> tuple[list[float], list[str], float]:
    gaps: list[float] = []
    problems: list[str] = []
    started = time.perf_counter()
    done = 0
    while done < total:
        batch = min(chats, total - done)
        await asyncio.gather(*(one_chat(url, key, flow_id, gaps, problems) for _ in range(batch)))
        done += batch
    return gaps, problems, time.perf_counter() - started


async def bench(
    args: argparse.Namespace, url: str, key: str, flow_id: str, standin: str, server_pid: int, standin_pid: int
) -> None:
    ws_first: list[float] = []
    for _ in range(20):  # warm-up
        await one_chat(url, key, flow_id, [], [], [])
    for _ in range(args.ttft_runs):
        await one_chat(url, key, flow_id, [], [], ws_first)
    direct = await direct_ttft(standin, args.ttft_runs)
    if args.ttft_runs:
        added = statistics.median(ws_first) * 1000 - statistics.median(direct) * 1000
        print(
            f"time to first token, p50: direct to the stand-in {statistics.median(direct) * 1000:.1f} ms, "
            f"over the Trellis WebSocket {statistics.median(ws_first) * 1000:.1f} ms -> added {added:.1f} ms "
            f"(target <= 10 ms)"
        )

    pids = {"server": server_pid, "stand-in": standin_pid, "bench client": None}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    gaps, problems, seconds = await waves(url, key, flow_id, args.chats, args.chats)
    tokens = args.chats * TOKENS
    per_token = {name: (cpu_seconds(pid) - cpu_before[name]) / tokens * 1e6 for name, pid in pids.items()}
    print(
        f"{args.chats} concurrent chats x {TOKENS} tokens at 30 tok/s: wall {seconds:.1f} s (ideal "
        f"{TOKENS / 30:.1f} s), inter-token gap p50 {statistics.median(gaps) * 1000:.0f} ms, "
        f"p99 {percentile(gaps, 0.99) * 1000:.0f} ms (target <= 150 ms); problems: {len(problems)} "
        f"{sorted(set(problems))[:5]}"
    )
    print("CPU per streamed token: " + ", ".join(f"{name} {us:.0f} us" for name, us in per_token.items()))

    _, problems_1k, _ = await waves(url, key, flow_id, args.chats, max(0, 1000 - args.chats - args.ttft_runs - 20))
    rss_1k = rss_mib(server_pid)
    _, problems_total, seconds = await waves(url, key, flow_id, args.chats, args.total - 1000)
    rss_total = rss_mib(server_pid)
    print(
        f"server RSS after 1,000 runs {rss_1k:.0f} MiB, after {args.total:,} runs {rss_total:.0f} MiB "
        f"({(rss_total / rss_1k - 1) * 100:+.1f}%, target within 10%); "
        f"problems {len(problems_1k) + len(problems_total)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttft-runs", type=int, default=200)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--total", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tr-", dir="/tmp") as tmp:
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
        standin_port, port = free_port(), free_port()
        procs = [
            subprocess.Popen(
                [PY, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, start_new_session=True
            )
        ]
        standin = f"http://127.0.0.1:{standin_port}/v1"
        try:
            subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            flow_id, key = setup_data(env, standin)
            procs.append(
                subprocess.Popen(
                    [
                        PY,
                        *(
                            os.environ["BENCH_SERVER_WRAPPER"].split()
                            if os.environ.get("BENCH_SERVER_WRAPPER")
                            else ["-m", "uvicorn"]
                        ),
                        "apps.config.asgi:application",
                        "--port",
                        str(port),
                        "--lifespan",
                        "off",
                        "--log-level",
                        "warning",
                        "--ws-max-queue",
                        "4096",
                        "--ws-per-message-deflate",
                        "false",
                    ],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
            wait_ok(f"http://127.0.0.1:{port}/healthz")
            server_pid = procs[-1].pid
            if os.environ.get("BENCH_PROFILE"):  # py-spy flame graph of the server under load
                procs.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "-o",
                            os.environ["BENCH_PROFILE"],
                            "-p",
                            str(procs[-1].pid),
                            "-d",
                            "25",
                            "-f",
                            "speedscope",
                            "--gil",  # only the thread running Python: CPU, not waiting
                        ],
                        start_new_session=True,
                    )
                )
            wait_ok(f"http://127.0.0.1:{standin_port}/health")
            asyncio.run(bench(args, f"ws://127.0.0.1:{port}/ws/", key, flow_id, standin, server_pid, procs[0].pid))
        finally:
            for proc in procs:
                with_kill = proc.poll() is None
                if with_kill:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
