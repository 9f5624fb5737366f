"""Database connections against a real `manage.py serve` (2 web workers, the queue worker, its own
embedded PostgreSQL in a temporary data folder, a stand-in model): the connections stay within
the configured bound under concurrent requests (401s included); PostgreSQL stopped and started
again mid-load gives 503s meanwhile, never a 500, the server recovers by itself within 10 s and
nothing is half-written; a configuration that needs more connections than the server allows
refuses to start; Ctrl+C (SIGINT to the process group) stops everything, the embedded
PostgreSQL included. The tests share one server and run in this order; the last one stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.config.db import connections_needed
from apps.config.embedded_pg import server_start, server_stop
from tests.support.asgi_server import free_port
from tests.support.served import ROOT, Served, serving, wait_ok

Answer = tuple[float, str, int, str, float]  # asked at, what, HTTP status, a 503's error code, answered at
POOL = 4  # small, so that the load below is many times what one worker's pool holds
WEB_WORKERS = 2
BOUND = connections_needed(web_workers=WEB_WORKERS, pool_size=POOL, headroom=0, supervisor=False)

SETUP = """
import django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create, api_key_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from tests.flows.graphs import chat_flow
user = User.objects.create_user("soak", "soak@example.test", "soak passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Soak")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
model_endpoint_create(access=access, alias="standin", name="stand-in", kind="chat", base_url="{standin}",
                      model="standin-rate-200-n-20")
flow = flow_create(access=access, name="chat", description="", graph=chat_flow(model="standin"))
flow_version_publish(access=access, flow_id=flow.pk, note="v1")
_, key = api_key_create(access=access, name="soak", role=Role.EDITOR)
print("ID org", org.pk); print("ID flow", flow.pk); print("ID key", key)
"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(
        workers=WEB_WORKERS, setup=SETUP, env={"TRELLIS_DB_POOL_SIZE": str(POOL), "TRELLIS_DB_POOL_TIMEOUT": "3"}
    ) as instance:
        yield instance


