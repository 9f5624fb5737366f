"""Two web hosts behind haproxy vs one, each host on the same CPU budget.

    .venv/bin/python tests/bench/bench_multihost.py [--cpus 0,1] [--seconds 10] [--chats 25,50,100,200]
    .venv/bin/python tests/bench/bench_multihost.py --quota 0.3 [--hosts 2] [--seconds 10] [--chats ...]

With --quota Q (needs a writable cgroup v1 `cpu` controller, e.g. root on Linux) each host runs in
its own cgroup capped at Q CPUs, and everything else the bench starts (PostgreSQL, Redis, haproxy,
the stand-in, this client) runs in an uncapped group; both groups get a large cpu.shares, so on a
machine shared with other work the bench's processes are served first. That is "the same machine
budget per host" on a 2-core machine: two hosts at 0.3 CPUs each leave 1.4 CPUs for the rest. The
report says how much of its quota each host was throttled for (a host that was never throttled was
not the bottleneck, and the ratio then measures something else). Without --quota, hosts are pinned
with taskset to the CPUs in --cpus (the first CPU for one host, one CPU each for several).

Starts the tests/multihost topology (PostgreSQL with pgvector on TCP, Redis, the stand-in model,
haproxy with deploy/haproxy.cfg) and measures, through the balancer:
1. REST throughput: 16 clients asking for the flow list for --seconds; requests per second.
2. WebSocket chats: at each --chats level, that many sockets chatting back to back (the stand-in
   at 20 tokens/s, 40 tokens each) for --seconds; the gap between tokens at the client, p50 and
   p99; the highest level whose p99 stays within 150 ms.
first with one host pinned to the first CPU of --cpus, then with one host per CPU. PostgreSQL,
Redis, haproxy, the stand-in and this client share the machine's other CPUs (or the same ones:
say so when you report a figure), so the ratio is what to read, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchlib import percentile  # noqa: E402

from tests.multihost.harness import (  # noqa: E402
    Cluster,
    CpuGroup,
    ExternalPostgres,
    Haproxy,
    Host,
    environment_for,
    manage,
    seed,
    start_standin,
    stop_all,
)
from tests.support.asgi_server import free_port  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

P99_TARGET_MS = 150


async def rest_throughput(cluster: Cluster, url: str, seconds: float, clients: int = 16) -> float:
    done = 0
    failed = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done, failed
        async with httpx.AsyncClient(headers=cluster.headers, timeout=30) as client:
            while time.monotonic() < deadline:
                response = await client.get(cluster.api(url, "flows/"))
                if response.status_code == 200:
                    done += 1
                else:
                    failed += 1

    await asyncio.gather(*(one() for _ in range(clients)))
    if failed:
        print(f"  ({failed} REST requests failed)")
    return done / seconds


async def chat_gaps(cluster: Cluster, url: str, seconds: float, chats: int) -> tuple[list[float], int]:
    gaps: list[float] = []
    finished = 0
    deadline = time.monotonic() + seconds
    flow = cluster.seed["flows"]["chat"]
    ws_url = url.replace("http://", "ws://") + "/ws/"

    async def one() -> None:
        nonlocal finished
        async with websockets.connect(ws_url, additional_headers=cluster.headers, max_queue=None) as ws:
            while time.monotonic() < deadline:
                await ws.send(json.dumps({"type": "run.start", "flow": flow, "inputs": {"message": "hi"}}))
                last = None
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "token":
                        now = time.monotonic()
                        if last is not None:
                            gaps.append(now - last)
                        last = now
                    elif event["type"] in {"run.finished", "run.failed", "run.cancelled", "error"}:
                        finished += event["type"] == "run.finished"
                        break

    await asyncio.gather(*(one() for _ in range(chats)))
    return gaps, finished


def throttling(hosts: list[Host]) -> str:
    parts = []
    for host in hosts:
        if host.cpu_group is not None:
            periods, throttled, seconds = host.cpu_group.throttled()
            parts.append(f"{host.name}: throttled in {throttled} of {periods} periods ({seconds:.1f} s)")
    return "; ".join(parts)


def measure(cluster: Cluster, hosts: list[Host], args: argparse.Namespace) -> dict[str, float]:
    for host in hosts:
        host.start()
    for host in hosts:
        host.wait_ready()
    balancer = Haproxy(cluster.folder, hosts).start()
    try:
        time.sleep(3)  # the balancer's health checks mark the hosts up (rise 2 x 1 s)
        rest = asyncio.run(rest_throughput(cluster, balancer.url, args.seconds))
        print(f"  REST {rest:.0f} req/s")
        met = 0
        for chats in [int(level) for level in args.chats.split(",")]:
            gaps, finished = asyncio.run(chat_gaps(cluster, balancer.url, args.seconds, chats))
            p50, p99 = percentile(gaps, 0.5) * 1000, percentile(gaps, 0.99) * 1000
            print(f"  {chats} chats: {finished} finished, gap p50 {p50:.0f} ms p99 {p99:.0f} ms")
            if p99 > P99_TARGET_MS:
                break
            met = chats
        if any(host.cpu_group for host in hosts):
            print(f"  hosts' CPU groups: {throttling(hosts)}")
    finally:
        balancer.stop()
        for host in hosts:
            host.stop()
            if host.cpu_group is not None:
                host.cpu_group.remove()
    return {"rest": rest, "chats_met": met}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpus", default="0,1", help="one CPU per host, comma-separated")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--chats", default="25,50,100,200", help="concurrent chat levels, rising")
    parser.add_argument("--quota", type=float, default=None, help="CPUs per host (cgroup quota) instead of pinning")
    parser.add_argument("--hosts", type=int, default=2, help="hosts in the second measurement (with --quota)")
    args = parser.parse_args()
    cpus = args.cpus.split(",")
    infra: CpuGroup | None = None
    if args.quota:
        if not CpuGroup.available():
            raise SystemExit("--quota needs a writable /sys/fs/cgroup/cpu (cgroup v1 cpu controller, as root)")
        infra = CpuGroup("trellis-bench-infra", quota=None)
        infra.join()  # this client, and every process it starts from here on
    folder = Path(tempfile.mkdtemp(prefix="trellis-bench-multihost-"))
    postgres = ExternalPostgres().start()
    redis = RedisServer(folder).start()
    standin_port = free_port()
    standin = start_standin(standin_port)
    environment = {**environment_for(postgres, redis, standin_port), "LOG_LEVEL": "WARNING"}
    manage(environment, "migrate", "--noinput", folder=folder / "migrate")
    data = seed(environment, f"http://127.0.0.1:{standin_port}/v1", folder / "migrate")
    cluster = Cluster(postgres, redis, standin, standin, [], environment, folder, data)
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (read the ratios)")
        if args.quota:
            count = args.hosts
            print(f"one host capped at {args.quota} CPUs (the rest uncapped, all of it prioritised):")
            one = measure(cluster, [quota_host("a", environment, folder, args.quota)], args)
            print(f"{count} hosts capped at {args.quota} CPUs each:")
            hosts = [quota_host(f"h{i}", environment, folder, args.quota) for i in range(count)]
        else:
            count = len(cpus)
            print(f"one host on CPU {cpus[0]}:")
            one = measure(cluster, [Host("a", environment, folder / "a", cpus=cpus[0])], args)
            print(f"{count} hosts on CPUs {', '.join(cpus)}:")
            hosts = [Host(f"h{i}", environment, folder / f"h{i}", cpus=cpu) for i, cpu in enumerate(cpus)]
        many = measure(cluster, hosts, args)
        ratio = f"x{many['chats_met'] / one['chats_met']:.2f}" if one["chats_met"] else "no ratio: one host met none"
        print(
            f"ratio {count} hosts / 1 host: REST x{many['rest'] / one['rest']:.2f}; chats at p99 <= "
            f"{P99_TARGET_MS} ms: {one['chats_met']} -> {many['chats_met']} "
            f"({ratio}; the highest level tried is a floor)"
        )
    finally:
        stop_all(cluster)
        shutil.rmtree(folder, ignore_errors=True)
        if infra is not None:
            infra.remove()


def quota_host(name: str, environment: dict[str, str], folder: Path, quota: float) -> Host:
    return Host(name, environment, folder / name, cpu_group=CpuGroup(f"trellis-bench-host-{name}", quota))


if __name__ == "__main__":
    main()
