"""What one REST JSON run costs in database round trips and thread hops (issue 15's figures).

Counted on a warm process (a first run has opened the pool's connection, prepared the snapshot
and started the recorder and the LISTEN), through the real ASGI application with an API key:
every statement sent by psycopg (Django's cursors and the hot paths' own), every commit, and
every hop to a thread. A change that adds a trip to the hot path fails here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from asgiref.sync import SyncToAsync

from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


def _stored_answer(run_id: str) -> dict[str, Any]:
    from django.core.serializers.json import DjangoJSONEncoder

    from apps.runs.api.serializers import RunOut
    from apps.runs.models import Run

    run = Run.objects.select_related("flow", "version").get(pk=run_id)
    return dict(json.loads(json.dumps(RunOut(run).data, cls=DjangoJSONEncoder)))


class _Counts:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.commits = 0
        self.hops: list[str] = []


@contextlib.contextmanager
def _counting() -> Iterator[_Counts]:
    counts = _Counts()
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
    commit, call = psycopg.Connection.commit, SyncToAsync.__call__

    def counted_execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        counts.statements.append(str(query)[:60] or repr(query)[:60])
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        counts.statements.append("many: " + str(query)[:54])  # pipelined: one trip
        return executemany(self, query, *args, **kwargs)

    def counted_commit(self: psycopg.Connection[Any]) -> None:
        counts.commits += 1
        commit(self)

    async def counted_call(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        counts.hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await call(self, *args, **kwargs)

    patches: list[tuple[Any, str, Callable[..., Any]]] = [
        (psycopg.Cursor, "execute", counted_execute),
        (psycopg.Cursor, "executemany", counted_executemany),
        (psycopg.Connection, "commit", counted_commit),
        (SyncToAsync, "__call__", counted_call),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield counts
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


async def test_a_rest_json_run_reads_once_writes_once_and_hops_once_before_its_model_call(
    org_a: Member, api_key_for: Callable[..., str], endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    from channels.db import database_sync_to_async

    from apps.config.asgi import application

    await database_sync_to_async(endpoint)()
    flow = await database_sync_to_async(publish_flow)()
    key = await database_sync_to_async(api_key_for)(org_a, "editor")
    url = f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as client:
        warm = await client.post(url, json={"inputs": {"message": "warm up"}})
        assert warm.status_code == 200, warm.text
        with _counting() as counts:
            response = await client.post(url, json={"inputs": {"message": "hello"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["flow_name"] and body["version_number"] == 1
    # The answer, built without reading the run back, is what the stored row says.
    stored = await database_sync_to_async(_stored_answer)(body["id"])
    assert body == stored
    # Left out: the pool's check of a connection it hands out (an empty query), a new pooled
    # connection's set-up (its time zone) and the recorder's SET LOCAL (in its batch's transaction).
    setup = ("''", "SET LOCAL", "SELECT set_config('TimeZone'")
    statements = [s for s in counts.statements if not s.startswith(setup)]
    listed = "\n".join(counts.statements)
    # Before the run: the key, once (authenticated inside the run start's trip; the scope
    # middleware does not look it up again), the one read, the rows in one statement; the model
    # call's ledger (its own batch) aside. The answer is built from what the run's last write stored: no read back.
    single = [
        s
        for s in statements
        if not s.startswith("many: ") and "serving_modelcall" not in s and "INSERT INTO runs_runevent" not in s
    ]
    assert sum("tenancy_apikey" in s for s in single) == 1, listed
    assert sum(s.lstrip().startswith("SELECT f.id") for s in single) == 1, listed
    assert sum(s.startswith("WITH w0 AS (INSERT") for s in single) == 1, listed
    assert len(single) <= 3, listed
    assert not any('FROM "runs_run"' in s or "FROM runs_run" in s for s in statements), listed
    # The recorder's batches: events (one statement of every run's rows), spans, the final write
    # and the assistant's message, each one pipelined trip (executemany); the final write once.
    assert sum(s.startswith("INSERT INTO runs_runevent") for s in statements) >= 1, listed
    assert not any(s.startswith("many: INSERT INTO runs_runevent") for s in statements), listed
    assert sum(s.startswith("many: UPDATE runs_run SET status") for s in statements) == 1, listed
    # Thread hops: the run start's one trip, then the recorder's and the ledger's batches; none
    # for a middleware (Django's own run inline: apps/config/inline_middleware.py) and none for
    # the key's scope or a read of the answer.
    assert counts.hops.count("_start") == 1, counts.hops
    assert not any("process_" in h or "scope_refusal" in h or "get" in h for h in counts.hops), counts.hops
    assert len(counts.hops) <= 8, counts.hops


async def test_the_views_that_skip_the_scope_middleware_apply_the_key_scope_themselves(
    org_a: Member, publish_flow: Callable[..., Any]
) -> None:
    """Served async, the run and OpenAI-compatible views check the key's scope on the key their
    own authentication read (ApiKeyScopeMiddleware does not look it up for them): a read-only key
    and a key limited to other flows are refused 403 key_scope, in each view's error shape."""
    from channels.db import database_sync_to_async

    from apps.config.asgi import application
    from apps.tenancy.services import api_key_create

    flow = await database_sync_to_async(publish_flow)()
    other = await database_sync_to_async(publish_flow)()

    def make(**options: Any) -> str:
        return api_key_create(access=org_a.access, name="scoped", role="editor", **options)[1]

    read_only = await database_sync_to_async(make)(scope="read")
    elsewhere = await database_sync_to_async(make)(scope="runs", flows=[other["id"]])
    base = f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as client:
        for key in (read_only, elsewhere):
            headers = {"Authorization": f"Bearer {key}"}
            run = await client.post(f"{base}/run/", json={"inputs": {"message": "hi"}}, headers=headers)
            assert (run.status_code, run.json()["code"]) == (403, "key_scope"), run.text
            bad = await client.post(f"{base}/run/", content=b"{", headers=headers)  # scope before the 400
            assert (bad.status_code, bad.json()["code"]) == (403, "key_scope"), bad.text
            chat = await client.post(
                f"{base}/openai/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=headers,
            )
            assert (chat.status_code, chat.json()["error"]["code"]) == (403, "key_scope"), chat.text
