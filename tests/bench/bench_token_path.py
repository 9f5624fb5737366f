"""The token event's Python path alone: engine -> live run -> recorder -> wire -> forwarder.

    .venv/bin/python tests/bench/bench_token_path.py [--tokens 20000] [--repeat 9] [--rounds 3]
                                                     [--runs 1] [--code DIR ...]

What a streamed token costs a web worker after the model's chunk is in hand and before the
socket write: `_RunState.token` (the LLM node's `ctx.token`) builds the Event, `LiveRun` records
it (`Recorder.record`, no flush: the batch writer is kept from starting) and makes its wire dict,
and the socket's `Forwarder` encodes it and hands the frame to a direct writer that discards it.
No socket, no database, no model: CPU time (`time.process_time`) per token event, the best of
--repeat runs of --tokens events in each round, so it stays readable on a shared machine.
`--code DIR` (repeatable) measures each worktree in turn (its own directory first on sys.path),
alternating the order round by round. The rest of a token's cost (the model read, the loop's
wake-up, the frame's send) is in bench_stream_read.py and bench_runs.py.
`--runs N` spreads the tokens over N live runs in turn, one token each, as a loaded worker
interleaves its ~750 runs: the same steps, on more objects (what the caches hold changes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time, uuid
    import django
    django.setup()
    import uvloop
    from apps.runs import recorder as recorder_module
    from apps.runs.forward import Forwarder
    from apps.runs.live import LiveRun, PreparedRun
    from apps.runs.models import Run
    from flows.compiler import _RunState
    from flows.events import Event

    tokens, repeat, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

    class Waiting:  # the flow: never emits by itself (the loop below plays the LLM node)
        async def execute(self, *args, **kwargs):
            await asyncio.Event().wait()

    async def once():
        loop = asyncio.get_running_loop()
        recorder = recorder_module.recorder()
        recorder._task = loop.create_future()  # no batch writer: no database
        lives, states = [], []
        for _ in range(runs):
            run = Run(id=uuid.uuid4(), organization_id=uuid.uuid4())
            live = LiveRun(PreparedRun(run=run, compiled=Waiting(), prices={}, ref=None))
            Forwarder(lambda message: None, direct=lambda frame: True).follow(live)

            def emit(kind, node, data, live=live, seq=[1]):  # what CompiledFlow.execute hands the sink
                live._on_event(Event(seq[0], kind, live.run_id, node, data))
                seq[0] += 1

            lives.append(live)
            states.append(_RunState(live.run_id, emit))
        cpu = time.process_time()
        for i in range(tokens):
            states[i % runs].token("llm_1", " bravo")
        cpu = time.process_time() - cpu
        for live in lives:
            live.task.cancel()
        recorder._pending.clear()
        recorder._open.clear()
        return cpu

    async def main():
        print(json.dumps({"cpu": min([await once() for _ in range(repeat)]), "tokens": tokens}))

    uvloop.run(main())
    """
)


def measure(code: Path, args: argparse.Namespace) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "DJANGO_SETTINGS_MODULE": "apps.config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.tokens), str(args.repeat), str(args.runs)],
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return float(result["cpu"]) / int(result["tokens"]) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="live runs the tokens go to in turn")
    parser.add_argument("--code", action="append", type=Path, help="a worktree to measure (repeatable)")
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code] if args.code else [ROOT]
    results: dict[Path, list[float]] = {code: [] for code in codes}
    for turn in range(args.rounds):
        for code in codes if turn % 2 == 0 else codes[::-1]:
            per_event = measure(code, args)
            results[code].append(per_event)
            print(f"{code}: {per_event:.2f} us CPU per token event, load {os.getloadavg()[0]:.1f}", flush=True)
    for code, values in results.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{code}: median {statistics.median(values):.2f} us per token event ({each})")


if __name__ == "__main__":
    main()
