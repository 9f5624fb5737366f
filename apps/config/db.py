"""Database work from async code, in parallel worker threads (not Django's one sync thread),
the connection budget of a host, and what a database that is down or busy becomes for clients."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import psycopg
import psycopg_pool
from asgiref.sync import sync_to_async
from django import db as django_db
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

from apps.config.errors import TrellisError

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=Model)

# Connections a web worker holds outside its pool: the runs' LISTEN (apps.runs.remote) and the
# knowledge progress bridge (apps.knowledge.realtime).
LISTENERS_PER_WEB_WORKER = 2
RETRY_AFTER_SECONDS = 2
_BUSY = psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests | psycopg.errors.TooManyConnections


class DatabaseUnavailable(TrellisError):
    """The database cannot take the request now: every pooled connection is busy
    (`database_busy`) or the server cannot be reached (`database_unavailable`). HTTP 503 with
    Retry-After; nothing of the request was written (its transaction never committed)."""

    status, code = 503, "database_unavailable"
    retry_after = RETRY_AFTER_SECONDS

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class Outage:
    """While the database cannot be reached, a request waits for a pooled connection only
    QUICK_SECONDS, not the pool's whole timeout: it answers 503 `database_unavailable` at once
    instead of holding its client and a thread until the server is back.

    The pool says which it is when a wait times out: if its attempts to open a connection failed
    since we last looked, the server is down or not answering; otherwise every connection is in
    use (busy). The pool's size cannot tell: it counts the attempts still retrying. The first
    connection handed out again (`connection_created`) ends the outage and gives the pool back its
    own timeout. Per process, like the pool.
    """

    QUICK_SECONDS = 0.2

    def __init__(self) -> None:
        self._timeout: float | None = None  # the pool's own timeout, while in an outage
        self._errors_seen = 0

    @property
    def on(self) -> bool:
        return self._timeout is not None

    def timed_out(self) -> bool:
        """Called when waiting for a pooled connection timed out: True (and the outage begins)
        when the reason is that no connection could be opened."""
        pool = _pool()
        if pool is None:
            return False
        errors = pool.get_stats().get("connections_errors", 0)
        down = self._timeout is not None or errors > self._errors_seen
        self._errors_seen = errors
        if down and self._timeout is None:
            self._timeout, pool.timeout = pool.timeout, min(pool.timeout, self.QUICK_SECONDS)
        return down

    def connected(self, **_: Any) -> None:
        """connection_created's receiver (every checkout): ends an outage, else costs one test."""
        if self._timeout is not None and (pool := _pool()) is not None:
            pool.timeout, self._timeout = self._timeout, None
            self._errors_seen = pool.get_stats().get("connections_errors", 0)


POOL_CHECK_IDLE_SECONDS = 1.0