async def _load(served: Served, seconds: float, answers: list[Answer], clients: int = 24) -> None:
    """`clients` clients for `seconds`: a third send a wrong API key (401), a third list flows,
    a third run the flow (JSON); each answer as (asked at, kind, status, code, answered at)."""
    flows = f"/api/v1/orgs/{served.ids['org']}/flows/"
    run = f"{flows}{served.ids['flow']}/run/"
    wrong = {"Authorization": "Bearer trl_0badbeef_wrongsecretwrongsecretwrongsecret"}
    deadline = time.monotonic() + seconds

    async def client(index: int, http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            kind = ("401", "list", "run")[index % 3]
            sent = time.monotonic()  # when it was asked: an answer read before a stop may arrive after it
            try:
                if kind == "401":
                    response = await http.get(flows, headers=wrong)
                elif kind == "list":
                    response = await http.get(flows, headers=served.headers)
                else:
                    response = await http.post(run, json={"inputs": {"message": "hi"}}, headers=served.headers)
                code = response.json().get("code", "") if response.status_code == 503 else ""
                answers.append((sent, kind, response.status_code, code, time.monotonic()))
                if response.status_code == 503:
                    await asyncio.sleep(0.2)
            except httpx.HTTPError:
                answers.append((sent, kind, 0, "", time.monotonic()))
                await asyncio.sleep(0.2)

    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        await asyncio.gather(*[client(i, http) for i in range(clients)])


def _unfinished_or_broken_runs(served: Served) -> list[tuple[Any, ...]]:
    """Runs that are not in a final state, or whose stored events do not run 1..last_seq ending
    on the terminal event (a half-written run)."""
    return served.sql(
        """
        SELECT r.id, r.status, r.last_seq, max(e.seq_end), count(e.*), sum(e.seq_end - e.seq + 1)
        FROM runs_run r LEFT JOIN runs_runevent e ON e.run_id = r.id
        GROUP BY r.id
        HAVING r.status = 'running'
            OR (r.status = 'completed' AND (max(e.seq_end) IS DISTINCT FROM r.last_seq
                OR sum(e.seq_end - e.seq + 1) IS DISTINCT FROM r.last_seq::numeric
                OR NOT bool_or(e.type = 'run.finished' AND e.seq = r.last_seq)))
        """
    )


def test_db_serve_connections_stay_within_the_bound_under_concurrent_requests(served: Served) -> None:
    answers: list[Answer] = []
    peaks: dict[str, int] = {}
    total_peak = 0

    async def main() -> None:
        nonlocal total_peak
        load = asyncio.ensure_future(_load(served, 20, answers, clients=48))
        while not load.done():
            counts = await asyncio.to_thread(served.connections)
            total_peak = max(total_peak, sum(counts.values()))
            for name, count in counts.items():
                peaks[name] = max(peaks.get(name, 0), count)
            await asyncio.sleep(0.05)
        await load

    asyncio.run(main())
    statuses = {status for _, _, status, _, _ in answers}
    # A request that waited TRELLIS_DB_POOL_TIMEOUT for one of the pool's 4 connections may be
    # answered 503 database_busy (the bound holding), never a 500.
    assert statuses <= {200, 401, 503}, sorted(statuses)
    assert [a for a in answers if a[2] == 200], "nothing got through"
    assert len(answers) > 50
    pooled = {name: peak for name, peak in peaks.items() if name.startswith("trellis:")}
    assert pooled and max(pooled.values()) <= POOL, peaks  # one process's pool never above its size
    assert total_peak <= BOUND, (total_peak, peaks)
    assert _unfinished_or_broken_runs(served) == []


def test_db_serve_recovers_by_itself_after_postgres_restarts_mid_load(served: Served) -> None:
    answers: list[Answer] = []
    marks: dict[str, float] = {}

    async def main() -> None:
        load = asyncio.ensure_future(_load(served, 30, answers))
        await asyncio.sleep(4)
        marks["stop"] = time.monotonic()
        await asyncio.to_thread(server_stop, served.pgdata)
        await asyncio.sleep(6)  # twice the pool's wait (TRELLIS_DB_POOL_TIMEOUT, 3 s here): answers come meanwhile
        marks["restarting"] = time.monotonic()
        await asyncio.to_thread(server_start, served.pgdata)
        marks["start"] = time.monotonic()
        await load

    asyncio.run(main())
    assert not [a for a in answers if a[2] >= 500 and a[2] != 503], "a 5xx other than 503"
    assert [a for a in answers if a[2] == 0] == [], "a connection dropped"
    # Answered while the server was down: 503, except a request asked before the stop, whose
    # reads may have finished in time (on a loaded machine its answer can arrive a second later).
    outage = [a for a in answers if marks["stop"] + 0.5 < a[4] < marks["restarting"]]
    asked_during = {status for asked, kind, status, _, _ in outage if kind != "401" and asked > marks["stop"]}
    assert outage and asked_during <= {503}
    assert {status for _, kind, status, _, _ in outage if kind != "401"} <= {200, 503}
    # Once a wait for the pool has timed out for want of a connection, the process knows the
    # server is down: later requests answer 503 database_unavailable after a short wait, not
    # after the pool's whole timeout (3 s here), nor when the server is back.
    known = marks["stop"] + 3 + 1.5
    late_in_outage = [a for a in answers if known < a[0] and a[4] < marks["restarting"] and a[1] != "401"]
    assert late_in_outage, "no request asked late in the outage"
    assert {code for _, _, _, code, _ in late_in_outage} == {"database_unavailable"}, late_in_outage
    waits = sorted(answered - asked for asked, _, _, _, answered in late_in_outage)
    assert waits[len(waits) // 2] < 1.5, waits
    recovered = [t for t, kind, status, _, _ in answers if t > marks["start"] and kind == "list" and status == 200]
    assert recovered and recovered[0] - marks["start"] < 10
    # Afterwards the database is reachable: a request may still wait out a busy pool, no more.
    late = [(status, code) for t, _, status, code, _ in answers if t > marks["start"] + 10]
    assert late and {s for s, _ in late} <= {200, 401, 503}, sorted(set(late))
    assert "database_unavailable" not in {code for _, code in late}
    # Runs in flight when the server stopped were written once it was back (the recorder retried).
    assert _unfinished_or_broken_runs(served) == []
    # So were their model calls (the ledger's writer retried too): every completed run has its row.
    unledgered = "SELECT count(*) FROM runs_run r WHERE r.status = 'completed' AND NOT EXISTS "
    unledgered += "(SELECT 1 FROM serving_modelcall m WHERE m.run_id = r.id)"
    deadline = time.monotonic() + 15
    while served.sql(unledgered)[0][0] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert served.sql(unledgered)[0][0] == 0


def test_db_serve_refuses_to_start_when_its_connections_exceed_max_connections(served: Served) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--skip-setup", "--port", str(free_port()), "--workers", "40"],
        cwd=ROOT,
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Refusing to start: Trellis may open" in result.stderr, result.stderr[-2000:]
    assert "max_connections=100" in result.stderr
    assert served.process.poll() is None  # the running instance and its database are untouched
    wait_ok(f"{served.url}/healthz", 10)


def test_db_serve_sigint_to_the_process_group_stops_everything_with_the_database(served: Served) -> None:
    postmaster = int((served.pgdata / "postmaster.pid").read_text().split()[0])
    group = subprocess.run(
        ["ps", "-o", "pid=", "-g", str(served.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(group) >= 1 + WEB_WORKERS + 1  # serve, uvicorn (its workers) and the queue worker
    os.killpg(served.process.pid, signal.SIGINT)  # Ctrl+C in a terminal
    assert served.process.wait(60) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(postmaster):
        time.sleep(0.1)
    assert not _alive(postmaster), "the embedded PostgreSQL outlived `manage.py serve`"
    assert not (served.pgdata / "postmaster.pid").exists()
    left = [pid for pid in map(int, group) if _alive(pid)]
    assert left == [], f"processes of the group still running: {left}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone for our purpose.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())
