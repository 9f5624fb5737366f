"""The pool's check of the connections it hands out (apps.config.db.pool_check): a connection
given back moments ago is handed out without a round trip; one that sat idle longer is checked,
and one that broke while idle is replaced, never handed to a request."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.conf import settings
from psycopg_pool import ConnectionPool

from apps.config import db


def _conninfo() -> str:
    database = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(host=database["HOST"], user=database["USER"], dbname=database["NAME"])


class _Counted(psycopg.Connection[Any]):
    empty_queries = 0

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == "":
            type(self).empty_queries += 1
        return super().execute(query, *args, **kwargs)


@pytest.fixture
def pool() -> Any:
    _Counted.empty_queries = 0
    with ConnectionPool(
        _conninfo(),
        connection_class=_Counted,
        min_size=1,
        max_size=1,
        timeout=5,
        check=db.pool_check,
        reset=db.pool_returned,
        kwargs={"autocommit": True},
    ) as opened:
        opened.wait()
        yield opened


def test_a_connection_given_back_just_before_is_handed_out_unchecked(pool: ConnectionPool) -> None:
    with pool.connection() as conn:  # never given back yet: checked
        conn.execute("SELECT 1")
    assert _Counted.empty_queries == 1
    for _ in range(3):
        with pool.connection() as conn:
            conn.execute("SELECT 1")
    assert _Counted.empty_queries == 1


def test_a_connection_idle_longer_is_checked_and_replaced_when_broken(
    pool: ConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pool.connection() as conn:
        pid = conn.info.backend_pid
    monkeypatch.setattr(db, "POOL_CHECK_IDLE_SECONDS", 0.0)
    with pool.connection() as conn:
        conn.execute("SELECT 1")
    assert _Counted.empty_queries == 2
    with psycopg.connect(_conninfo(), autocommit=True) as admin:  # the server ends it while idle
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pool.connection() as conn:  # the check fails, the pool opens another
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid != pid


@pytest.mark.django_db
def test_the_process_pool_uses_it_once_a_connection_was_handed_out() -> None:
    from django.db import connection

    connection.ensure_connection()
    pool: Any = connection.pool  # type: ignore[attr-defined]
    assert pool._check is db.pool_check
    assert pool._reset is db.pool_returned
