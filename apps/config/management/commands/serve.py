"""Run Trellis: migrations, demo account, the ASGI server, the queue worker, the model supervisor
(which runs the `local` model on vLLM) or else the embedded
model server (unless TRELLIS_LOCAL_MODEL=off), supervised: when one child exits, all stop.

The embedded PostgreSQL is started by the settings on import (when DATABASE_URL is unset) and
shared by the children. Stopping is deterministic: on Ctrl+C (SIGINT to the process group) or
SIGTERM the children are stopped, then the embedded server this command started, whatever other
processes attached to it. Before starting anything, the connections the children may open in all
(apps.config.db.connections_needed) are checked against the server's max_connections.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils.module_loading import import_string

from apps.config import embedded_pg
from apps.config.db import connection_budget
from apps.config.metrics import metrics_dir_prepare


class Command(BaseCommand):
    help = "Starts Trellis: uvicorn (HTTP + WebSockets), the huey consumer and the local model server."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the queue worker.")
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.WEB_WORKERS,
            help="Web worker processes (default: TRELLIS_WEB_WORKERS, else one per core, at most 4).",
        )
        parser.add_argument("--skip-setup", action="store_true", help="Skip migrations and the demo account.")

    def handle(self, *args: Any, **options: Any) -> None:  # noqa: PLR0915 - one supervised sequence
        # Last at exit (after the children were stopped, or after Ctrl+C during the setup).
        atexit.register(self._stop_database)
        if not options["skip_setup"]:
            # System checks already ran for this command; running them again costs seconds.
            call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
            call_command("ensure_demo", skip_checks=True)
        problem = connection_budget(
            web_workers=options["workers"], queue_worker=not options["no_worker"], supervisor=settings.MODEL_SUPERVISOR
        )
        if problem:
            raise CommandError(problem)
        python = sys.executable
        local_model: list[str] = []
        on_vllm = False
        if settings.LOCAL_MODEL:
            # apps.serving sits above apps.config (the layers contract): named, not imported.
            ensure_local_model = import_string("apps.serving.local_model.prepare.ensure_local_model")
            # Slow only the first time (it says so); later starts find the folder ready.
            model_dir = ensure_local_model(settings.LOCAL_MODEL_DIR, report=self.stdout.write)
            on_vllm = _local_model_on_vllm(model_dir, self.stdout.write)
        if settings.LOCAL_MODEL and not on_vllm:
            local_model = [
                python,
                "-m",
                "apps.serving.local_model.server",
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.LOCAL_MODEL_PORT),
                "--model-dir",
                str(model_dir),
                "--log-level",
                settings.LOG_LEVEL.lower(),
            ]
        # One Prometheus directory shared by this server's processes: a scrape of any web worker
        # adds up all of them (apps/config/metrics.py). The children inherit it through the env.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir_prepare(settings.DATA_DIR, options["port"])
        children: list[subprocess.Popen[bytes]] = [
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "uvicorn",
                    "apps.config.asgi:application",
                    "--host",
                    options["host"],
                    "--port",
                    str(options["port"]),
                    "--lifespan",
                    "off",
                    "--no-server-header",
                    # X-Forwarded-For only from TRELLIS_TRUSTED_PROXIES ("" by default: from nobody;
                    # uvicorn's own default believes loopback): apps/config/client_ip.py.
                    "--forwarded-allow-ips",
                    ",".join(settings.TRUSTED_PROXIES),
                    # Token frames are a few dozen bytes: compressing each costs more CPU than it saves.
                    "--ws-per-message-deflate",
                    "false",
                    "--log-level",
                    settings.LOG_LEVEL.lower(),
                    *(["--workers", str(options["workers"])] if options["workers"] > 1 else []),
                ]
            )
        ]
        workers = options["workers"]
        connection.close()  # this process holds no connection while it supervises
        connection.close_pool()  # type: ignore[attr-defined]  # postgresql backend
        self.stdout.write(
            f"Trellis is starting on http://{options['host']}:{options['port']}/ "
            f"({workers} web worker{'s' if workers > 1 else ''}; Ctrl+C stops it)"
        )
        # The web server first: on two cores, the worker and the model server (torch) starting at
        # the same moment would double the time until the first page answers.
        _wait_for_port(options["host"], options["port"], children[0], timeout=60)
        if not options["no_worker"]:
            children.append(subprocess.Popen([python, "manage.py", "run_huey", "--quiet"]))
        if settings.MODEL_SUPERVISOR:
            children.append(subprocess.Popen([python, "manage.py", "supervise_models"]))
        if local_model:
            children.append(subprocess.Popen(local_model))
            self.stdout.write(f"Local model server (alias 'local') on {settings.LOCAL_MODEL_URL}")
        elif on_vllm:
            self.stdout.write(f"Local model (alias 'local') on vLLM at {settings.LOCAL_MODEL_URL}, ready in ~30 s")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    self.stderr.write(f"{child.args!r} exited with {child.returncode}; stopping Trellis.")
                    stopping, exit_code = True, 1
            time.sleep(0.3)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)

    def _stop_database(self) -> None:
        if embedded_pg.stop_if_started_here():
            self.stdout.write("Stopped the embedded PostgreSQL.")


def _local_model_on_vllm(model_dir: Any, report: Any) -> bool:
    """Whether the `local` model runs as the instance's vLLM deployment (TRELLIS_LOCAL_MODEL_ENGINE=vllm,
    the supervisor on, vLLM installed); otherwise the in-process transformers server serves it."""
    # apps.serving sits above apps.config (the layers contract): named, not imported.
    deployment_ensure_instance_local = import_string("apps.serving.deployments.deployment_ensure_instance_local")
    vllm_available = import_string("apps.serving.engine.vllm_available")
    vllm_python = import_string("apps.serving.engine.vllm_python")

    wanted = settings.LOCAL_MODEL_ENGINE == "vllm" and settings.MODEL_SUPERVISOR
    if wanted and not vllm_available():
        report(f"vLLM is not installed at {vllm_python()} (run scripts/vllm_cpu.sh); using the transformers server.")
        wanted = False
    deployment_ensure_instance_local(model_dir=model_dir, port=settings.LOCAL_MODEL_PORT, running=wanted)
    return wanted


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
