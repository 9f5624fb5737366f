"""Database work from async code, in parallel worker threads (not Django's one sync thread)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def in_db_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run `function` in a worker thread with its own (health-checked, reused) connection.

    Django's default `sync_to_async` funnels every call through one thread, so a burst of runs
    starting at once would queue behind each other's queries.
    """

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=False)
