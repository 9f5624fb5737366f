"""Foundation figures: warm start to first HTTP 200, idle RSS, API latency; optional cold set-up.

    .venv/bin/python tests/bench/bench_foundation.py            # warm start, RSS, latency
    .venv/bin/python tests/bench/bench_foundation.py --cold     # + `make run` on a fresh clone

Each figure is printed next to a baseline measured in the same run on the same machine
(a bare uvicorn "hello" app), because this machine is noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_200(url: str, timeout: float = 900) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def tree_rss_mib(pid: int) -> float:
    parent = psutil.Process(pid)
    procs = [parent, *parent.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def postgres_rss_mib(data_dir: Path) -> float:
    total = 0
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or []):
            total += sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    return total / 2**20


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def baseline_start(tmp: Path) -> tuple[float, float]:
    app = tmp / "hello.py"
    app.write_text(
        textwrap.dedent("""
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
    """)
    )
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "uvicorn", "hello:app", "--port", str(port), "--log-level", "warning"],
        cwd=tmp,
        start_new_session=True,
    )
    try:
        seconds = wait_200(f"http://127.0.0.1:{port}/")
        time.sleep(3)
        return seconds, tree_rss_mib(proc.pid)
    finally:
        stop(proc)


def trellis_start(data_dir: Path) -> tuple[float, float, float, str]:
    port = free_port()
    env = {**os.environ, "TRELLIS_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [PY, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seconds = wait_200(f"http://127.0.0.1:{port}/login")
        time.sleep(5)
        return seconds, tree_rss_mib(proc.pid), postgres_rss_mib(data_dir), f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def latency_ms(url: str, headers: dict[str, str], n: int = 200) -> float:
    samples = []
    with httpx.Client(headers=headers) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def api_latency(data_dir: Path) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "TRELLIS_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "apps.config.settings"}
    key_script = (
        "import django; django.setup();"
        "from apps.tenancy.models import Membership;"
        "from apps.tenancy.access import Actor, OrgAccess;"
        "from apps.tenancy.services import api_key_create;"
        "m = Membership.objects.select_related('organization','user').first();"
        "k, raw = api_key_create(access=OrgAccess(m.organization, m.role, Actor(user=m.user, api_key=None)),"
        " name='bench', role='viewer'); print(m.organization_id, raw)"
    )
    org, raw = subprocess.check_output([PY, "-c", key_script], cwd=ROOT, env=env, text=True).split()
    proc = subprocess.Popen(
        [PY, "manage.py", "serve", "--port", str(port), "--skip-setup", "--no-worker"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_200(f"{base}/healthz")
        health = latency_ms(f"{base}/healthz", {})
        members = latency_ms(f"{base}/api/v1/orgs/{org}/members/", {"Authorization": f"Bearer {raw}"})
        return health, members
    finally:
        stop(proc)


def cold_setup() -> float:
    with tempfile.TemporaryDirectory(prefix="trellis-cold-") as tmp:
        clone = Path(tmp) / "t"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env={**os.environ, "PORT": str(port)},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_200(f"http://127.0.0.1:{port}/login", timeout=1800)
            return time.perf_counter() - started
        finally:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time `make run` on a fresh clone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tb-", dir="/tmp") as tmp:
        data_dir = Path(tmp) / "d"
        base_s, base_rss = baseline_start(Path(tmp))
        first_s, _, _, _ = trellis_start(data_dir)  # first start: initdb, migrations, demo account
        warm = [trellis_start(data_dir) for _ in range(3)]
        warm_s = statistics.median(w[0] for w in warm)
        rss = statistics.median(w[1] for w in warm)
        pg_rss = statistics.median(w[2] for w in warm)
        health_ms, members_ms = api_latency(data_dir)
    print(f"baseline uvicorn hello: first 200 after {base_s:.2f} s, RSS {base_rss:.0f} MiB")
    print(f"trellis first start (new data dir): first 200 after {first_s:.2f} s")
    print(f"trellis warm start: first 200 after {warm_s:.2f} s  ({warm_s / base_s:.1f}x baseline)")
    print(
        f"trellis idle RSS: server tree {rss:.0f} MiB ({rss / base_rss:.1f}x baseline), "
        f"embedded postgres {pg_rss:.0f} MiB"
    )
    print(
        f"API latency p50: /healthz {health_ms:.2f} ms, members list with API key {members_ms:.2f} ms "
        f"({members_ms / health_ms:.1f}x healthz)"
    )
    if args.cold:
        print(f"cold set-up of `make run` on a fresh clone: {cold_setup():.0f} s to first 200")


if __name__ == "__main__":
    main()
