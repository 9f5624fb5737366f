"""The recorder's added cost for the dashboard's rollups (issue 17): server CPU per streamed token
at N concurrent chats, before the rollups landed versus now, plus the queue worker's roll.

    .venv/bin/python tests/bench/bench_recorder_rollups.py --before /work/wt_before [--after .]
        [--pairs 2] [--chats 500] [--workers 2] [--rounds 2] [--roll-runs 180000]

1. Streaming: tests/bench/bench_runs.py (`--ttft-runs 0 --total 0`, its steady state only) of each
   tree, alternated before/after --pairs times; its "CPU per streamed token" line gives the
   server's CPU (all uvicorn workers) per token. The ratio after/before is per pair, measured back
   to back, and then their mean.
2. The queue worker's part (rollups are rolled there, never on the request path): in the --after
   tree, --roll-runs runs of 300 tokens in one hour by one member, each with its model call, seeded
   with INSERT ... SELECT; then one roll of that hour and 59 empty ticks
   (an hour of the worker's minutes), timed as the worker's CPU (process time) plus its PostgreSQL
   backend's CPU (from /proc); divided by the hour's tokens. --roll-runs 180000 is 500 chats of
   10 s replies for an hour.
Short mode: --pairs 1 --chats 100 --roll-runs 20000.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] if len(Path(__file__).resolve().parents) > 2 else Path.cwd()
PY = sys.executable
LINE = re.compile(r"CPU per streamed token: server (\d+) us.*machine: ([\d.]+) of")

ROLL_SCRIPT = r"""
import os, sys, time, uuid
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from django.contrib.auth.models import User
from apps.tenancy.access import Actor
from apps.tenancy.services import organization_create
from apps.builder.models import Flow
from apps.observability import rollups

N, TOKENS = int(sys.argv[1]), int(sys.argv[2])
user = User.objects.create_user("roll", "roll@example.test", "roll passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Roll")
flow = Flow.objects.create(organization=org, name="roll")
hour = rollups.hour_floor(timezone.now()) - timedelta(hours=3)
with connection.cursor() as c:
    c.execute(
        '''INSERT INTO runs_run (id, organization_id, flow_id, source, status, inputs, output, output_text,
             error_code, error_message, failed_node, started_at, finished_at, input_tokens, output_tokens, cost,
             usage, worker, last_seq, latency_ms, ttft_ms, created_by_id)
           SELECT gen_random_uuid(), %s, %s, 'api', 'completed', '{}', '{}', '', '', '', '',
             %s + make_interval(secs => i * 3600.0 / %s), %s + make_interval(secs => i * 3600.0 / %s + 10),
             20, %s, 0.002, '{}', '', 0, 10000 + i %% 500, 40 + i %% 300, %s
           FROM generate_series(0, %s - 1) AS i''',
        [org.pk, flow.pk, hour, N, hour, N, TOKENS, user.pk, N],
    )
    c.execute(
        '''INSERT INTO serving_modelcall (organization_id, run_id, flow_id, user_id, alias, served_by, status, error,
             attempts, input_tokens, output_tokens, cost, ttft_ms, latency_ms, at)
           SELECT organization_id, id, flow_id, created_by_id, 'm', 'm', 'ok', '', '[]', 20, output_tokens, cost,
             ttft_ms, latency_ms, started_at FROM runs_run WHERE organization_id = %s''',
        [org.pk],
    )
    c.execute("ANALYZE")
    c.execute("SELECT pg_backend_pid()")
    backend = c.fetchone()[0]


def backend_cpu() -> float:
    fields = open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(at):
    p0, b0, w0 = time.process_time(), backend_cpu(), time.perf_counter()
    rollups.rollups_refresh(at)
    return time.process_time() - p0, backend_cpu() - b0, time.perf_counter() - w0


from apps.observability.models import RollupMark
RollupMark.objects.update_or_create(name="runs", defaults={"rolled_to": hour})
worker, db, wall = timed(hour + timedelta(hours=1, minutes=3))
empty = [timed(hour + timedelta(hours=1, minutes=3 + m)) for m in range(1, 60)]
e_worker, e_db = sum(e[0] for e in empty), sum(e[1] for e in empty)
tokens = N * TOKENS
print(f"ROLL {N} {tokens} {worker:.3f} {db:.3f} {wall:.3f} {e_worker:.3f} {e_db:.3f}")
"""


def streaming(tree: Path, args: argparse.Namespace) -> tuple[float, float]:
    cmd = [PY, str(tree / "tests/bench/bench_runs.py"), "--ttft-runs", "0", "--total", "0"]
    cmd += ["--chats", str(args.chats), "--workers", str(args.workers), "--rounds", str(args.rounds)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    for attempt in range(3):  # a busy machine may start the server slower than bench_runs.py waits
        out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
        found = LINE.search(out.stdout)
        if found:
            break
        print(f"  {tree.name}: no CPU line (attempt {attempt + 1}): {out.stderr.strip()[-300:]}")
    else:
        raise SystemExit(f"{tree}: no CPU line\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    steady = next((line for line in out.stdout.splitlines() if line.startswith("steady state")), "")
    print(f"  {tree.name}: server {found.group(1)} us/token, machine {found.group(2)} CPUs busy; {steady[:200]}")
    return float(found.group(1)), float(found.group(2))


def roll(tree: Path, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tr-roll-", dir="/tmp") as tmp:
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
            [PY, "-c", ROLL_SCRIPT, str(runs), "300"], cwd=tree, env=env, capture_output=True, text=True, check=False
        )
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("ROLL")), None)
        if line is None:
            raise SystemExit(f"roll failed\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        _, n, tokens, worker, db, wall, e_worker, e_db = line.split()
        total = float(worker) + float(db) + float(e_worker) + float(e_db)
        print(
            f"worker roll of one hour of {int(n):,} runs ({int(tokens):,} tokens): worker {worker} s + PostgreSQL "
            f"{db} s CPU ({wall} s wall); 59 empty ticks: worker {e_worker} s + PostgreSQL {e_db} s -> "
            f"{total / int(tokens) * 1e6:.3f} us per streamed token"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a worktree of the commit before the rollups")
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--roll-runs", type=int, default=180_000, help="runs in the rolled hour (0: skip)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    ratios = []
    for pair in range(args.pairs):
        order = [args.before, args.after] if pair % 2 == 0 else [args.after, args.before]
        print(f"pair {pair + 1}:")
        got = {tree: streaming(tree, args) for tree in order}
        ratio = got[args.after][0] / got[args.before][0]
        ratios.append(ratio)
        print(f"  after/before server CPU per token: {ratio:.3f}")
    if ratios:
        print(f"mean ratio {statistics.mean(ratios):.3f} over {len(ratios)} pairs; load average {os.getloadavg()}")
    if args.roll_runs:
        roll(args.after, args.roll_runs)


if __name__ == "__main__":
    main()
