"""The recorder's database writes alone: CPU per second of streaming at N live runs in one process.

    .venv/bin/python tests/bench/bench_recorder_write.py [--runs 500] [--rate 30] [--seconds 6]
                                                         [--rounds 3] [--code DIR ...]
    .venv/bin/python tests/bench/bench_recorder_write.py --ends 1 2 4 [--runs 600] [--rounds 3]

What one web worker's recorder writes while --runs runs stream --rate tokens/s each (issue 15):
each tree's own flush interval for that many open runs (`flush_interval(N)` where the tree has
it, else FLUSH_INTERVAL), each flush a batch of every run's token events since the last one,
written by the tree's `_write` (the same function the recorder's thread calls) on a fresh
embedded PostgreSQL. Counted: the writing thread's CPU in `_write` (`time.thread_time`: the
Python and psycopg work, which holds the GIL beside the event loop; building the batch is not)
and the PostgreSQL backend's CPU (from /proc: the same machine's cores), per second of
streaming, and the rows stored per second.
--seconds of streaming per measurement; `--code DIR` (repeatable) measures each worktree in turn,
alternating the order round by round. The engine, the sockets and the model are left out
(bench_runs.py has the whole server).
--ends N ...: run ends only (a token, the LLM node's end, the run's end, the final state and the
assistant's message), --runs of them written N per transaction: the thread's and PostgreSQL's
CPU and the wall time per end, for each N (the recorder gathers ends under load: issue 15).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.db import connection
from apps.builder.models import Flow
from apps.runs import recorder as rec
from apps.runs.models import Run, RunEvent
from apps.tenancy.access import Actor
from apps.tenancy.services import organization_create
from flows.events import Event, EventType

runs_n, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ends_together = int(sys.argv[4])
user = User.objects.create_user("rec", "rec@example.test", "rec passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Rec")
flow = Flow.objects.create(organization=org, name="rec")
runs = [str(r.pk) for r in Run.objects.bulk_create([Run(organization=org, flow=flow) for _ in range(runs_n)])]
interval = rec.flush_interval(runs_n) if hasattr(rec, "flush_interval") else rec.FLUSH_INTERVAL
per_flush = max(1, round(rate * interval))
with connection.cursor() as c:
    c.execute("SELECT pg_backend_pid()")
    backend = c.fetchone()[0]


def backend_cpu():
    fields = open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


seq = dict.fromkeys(runs, 0)
spans = {}


spent = [0.0]


def flush():
    batch = {}
    for r in runs:
        pending = rec._Pending()
        for _ in range(per_flush):
            seq[r] += 1
            pending.events.append(Event(seq[r], EventType.TOKEN, r, "llm", {"text": " token"}))
        batch[r] = pending
    # (in the recorder a pooled connection per batch; here this thread's, whose backend is measured)
    started = time.thread_time()
    assert not rec._write(batch, spans, [])
    spent[0] += time.thread_time() - started


if ends_together:
    # Run ends only: each run's last events (a token, the LLM node's end, the run's end), its final
    # state and the assistant's message, written ends_together runs per transaction, as the
    # recorder's thread writes them (_write); the thread hop to it is not counted.
    from decimal import Decimal
    from apps.runs.models import ChatSession
    sessions = ChatSession.objects.bulk_create([ChatSession(organization=org, flow=flow) for _ in range(runs_n)])
    session_of = {r: str(s.pk) for r, s in zip(runs, sessions)}

    def end(r):
        pending = rec._Pending()
        pending.events = [
            Event(1, EventType.TOKEN, r, "llm", {"text": " last"}),
            Event(2, EventType.NODE_FINISHED, r, "llm", {"outputs": {"text": "a reply"}, "latency_ms": 9.5,
                                                         "usage": {"input_tokens": 12, "output_tokens": 300}}),
            Event(3, EventType.RUN_FINISHED, r, None, {"outputs": {"text": "a reply"}, "latency_ms": 10.1,
                                                       "usage": {"input_tokens": 12, "output_tokens": 300}}),
        ]
        pending.final = rec.Final(output_text="a reply", cost=Decimal("0.0001"), assistant_message="a reply",
                                  session_id=session_of[r])
        pending.terminal = pending.events[-1]
        return pending

    warm, timed = runs[:30], runs[30:]
    for i in range(0, len(warm), ends_together):
        assert not rec._write({r: end(r) for r in warm[i:i + ends_together]}, spans, [])
    db, wall, thread = backend_cpu(), time.perf_counter(), time.thread_time()
    for i in range(0, len(timed), ends_together):
        assert not rec._write({r: end(r) for r in timed[i:i + ends_together]}, spans, [])
    thread, db, wall = time.thread_time() - thread, backend_cpu() - db, time.perf_counter() - wall
    assert Run.objects.filter(status="completed").count() == runs_n
    print("RESULT " + json.dumps({"ends": len(timed), "thread": thread, "db": db, "wall": wall}))
    sys.exit(0)

for _ in range(3):
    flush()  # warm: statements prepared, caches
flushes = max(1, round(seconds / interval))
rows_before = RunEvent.objects.count()
spent[0], db = 0.0, backend_cpu()
for _ in range(flushes):
    flush()
thread, db = spent[0], backend_cpu() - db
rows = RunEvent.objects.count() - rows_before
streamed = flushes * interval
print("RESULT " + json.dumps({"interval": interval, "thread": thread / streamed, "db": db / streamed,
                              "rows": rows / streamed, "tokens": runs_n * per_flush * flushes / streamed}))
"""