def pool_check(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection it hands out: an empty query, a round trip, only for a
    connection that sat in the pool longer than POOL_CHECK_IDLE_SECONDS. One given back in
    working order just before (most checkouts: every run makes several thread trips) is handed
    out as it is: if it broke meanwhile, the request using it answers 503
    `database_unavailable` (database_error) and the pool drops it."""
    returned = getattr(conn, "_trellis_returned", None)
    if returned is not None and time.monotonic() - returned < POOL_CHECK_IDLE_SECONDS:
        return
    psycopg_pool.ConnectionPool.check_connection(conn)


def pool_returned(conn: psycopg.Connection[Any]) -> None:
    """The pool's `reset`, called for a connection given back idle (a broken one is dropped before)."""
    conn._trellis_returned = time.monotonic()  # type: ignore[attr-defined]


def pool_checks_install(**_: Any) -> None:
    """connection_created's receiver: the process's pool checks with `pool_check` instead of
    Django's check of every checkout (CONN_HEALTH_CHECKS), and stamps what it gets back. Django
    builds the pool itself and passes its own `check`, so it cannot be given as a pool option;
    set on the pool once (again if the pool is rebuilt). Django's check serves the first checkout.
    It never builds the pool itself: reading `connection.pool` builds it from the settings of that
    moment, and the signal also fires for the connection to the `postgres` database that creates
    the test database, before the settings name it (a pool built then kept the old name: the
    suite's tables went to the wrong database and its servers found none)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    pool = getattr(type(wrapper), "_connection_pools", {}).get(wrapper.alias)
    if not isinstance(pool, psycopg_pool.ConnectionPool):
        return
    if pool._check is pool_check:
        return
    if pool._reset is None:
        pool._reset = pool_returned
    if pool._reset is pool_returned and pool._check is not None:
        pool._check = pool_check


def _pool() -> psycopg_pool.ConnectionPool | None:
    pool = getattr(connections[DEFAULT_DB_ALIAS], "pool", None)
    return pool if isinstance(pool, psycopg_pool.ConnectionPool) else None


OUTAGE = Outage()


def database_error(exc: BaseException) -> DatabaseUnavailable | None:
    """The 503 that `exc` stands for, when it is the database being busy or down (Django's
    wrapped errors carry psycopg's as their cause); None for any other error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DatabaseUnavailable):
            return seen
        if isinstance(seen, psycopg_pool.PoolTimeout) and OUTAGE.timed_out():
            return DatabaseUnavailable("The database cannot be reached right now; try again in a moment.")
        if isinstance(seen, _BUSY):
            return DatabaseUnavailable(
                "The database is busy with other requests right now; try again in a moment.", code="database_busy"
            )
        if isinstance(seen, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
            return DatabaseUnavailable("The database is busy right now; try again in a moment.", code="database_busy")
        seen = seen.__cause__
    if isinstance(
        exc, django_db.OperationalError | django_db.InterfaceError | psycopg.OperationalError | psycopg.InterfaceError
    ):
        return DatabaseUnavailable("The database cannot be reached right now; try again in a moment.")
    return None


def connections_needed(
    *, web_workers: int, pool_size: int, headroom: int, queue_worker: bool = True, supervisor: bool = True
) -> int:
    """What a host running `manage.py serve` may open at most: each web worker's pool and
    listeners, the queue worker's and the model supervisor's pools, the serve process itself
    (migrations) and `headroom` for shells, migrations and tools."""
    per_web = pool_size + LISTENERS_PER_WEB_WORKER
    return web_workers * per_web + pool_size * (int(queue_worker) + int(supervisor)) + 1 + headroom


def connection_budget(*, web_workers: int, queue_worker: bool, supervisor: bool) -> str | None:
    """Why the server cannot take what `manage.py serve` would open (None when it can): the sum
    of connections_needed against the server's max_connections, less the slots it reserves for
    superusers when Trellis does not connect as one."""
    from django.conf import settings

    pool, headroom = settings.DB_POOL_SIZE, settings.DB_HEADROOM
    needed = connections_needed(
        web_workers=web_workers, pool_size=pool, headroom=headroom, queue_worker=queue_worker, supervisor=supervisor
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int, "
            "coalesce(current_setting('reserved_connections', true), '0')::int, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        )
        max_connections, superuser_reserved, reserved, superuser = cursor.fetchone()
    available = max_connections if superuser else max_connections - superuser_reserved - reserved
    if needed <= available:
        return None
    parts = [f"{web_workers} web worker(s) x (pool {pool} + {LISTENERS_PER_WEB_WORKER} listeners)"]
    parts += [f"queue worker {pool}"] if queue_worker else []
    parts += [f"model supervisor {pool}"] if supervisor else []
    parts += ["this process 1", f"headroom {headroom} (TRELLIS_DB_HEADROOM)"]
    where = (
        f"the embedded server in {settings.DATA_DIR / 'pg'} runs with max_connections={max_connections} "
        "(it was started by another process with other settings: stop that process, or the server, first)"
        if not settings.DATABASE_URL
        else f"the server allows {available} (max_connections={max_connections})"
    )
    return (
        f"Refusing to start: Trellis may open {needed} PostgreSQL connections ({', '.join(parts)}), "
        f"but {where}. Lower TRELLIS_DB_POOL_SIZE or TRELLIS_WEB_WORKERS, or raise max_connections."
    )


def in_db_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run `function` in a worker thread, on a connection from the process's pool that goes
    back to the pool when it returns (a thread never keeps one between calls: the pool's bound
    holds whatever the number of threads). A database that is busy or down raises
    DatabaseUnavailable (a TrellisError: 503 / an error event).

    Django's default `sync_to_async` funnels every call through one thread, so a burst of runs
    starting at once would queue behind each other's queries.
    """

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return db_thread_call(function, *args, **kwargs)

    return sync_to_async(run, thread_sensitive=False)


def db_thread_call(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`function(*args, **kwargs)` as a worker thread of our own runs database work: a busy or
    unreachable database raises DatabaseUnavailable, and the thread's connection goes back to the
    pool when it returns (in_db_thread's threads, and the executors of the semantic cache and of
    hybrid search's keyword half)."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        if (unavailable := database_error(exc)) is not None and unavailable is not exc:
            raise unavailable from exc
        raise
    finally:
        release_connection()


def release_connection() -> None:
    """Hand this thread's connection back to the pool (a broken one is dropped by the pool)."""
    with contextlib.suppress(Exception):  # closing a connection that broke must not hide the real error
        connection.close()


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


def select_list(model: type[Model], alias: str) -> str:
    """`alias.column, ...` for every concrete field of `model`, in the order `model_from_row` takes."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return ", ".join(f"{alias}.{quote(str(f.column))}" for f in model._meta.concrete_fields)


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """A `model` instance from the values of `select_list`'s columns (read through
    `bound_cursor`), as the ORM builds one: each field's converters (a JSONField's text parsed),
    then `Model.from_db` (a stored row: not adding, on the default database)."""
    converters = _CONVERTERS.get(model)
    if converters is None:
        db = connections[DEFAULT_DB_ALIAS]
        converters = _CONVERTERS[model] = [
            (i, field, field.get_db_converters(db))
            for i, field in enumerate(model._meta.concrete_fields)
            if field.get_db_converters(db)
        ]
    if converters:
        db = connections[DEFAULT_DB_ALIAS]
        values = list(values)
        for i, field, functions in converters:
            for convert in functions:
                values[i] = convert(values[i], field, db)
    return model.from_db(DEFAULT_DB_ALIAS, (), values)


_CONVERTERS: dict[type[Model], list[tuple[int, Any, list[Callable[..., Any]]]]] = {}
