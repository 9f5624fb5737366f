"""Database work from async code, in parallel worker threads (not Django's one sync thread)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import psycopg
from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections
from django.db.models import Model

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


@contextlib.contextmanager
def bound_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """psycopg's own cursor on Django's connection (same transaction), binding parameters on the
    server: Django's cursor binds on the client, quoting every value in Python, and cannot
    prepare statements. For the hot paths' hand-written SQL (one statement per execute)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def insert_parts(instance: Model) -> tuple[str, list[Any]]:
    """`INSERT INTO table (columns) VALUES (%s, ...)` for a new model instance, and its parameters.

    Field by field as Model.save does it (pre_save fills auto_now_add, get_db_prep_save adapts),
    without the query compiler: for hot paths that write several rows in one statement."""
    db = connections[DEFAULT_DB_ALIAS]  # once, not through the proxy per field
    model = type(instance)
    cached = _INSERTS.get(model)
    if cached is None:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and getattr(f, "db_returning", False))]
        columns = ", ".join(db.ops.quote_name(str(f.column)) for f in fields)
        table = db.ops.quote_name(model._meta.db_table)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - names from the model
        cached = _INSERTS[model] = (sql, fields)
    sql, fields = cached
    return sql, [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]


_INSERTS: dict[type[Model], tuple[str, list[Any]]] = {}
