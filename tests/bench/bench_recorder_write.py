"""The recorder's database writes alone: CPU per second of streaming at N live runs in one process.

    .venv/bin/python tests/bench/bench_recorder_write.py [--runs 500] [--rate 30] [--seconds 6]
                                                         [--rounds 3] [--code DIR ...]

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
            [sys.executable, "-c", CHILD, str(args.runs), str(args.rate), str(args.seconds)],
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
