"""A real `manage.py serve` for tests: its own data folder (so its own embedded PostgreSQL), a
stand-in model server, data made by a setup script, and its database at hand for checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from apps.config.embedded_pg import server_stop
from tests.support.asgi_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    pgdata: Path
    ids: dict[str, str]  # what the setup script printed as `ID <name> <value>` lines

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ids['key']}"}

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(host=str(self.pgdata), user="postgres", dbname="trellis", autocommit=True) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def connections(self) -> dict[str, int]:
        """Client connections to Trellis's database, by application_name (trellis:<pid>)."""
        with psycopg.connect(host=str(self.pgdata), user="postgres", dbname="postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity "
                "WHERE datname = 'trellis' AND backend_type = 'client backend' GROUP BY 1"
            ).fetchall()
        return {name: int(count) for name, count in rows}


def wait_ok(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@contextmanager
def serving(*, workers: int, setup: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`manage.py serve --workers N` (no local model, no model supervisor) in its own process
    group, as a terminal starts it; `setup` is Python run once it answers, with `{standin}`
    replaced by the stand-in's OpenAI base URL. Stopped with SIGINT to the group (Ctrl+C)."""
    with tempfile.TemporaryDirectory(prefix="tr-serve-", dir="/tmp") as tmp:
        data = Path(tmp) / "d"
        standin_port, port = free_port(), free_port()
        environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TRELLIS_DB_NAME"}}
        environment |= {
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "TRELLIS_DATA_DIR": str(data),
            "TRELLIS_LOCAL_MODEL": "off",
            "TRELLIS_MODEL_SUPERVISOR": "off",
            "TRELLIS_WEB_WORKERS": str(workers),
            "TRELLIS_EGRESS_ALLOW": f"127.0.0.1:{standin_port}",
            "LOG_LEVEL": "ERROR",
            "OMP_NUM_THREADS": "1",
            **(env or {}),
        }
        standin = subprocess.Popen(
            [sys.executable, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, env=environment
        )
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=environment,
            start_new_session=True,  # its own process group, as a terminal gives it
        )
        try:
            wait_ok(f"http://127.0.0.1:{port}/healthz", 240, process)
            script = setup.replace("{standin}", f"http://127.0.0.1:{standin_port}/v1")
            out = subprocess.check_output([sys.executable, "-c", script], cwd=ROOT, env=environment, text=True)
            ids = {line.split()[1]: line.split()[2] for line in out.splitlines() if line.startswith("ID ")}
            yield Served(process, f"http://127.0.0.1:{port}", environment, data / "pg", ids)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            standin.kill()
            standin.wait(10)
            if (data / "pg" / "postmaster.pid").exists():  # never leave a server behind
                server_stop(data / "pg")
