"""Who wants to know that a run ended: the apps above register here (apps.observability: its
Prometheus series and OpenTelemetry export) without apps.runs importing them.

An observer is called in the run's task on the event loop, right after the run's last write
committed: it must be quick and must not block (hand slow work to a thread or a queue). An
observer that raises is logged and skipped; the run is not affected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apps.runs.models import Run
from flows.events import Event

logger = logging.getLogger(__name__)

RunEnded = Callable[[Run, Event, Any], None]  # the run, its terminal event, its Final (apps.runs.recorder)
_observers: list[RunEnded] = []


def run_ended_subscribe(observer: RunEnded) -> None:
    if observer not in _observers:
        _observers.append(observer)


def run_ended_unsubscribe(observer: RunEnded) -> None:
    if observer in _observers:
        _observers.remove(observer)


def run_ended(run: Run, terminal: Event, final: Any) -> None:
    for observer in tuple(_observers):
        try:
            observer(run, terminal, final)
        except Exception:
            logger.exception("a run-ended observer failed for run %s", run.pk)
