"""The embedded PostgreSQL left running by a process that was killed is not silently reused: the
next start owns it (restarted with the current max_connections when that changed, adopted
otherwise) and stops it when it stops."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from apps.config import embedded_pg
from tests.support.served import ROOT

START = """
import json, os, sys
from pathlib import Path
from typing import Any
import psycopg
from apps.config import embedded_pg
settings = embedded_pg.database_settings(Path(sys.argv[1]), max_connections=int(sys.argv[2]))
with psycopg.connect(host=settings["HOST"], user="postgres", dbname="trellis", autocommit=True) as conn:
    shown = conn.execute("SHOW max_connections").fetchone()[0]
    memory = [conn.execute(  # 8 kB pages -> MB
        "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = %s", [name]
    ).fetchone()[0] for name in ("shared_buffers", "effective_cache_size")]
pid = int((Path(sys.argv[1]) / "postmaster.pid").read_text().split()[0])
print(json.dumps({"started_here": str(embedded_pg.started_here()), "max_connections": shown, "pid": pid,
                  "memory": memory}))
sys.stdout.flush()
if sys.argv[3] == "kill":
    os.kill(os.getpid(), 9)  # no atexit: the server is left running, orphaned
print(json.dumps({"stopped": embedded_pg.stop_if_started_here()}))
"""


Started = tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]


def _start(pgdata: Path, max_connections: int, then: str) -> Started:
    result = subprocess.run(
        [sys.executable, "-c", START, str(pgdata), str(max_connections), then],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    return Path(f"/proc/{pid_file.read_text().split()[0]}").exists()


def test_embedded_pg_orphan_is_restarted_with_new_settings_or_adopted_and_stopped_by_its_new_owner() -> None:
    with tempfile.TemporaryDirectory(prefix="tr-pg-", dir="/tmp") as tmp:
        pgdata = Path(tmp) / "pg"
        killed, (first,) = _start(pgdata, 110, "kill")
        assert killed.returncode == -9
        assert first["max_connections"] == "110" and first["started_here"] == str(pgdata)
        # memory sized from the host: a quarter (128 MB..4 GB) for shared buffers, half as the cache estimate
        assert first["memory"] == list(embedded_pg.memory_settings())
        assert 128 <= first["memory"][0] <= 4096 and first["memory"][1] >= 4096
        assert _running(pgdata)  # orphaned: nobody holds a handle any more

        _, lines = _start(pgdata, 120, "kill")  # another setting: restarted, then orphaned again
        assert lines[0]["max_connections"] == "120" and lines[0]["pid"] != first["pid"]
        assert lines[0]["started_here"] == str(pgdata)

        adopted, lines = _start(pgdata, 120, "stop")  # same setting: adopted as it is, then stopped
        assert adopted.returncode == 0, adopted.stderr[-2000:]
        assert lines[0]["started_here"] == str(pgdata) and lines[1] == {"stopped": True}
        assert not _running(pgdata)