def measure(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="tr-rec-", dir="/tmp") as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("TRELLIS_DB_NAME", None)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.runs), str(args.rate), str(args.seconds), str(args.ends_together)],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{tree}: no result\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500, help="live runs in the process")
    parser.add_argument("--rate", type=float, default=30.0, help="tokens/s per run")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of streaming per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", action="append", type=Path, help="a worktree to measure (repeatable)")
    parser.add_argument(
        "--ends",
        type=int,
        nargs="*",
        help="run ends only: written this many runs per transaction (e.g. --ends 1 2 4), --runs ends each",
    )
    args = parser.parse_args()
    if args.ends:
        ends(args)
        return
    args.ends_together = 0
    trees = [path.resolve() for path in args.code] if args.code else [ROOT]
    results: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
    for turn in range(args.rounds):
        for tree in trees if turn % 2 == 0 else trees[::-1]:
            r = measure(tree, args)
            results[tree].append(r)
            print(
                f"{tree}: flush every {r['interval']:.2f} s; per second of streaming: writing thread "
                f"{r['thread'] * 1000:.1f} ms CPU, PostgreSQL {r['db'] * 1000:.1f} ms CPU, {r['rows']:.0f} rows "
                f"({r['tokens']:.0f} tokens); load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    for tree, runs in results.items():
        thread = statistics.median(r["thread"] for r in runs) * 1000
        db = statistics.median(r["db"] for r in runs) * 1000
        tokens = statistics.median(r["tokens"] for r in runs)
        print(
            f"{tree}: median per second {thread:.1f} ms writing thread + {db:.1f} ms PostgreSQL = "
            f"{(thread + db) / tokens * 1000:.2f} us CPU per streamed token"
        )


def ends(args: argparse.Namespace) -> None:
    """CPU per run end written alone or with others in one transaction (issue 15: the recorder
    gathers the ends of a few ms under load); rounds alternate the group sizes' order."""
    results: dict[int, list[dict[str, float]]] = {n: [] for n in args.ends}
    for turn in range(args.rounds):
        for n in args.ends if turn % 2 == 0 else args.ends[::-1]:
            args.ends_together = n
            r = measure(ROOT, args)
            results[n].append(r)
            print(
                f"{n} per transaction: per end {r['thread'] / r['ends'] * 1e6:.0f} us writing thread, "
                f"{r['db'] / r['ends'] * 1e6:.0f} us PostgreSQL, {r['wall'] / r['ends'] * 1e6:.0f} us wall; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    for n, runs in results.items():
        thread = statistics.median(r["thread"] / r["ends"] for r in runs) * 1e6
        db = statistics.median(r["db"] / r["ends"] for r in runs) * 1e6
        wall = statistics.median(r["wall"] / r["ends"] for r in runs) * 1e6
        print(
            f"{n} per transaction, median per end: {thread:.0f} us thread + {db:.0f} us PostgreSQL; {wall:.0f} us wall"
        )


if __name__ == "__main__":
    main()
