"""A real huey worker process for the suite's resume tests (killed mid-job, started again), and
the polling wait they share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def huey_worker(log: Path, **environment: str) -> subprocess.Popen[bytes]:
    """`manage.py run_huey` (one worker) on the test database and data folder, with `environment`
    added (lease lengths, egress allowances); its output appended to `log`."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"],
        cwd=ROOT,
        env={
            **os.environ,
            "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
            "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
            "HUEY_WORKERS": "1",
            **environment,
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
