"""Live runs over the WebSocket against a stand-in model server (fixed reply at a set rate).

    .venv/bin/python tests/bench/bench_runs.py [--ttft-runs 200] [--chats 500] [--rounds 3] [--burst]
                                               [--total 10000] [--workers 1] [--rss-every 2000]

1. Added time to first token: run.start over the WebSocket -> first token event, versus a direct
   streaming request to the stand-in -> first content chunk (p50 of the difference); short
   replies (30 tokens), one run at a time.
2. Concurrent streaming chats, steady state: --chats N clients each open one socket (before the
   clock starts), wait a random delay in [0, reply time) and then run --rounds R runs back to
   back on it (the next run.start as soon as the last run ends), so N chats stream at once with
   their starts spread out as in a real steady state. Stand-in at 30 tokens/s, BENCH_TOKENS (300:
   a 10 s reply) tokens per reply. Reports the gap between consecutive token events of a run at
   the client (p50, p99, max; not across runs; tokens that a loaded server read together arrive
   as one event, so this is the wait between two updates of the text, never a zero padded in per
   token), tokens and token events, problems (error events, failed runs, seq gaps or reorders,
   token count or text not the reply's), wall time, how many runs streamed
   at once at peak, and the CPU per streamed token of the server (all its processes), the
   stand-in and this client; then each process's CPUs over the middle third of the phase (the
   server, the stand-in, this client, every PostgreSQL process on the machine, the whole machine:
   the budget at the peak), and the budget at the target rate (--chats x 30 tokens/s): what the
   stand-in, this client and the kernel would need at that rate at the peak's costs per token,
   what that leaves of the machine's cores for Trellis (the server and PostgreSQL) per token, and
   whether Trellis's own cost per token at the peak fits in it. --rounds 0 skips it.
   --burst adds the old wave, reported on lines of its own: N sockets each start one run at once.
3. Memory: server RSS (all its processes) after 1,000 runs and after --total runs (waves of N
   chats, one socket per run, short replies); --total 0 skips it. --rss-every N also prints it (per
   process too) every N runs, to tell growth that goes on from a level it reaches.
   BENCH_MEM_LOG=DIR adds, at each reading, what each server process holds (tests/bench/memprobe:
   objects by type, Python's blocks, glibc's heap in use and free); BENCH_MEM_IDLE_S=S waits S
   seconds before each reading (finished runs are kept 10 s for resumes).
Between phases it waits out the stand-in's keep-alive (KEEP_ALIVE_S + 1 s, see settle()).

The client is a lean WebSocket client on asyncio.Protocol (benchlib.WsClient) on uvloop, so its
own CPU per token stays small next to the server's. --workers N runs uvicorn with N workers.
BENCH_PROFILE=out.json records the server with py-spy (installed by hand) for
BENCH_PROFILE_SECONDS (25) after BENCH_PROFILE_DELAY seconds (BENCH_PROFILE_NATIVE=1: C frames too,
BENCH_PROFILE_FORMAT=raw: collapsed stacks); BENCH_STRACE=out.txt counts the system calls of one web
worker's event loop (`strace -c` on its main thread, BENCH_STRACE_SECONDS (10) after
BENCH_STRACE_DELAY seconds; it slows that worker, so read the counts per frame written, not the
figures of that run); BENCH_SERVER_WRAPPER="script.py" starts the server as `python script.py
<uvicorn args>` instead of `python -m uvicorn` (a profiler wrapper around uvicorn.main).
BENCH_GAPS=FILE writes phase 2's gaps (seconds) and when each ended to FILE as JSON.
BENCH_GC_LOG=DIR logs every garbage collection of the server's processes to DIR
(tests/bench/gcprobe) and prints, per process, the collections of the steady state by
generation: how many, their CPU and wall time, and the longest (a collection stops its worker's
event loop: a gap for every stream of that worker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psutil
import uvloop
from benchlib import WsClient, free_port, percentile, wait_ok, ws_connect

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
TOKENS = int(os.environ.get("BENCH_TOKENS", "300"))  # tokens per reply in the concurrency part (10 s)
SHORT = 30  # tokens per reply for time to first token and the memory waves (one second)
RATE = 30  # the stand-in's tokens per second
TERMINAL = {"run.finished", "run.failed", "run.cancelled"}
sys.path.insert(0, str(ROOT))
from tests.support.standin import KEEP_ALIVE_S, reply_tokens  # noqa: E402


def setup_data(env: dict[str, str], standin: str) -> tuple[dict[int, str], str]:
    """An org with an API key and two published chat flows: replies of SHORT and of TOKENS tokens."""
    script = f"""
import django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create, api_key_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from tests.flows.graphs import chat_flow
user = User.objects.create_user("bench", "bench@example.test", "bench passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Bench")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
for tokens in {sorted({SHORT, TOKENS})}:
    model_endpoint_create(access=access, alias=f"standin-{{tokens}}", name="stand-in", kind="chat",
                          base_url="{standin}", model=f"standin-rate-{RATE}-n-{{tokens}}")
    flow = flow_create(access=access, name=f"bench {{tokens}}", description="",
                       graph=chat_flow(model=f"standin-{{tokens}}"))
    flow_version_publish(access=access, flow_id=flow.pk, note="bench")
    print("FLOW", tokens, flow.pk)
_, key = api_key_create(access=access, name="bench", role=Role.EDITOR)
print("KEY", key)
"""
    out = subprocess.check_output([PY, "-c", script], cwd=ROOT, env=env, text=True)
    fields = [line.split() for line in out.splitlines()]
    flows = {int(f[1]): f[2] for f in fields if f[:1] == ["FLOW"]}
    (key,) = [f[1] for f in fields if f[:1] == ["KEY"]]
    return flows, key


@dataclass
class Tally:
    """What the clients saw: gaps between consecutive token events of a run, problems, tokens and
    token events (a loaded server may send tokens that arrived together as one event), runs
    streaming at once (now and at peak), and times to first token when asked for."""

    gaps: list[float] = field(default_factory=list)
    gap_at: list[float] = field(default_factory=list)  # when each gap ended (perf_counter)
    # The same gaps by the server's clock: between the `at` stamps of consecutive token events
    # (when the server made each event), so the client's own delays are not in them.
    server_gaps: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    first_token: list[float] | None = None
    tokens: int = 0
    streamed: int = 0  # tokens received so far, counted as they arrive (`tokens`: at each run's end)
    events: int = 0
    runs: int = 0
    active: int = 0
    peak: int = 0


EXPECTED_TEXT: dict[int, str] = {}


class RunSocket(WsClient):
    """One socket running one run at a time: per event, parse the JSON (orjson), check seq, time tokens."""

    def __init__(self, host: str, path: str, key: str, tally: Tally) -> None:
        super().__init__(host, path, {"Authorization": f"Bearer {key}"})
        self.tally = tally
        self.done: asyncio.Future[None] | None = None
        self.expected, self.last_seq, self.count, self.events, self.sent, self.last_token_at = 0, 0, 0, 0, 0.0, 0.0
        self.last_at = 0.0  # the server's `at` of the last token event
        self.text: list[str] = []

    async def run(self, flow_id: str, tokens: int, timeout: float) -> None:
        """Start a run and wait for its terminal event (or an error event)."""
        self.expected, self.last_seq, self.count, self.events, self.text = tokens, 0, 0, 0, []
        done = self.done = self.loop.create_future()
        tally = self.tally
        tally.runs += 1
        tally.active += 1
        tally.peak = max(tally.peak, tally.active)
        self.sent = time.perf_counter()
        self.send_text(json.dumps({"type": "run.start", "flow": flow_id, "inputs": {"message": "hi"}}))
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            self.end("no terminal event")

    def on_message(self, payload: bytes) -> None:
        event = orjson.loads(payload)
        kind = event.get("type")
        if self.done is None:  # nothing running: a reply to nothing we sent
            self.tally.problems.append(f"unexpected {kind}")
            return
        if kind == "error":
            self.end(event.get("code", "error"))
            return
        seq = event.get("seq")
        if seq != self.last_seq + 1:
            self.tally.problems.append(f"gap or reorder at seq {seq}")
        self.last_seq = seq
        if kind == "token":
            now = time.perf_counter()
            at = event.get("at") or 0.0
            if self.events:
                self.tally.gaps.append(now - self.last_token_at)
                self.tally.gap_at.append(now)
                self.tally.server_gaps.append(at - self.last_at)
            elif self.tally.first_token is not None:
                self.tally.first_token.append(now - self.sent)
            self.last_token_at, self.last_at = now, at
            self.events += 1
            text = event["data"]["text"]
            words = len(text.split())  # the reply's tokens are words, each but the first after a space
            self.count += words
            self.tally.streamed += words
            self.text.append(text)
        elif kind in TERMINAL:
            if kind != "run.finished":
                data = event.get("data") or {}
                self.end(f"{data.get('code', kind)}: {str(data.get('message', ''))[:80]}")
            elif self.count != self.expected:
                self.end(f"{self.count} tokens")
            elif "".join(self.text) != EXPECTED_TEXT.setdefault(self.count, "".join(reply_tokens(self.count))):
                self.end("text out of order")
            else:
                self.end(None)

    def end(self, problem: str | None) -> None:
        if self.done is None:
            return
        if problem is not None:
            self.tally.problems.append(problem)
        self.tally.tokens += self.count
        self.tally.events += self.events
        self.tally.active -= 1
        done, self.done = self.done, None
        if not done.done():
            done.set_result(None)

    def on_lost(self, exc: Exception | None) -> None:
        self.end("connection lost")


async def connect(url: str, key: str, tally: Tally) -> RunSocket:
    return await ws_connect(url, lambda host, path: RunSocket(host, path, key, tally))


def run_timeout(tokens: int) -> float:
    return 60 + 3 * tokens / RATE


async def one_chat(url: str, key: str, flow_id: str, tokens: int, tally: Tally) -> None:
    """A socket for one run, as a page that opens, asks once and leaves."""
    try:
        sock = await connect(url, key, tally)
    except (OSError, ConnectionError) as exc:
        tally.problems.append(f"connect: {exc}")
        return
    await sock.run(flow_id, tokens, run_timeout(tokens))
    await sock.close()


async def steady_chat(sock: RunSocket, flow_id: str, tokens: int, rounds: int) -> None:
    """One chat in a steady state: a random start within one reply's time, then runs back to back."""
    await asyncio.sleep(random.uniform(0, tokens / RATE))
    for _ in range(rounds):
        if sock.closed.done():
            sock.tally.problems.append("socket closed")
            return
        await sock.run(flow_id, tokens, run_timeout(tokens))


async def direct_ttft(standin: str, runs: int) -> list[float]:
    samples = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(runs):
            started = time.perf_counter()
            async with client.stream(
                "POST",
                f"{standin}/chat/completions",
                json={
                    "model": f"standin-rate-{RATE}-n-{SHORT}",
                    "stream": True,
                    "messages": [{"role": "user", "content": "Question: hi"}],
                },
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                        samples.append(time.perf_counter() - started)
                        break
    return samples


def _tree(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its children (uvicorn --workers), or of this process
    alone when pid is None: load on the machine from elsewhere does not change it, so it is the
    steadier measure of cost per token."""
    return sum(cpu_split(pid))


def cpu_split(pid: int | None) -> tuple[float, float]:
    """(user, system) CPU seconds of `cpu_seconds`' processes: system is the kernel's share (the
    sockets' syscalls and loopback TCP), user the processes' own code."""
    procs = [psutil.Process()] if pid is None else _tree(pid)
    user = system = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        user, system = user + times.user, system + times.system
    return user, system


def rss_mib(pid: int) -> float:
    return float(sum(p.memory_info().rss for p in _tree(pid))) / 2**20


def rss_sample(pid: int, runs: int, rss_first: float) -> float:
    """Print the server's RSS after `runs` runs (all processes, then each: with --workers N the
    supervisor first), and with BENCH_MEM_LOG what each process's memory probe saw; returns the
    total RSS in MiB."""
    time.sleep(float(os.environ.get("BENCH_MEM_IDLE_S", "0")))  # finished runs kept for resumes expire
    procs = _tree(pid)
    each = [proc.memory_info().rss / 2**20 for proc in procs]
    line = (
        f"after {runs:,} runs: server RSS {sum(each):.0f} MiB ({(sum(each) / rss_first - 1) * 100:+.1f}% since 1,000), "
        "per process " + " / ".join(f"{mib:.0f}" for mib in each)
    )
    if folder := os.environ.get("BENCH_MEM_LOG"):
        (Path(folder) / "ask").write_text(str(runs))
        deadline, rows = time.monotonic() + 30, {}
        while time.monotonic() < deadline and len(rows) < len(procs):
            time.sleep(0.2)
            for proc in procs:
                path = Path(folder) / f"mem.{proc.pid}.jsonl"
                last = path.read_text().splitlines()[-1:] if path.exists() else []
                if last and json.loads(last[0])["label"] == str(runs):
                    rows[proc.pid] = json.loads(last[0])
        seen = [rows.get(proc.pid) for proc in procs]
        line += "; objects " + " / ".join(f"{row['objects']:,}" if row else "?" for row in seen)
        line += "; Python blocks " + " / ".join(f"{row['py_blocks']:,}" if row else "?" for row in seen)
        heaps = [row["malloc_mib"] if row else None for row in seen]
        line += "; malloc MiB in use+free " + " / ".join(
            f"{heap['in_use']:.0f}+{heap['free']:.0f}" if heap else "?" for heap in heaps
        )
    print(line + f" ({time.strftime('%H:%M:%S')})", flush=True)
    return sum(each)


class CpuMeter:
    """CPU per streamed token of each process between start() and per_token()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.server_split = cpu_split(pids["server"]) if pids.get("server") else (0.0, 0.0)
        self.machine = machine_cpu()
        self.wall = time.perf_counter()

    def line(self, tokens: int, events: int = 0) -> str:
        used = {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}
        per_token = {name: seconds / max(1, tokens) * 1e6 for name, seconds in used.items()}
        line = "CPU per streamed token: " + ", ".join(f"{name} {us:.0f} us" for name, us in per_token.items())
        if events and "server" in used:
            # Tokens read together go out as one event, more of them the busier the machine: the
            # cost per event says whether a change cut the work or the machine was just busier.
            split = zip(cpu_split(self.pids["server"]), self.server_split, strict=True)
            user, system = (now - then for now, then in split)
            line += (
                f" (server {used['server'] / events * 1e6:.0f} us per token event, "
                f"{tokens / events:.2f} tokens per event; per token user {user / max(1, tokens) * 1e6:.0f} us, "
                f"system {system / max(1, tokens) * 1e6:.0f} us)"
            )
        busy, steal = (now - then for now, then in zip(machine_cpu(), self.machine, strict=True))
        wall = time.perf_counter() - self.wall
        # Steal: time the hypervisor gave this VM's CPUs to someone else (the machine is shared).
        return line + f"; machine: {busy / wall:.2f} of {os.cpu_count()} CPUs busy, {steal / wall:.2f} stolen"


def postgres_cpu() -> float:
    """User + system CPU seconds of every PostgreSQL process on the machine (the embedded server's
    backends serve only the bench here)."""
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


class CpuTimeline:
    """Each process's CPU per window of phase 2, to read the machine's budget at the peak (the
    phase's per-token figures average the ramp in and out with it)."""

    def __init__(self, pids: dict[str, int | None], tally: Tally, every: float = 2.0) -> None:
        self.pids, self.tally, self.every = pids, tally, every
        self.rows: list[tuple[float, dict[str, float], int]] = []  # (time, CPU seconds so far, tokens so far)
        self.task = asyncio.ensure_future(self._sample())

    def _read(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["PostgreSQL"] = postgres_cpu()
        cpu["machine"] = machine_cpu()[0]
        return cpu

    async def _sample(self) -> None:
        while True:
            self.rows.append((time.perf_counter(), self._read(), self.tally.streamed))
            await asyncio.sleep(self.every)

    def peak(self, target: float) -> str:
        """CPUs used by each process over the middle third of the phase (all chats streaming),
        then the budget at `target` tokens/s (see budget_line)."""
        self.task.cancel()
        if len(self.rows) < 4:
            return "CPU at the peak: too short a phase"
        start, end = self.rows[len(self.rows) // 3], self.rows[2 * len(self.rows) // 3]
        wall = end[0] - start[0]
        used = {name: (end[1][name] - start[1][name]) / wall for name in end[1]}
        parts = ", ".join(f"{name} {cpus:.2f}" for name, cpus in used.items())
        tokens = (end[2] - start[2]) / wall
        line = f"CPUs used over the middle third of the phase ({wall:.0f} s, {tokens:,.0f} tokens/s): {parts}"
        return line + "\n" + budget_line(used, tokens, target)


def budget_line(used: dict[str, float], tokens: float, target: float) -> str:
    """Whether this machine can stream `target` tokens/s at this run's costs: each process's CPU
    per token at the peak, times the target rate. The stand-in and this client stand for the model
    server and the users' browsers; what they need at the target rate is not the server's to use,
    so the line says what is left for Trellis (the server and PostgreSQL) on this machine's cores,
    as CPU per token, against what Trellis used per token at the peak. The per-token costs are read
    at this run's tokens per event: a run that fell behind sent fewer, fuller events than one that
    keeps up would, so behind, the need is understated (the line errs towards "fits"). The verdict
    is about the cores only: with them full, how long the gaps get depends on the run (a run at
    500 chats kept its p99 under the target with its cores full)."""
    if tokens <= 0 or target <= 0:
        return "budget at the target rate: no tokens at the peak"
    cores = os.cpu_count() or 1
    per_token = {name: cpus / tokens for name, cpus in used.items()}
    others = per_token.get("stand-in", 0.0) + per_token.get("bench client", 0.0)
    trellis = per_token.get("server", 0.0) + per_token.get("PostgreSQL", 0.0)
    # The kernel's own work (interrupts, the loopback's softirqs) and everything else on the machine.
    rest = max(0.0, per_token.get("machine", 0.0) - others - trellis)
    clients, kernel, own = others * target, rest * target, trellis * target  # CPUs at the target rate
    left = cores - clients - kernel
    return (
        f"budget at the target rate ({target:,.0f} tokens/s, {cores} CPUs) at this run's costs per token: the "
        f"stand-in and client need {clients:.2f} CPUs, the kernel and the rest {kernel:.2f}, leaving {left:.2f} "
        f"CPUs = {max(0.0, left) / target * 1e6:.0f} us per token for Trellis (server + PostgreSQL), which used "
        f"{trellis * 1e6:.0f} us per token at the peak (needs {own:.2f} CPUs: "
        f"{'fits' if own <= left else 'does not fit'}; all of it {clients + kernel + own:.2f} of {cores} CPUs)"
    )


def machine_cpu() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    try:
        with Path("/proc/stat").open() as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def gap_summary(tally: Tally) -> str:
    gaps = tally.gaps or [0.0]
    return (
        f"inter-token gap p50 {statistics.median(gaps) * 1000:.0f} ms, p99 {percentile(gaps, 0.99) * 1000:.0f} ms, "
        f"max {max(gaps) * 1000:.0f} ms (target p99 <= 150 ms); {tally.tokens:,} tokens in "
        f"{tally.events:,} token events; "
        f"problems: {len(tally.problems)} {sorted(set(tally.problems))[:5]}"
    )


async def steady(args: argparse.Namespace, url: str, key: str, flow_id: str, pids: dict[str, int | None]) -> int:
    tally = Tally()
    socks = await asyncio.gather(*(connect(url, key, tally) for _ in range(args.chats)))
    meter = CpuMeter(pids)
    timeline = CpuTimeline(pids, tally)
    started, wall_started = time.perf_counter(), time.time()
    await asyncio.gather(*(steady_chat(sock, flow_id, TOKENS, args.rounds) for sock in socks))
    seconds = time.perf_counter() - started
    cpu = meter.line(tally.tokens, tally.events) + "\n" + timeline.peak(args.chats * RATE)
    await asyncio.gather(*(sock.close() for sock in socks))
    print(
        f"steady state: {args.chats} chats x {args.rounds} runs x {TOKENS} tokens at {RATE} tok/s, "
        f"{tally.peak} streaming at once at peak: wall {seconds:.1f} s (ideal <= "
        f"{(args.rounds + 1) * TOKENS / RATE:.1f} s), " + gap_summary(tally)
    )
    print(cpu)
    print(gap_timeline(tally, started))
    print(server_gap_summary(tally))
    if os.environ.get("BENCH_GAPS"):  # every gap and when it ended (s from the start), for a histogram
        gaps = {
            "started": wall_started,
            "gaps": tally.gaps,
            "at": [at - started for at in tally.gap_at],
            "server_gaps": tally.server_gaps,
        }
        Path(os.environ["BENCH_GAPS"]).write_text(json.dumps(gaps))
    if os.environ.get("BENCH_GC_LOG"):
        print(gc_summary(Path(os.environ["BENCH_GC_LOG"]), wall_started, wall_started + seconds))
    return tally.runs


def server_env(env: dict[str, str]) -> dict[str, str]:
    """The server's environment: with BENCH_GC_LOG=DIR, the garbage-collection probe
    (tests/bench/gcprobe/sitecustomize.py) loads in each of its processes and logs to DIR; with
    BENCH_MEM_LOG=DIR, the memory probe (tests/bench/memprobe/sitecustomize.py)."""
    for variable, probe_name in (("BENCH_GC_LOG", "gcprobe"), ("BENCH_MEM_LOG", "memprobe")):
        folder = os.environ.get(variable)
        if not folder:
            continue
        if os.environ.get("BENCH_GC_LOG") and os.environ.get("BENCH_MEM_LOG"):
            sys.exit("BENCH_GC_LOG and BENCH_MEM_LOG each load a sitecustomize: set one of them")
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = str(Path(__file__).resolve().parent / probe_name)
        path = os.pathsep.join(p for p in (probe, env.get("PYTHONPATH", "")) if p)
        return {**env, "PYTHONPATH": path, f"{variable}_DIR": str(Path(folder).resolve())}
    return env


def gc_summary(folder: Path, start: float, end: float) -> str:
    """The server's garbage collections during the steady state, per process and generation
    (tests/bench/gcprobe: one line per collection): how many, their CPU and wall time, and the
    longest stall. A collection stops that worker's event loop, so its wall time is a gap for
    every stream of the worker."""
    lines = ["garbage collection in the steady state (BENCH_GC_LOG; per process: collections, CPU, wall, longest):"]
    for path in sorted(folder.glob("gc.*.txt")):
        per_gen: dict[int, list[tuple[float, float]]] = {}
        for row in path.read_text().splitlines():
            at, gen, wall, cpu, _collected = row.split()
            if start <= float(at) <= end:
                per_gen.setdefault(int(gen), []).append((float(wall), float(cpu)))
        if per_gen:
            parts = [
                f"gen{gen} {len(rows)}, {sum(c for _, c in rows):.0f} ms CPU, {sum(w for w, _ in rows):.0f} ms wall, "
                f"longest {max(w for w, _ in rows):.0f} ms"
                for gen, rows in sorted(per_gen.items())
            ]
            lines.append(f"  pid {path.name.split('.')[1]}: " + "; ".join(parts))
    return "\n".join(lines)


def server_gap_summary(tally: Tally) -> str:
    """The same gaps by the server's clock (the events' `at`): what the server sent, without the
    time each frame waited for this client (the client shares the cores it measures)."""
    gaps = tally.server_gaps or [0.0]
    return (
        f"the same gaps by the server's clock (token events' `at`): p50 {statistics.median(gaps) * 1000:.0f} ms, "
        f"p90 {percentile(gaps, 0.90) * 1000:.0f} ms, p99 {percentile(gaps, 0.99) * 1000:.0f} ms"
    )


def gap_timeline(tally: Tally, started: float, window: float = 2.0) -> str:
    """p99 gap per window of the run: are the long gaps where runs start, or everywhere?"""
    windows: dict[int, list[float]] = {}
    for gap, at in zip(tally.gaps, tally.gap_at, strict=True):
        windows.setdefault(int((at - started) // window), []).append(gap)
    cells = [f"{k * window:.0f}s {percentile(v, 0.99) * 1000:.0f}" for k, v in sorted(windows.items())]
    return f"p99 gap (ms) per {window:.0f} s window: " + ", ".join(cells)


async def burst(args: argparse.Namespace, url: str, key: str, flow_id: str, pids: dict[str, int | None]) -> int:
    tally = Tally()
    meter = CpuMeter(pids)
    started = time.perf_counter()
    await asyncio.gather(*(one_chat(url, key, flow_id, TOKENS, tally) for _ in range(args.chats)))
    seconds = time.perf_counter() - started
    print(
        f"burst: {args.chats} chats started at once x {TOKENS} tokens at {RATE} tok/s, {tally.peak} streaming "
        f"at once at peak: wall {seconds:.1f} s (ideal {TOKENS / RATE:.1f} s), " + gap_summary(tally)
    )
    print(meter.line(tally.tokens, tally.events))
    return tally.runs


async def settle(after_load: int | bool) -> None:
    """Between phases, let the stand-in close the server's idle pooled connections first (after 5 s,
    as uvicorn does): a call that reuses one in the moment it closes fails as model_unavailable, a
    race of the server's connection pool with any upstream's keep-alive, not what a phase measures."""
    if after_load:
        await asyncio.sleep(KEEP_ALIVE_S + 1)


async def waves(url: str, key: str, flow_id: str, chats: int, total: int) -> Tally:
    tally = Tally()
    done = 0
    while done < total:
        batch = min(chats, total - done)
        await asyncio.gather(*(one_chat(url, key, flow_id, SHORT, tally) for _ in range(batch)))
        done += batch
    return tally


async def bench(
    args: argparse.Namespace,
    url: str,
    key: str,
    flows: dict[int, str],
    standin: str,
    server_pid: int,
    standin_pid: int,
) -> None:
    tally = Tally(first_token=[])
    for _ in range(20):  # warm-up
        await one_chat(url, key, flows[SHORT], SHORT, Tally())
    for _ in range(args.ttft_runs):
        await one_chat(url, key, flows[SHORT], SHORT, tally)
    runs = 20 + tally.runs
    direct = await direct_ttft(standin, args.ttft_runs)
    if args.ttft_runs and tally.first_token:
        ws_first = tally.first_token
        added = statistics.median(ws_first) * 1000 - statistics.median(direct) * 1000
        print(
            f"time to first token, p50: direct to the stand-in {statistics.median(direct) * 1000:.1f} ms, "
            f"over the Trellis WebSocket {statistics.median(ws_first) * 1000:.1f} ms -> added {added:.1f} ms "
            f"(target <= 10 ms); problems: {len(tally.problems)} {sorted(set(tally.problems))[:5]}"
        )

    pids: dict[str, int | None] = {"server": server_pid, "stand-in": standin_pid, "bench client": None}
    if args.chats and args.rounds:
        runs += await steady(args, url, key, flows[TOKENS], pids)
    if args.chats and args.burst:
        await settle(args.rounds)
        runs += await burst(args, url, key, flows[TOKENS], pids)

    if args.total > 0:
        await settle(args.chats and (args.rounds or args.burst))
        first = min(1000, args.total)
        tally_first = await waves(url, key, flows[SHORT], args.chats or 100, max(0, first - runs))
        rss_first = rss_mib(server_pid)
        every = args.rss_every or args.total
        rss_sample(server_pid, first, rss_first)
        tally_total, done = Tally(), first
        while done < args.total:
            step = min(args.total, (done // every + 1) * every) - done
            more = await waves(url, key, flows[SHORT], args.chats or 100, step)
            tally_total.problems += more.problems
            done += step
            if done < args.total:
                rss_sample(server_pid, done, rss_first)
        rss_total = rss_sample(server_pid, args.total, rss_first)
        print(
            f"server RSS after {first:,} runs {rss_first:.0f} MiB, after {args.total:,} runs {rss_total:.0f} MiB "
            f"({(rss_total / rss_first - 1) * 100:+.1f}%, target within 10%); "
            f"problems {len(tally_first.problems) + len(tally_total.problems)}"
        )


def _strace(server_pid: int, workers: int) -> subprocess.Popen[bytes]:
    """strace -c on the main thread (the event loop) of the first web worker, for
    BENCH_STRACE_SECONDS (10) after BENCH_STRACE_DELAY seconds (0), counts into BENCH_STRACE."""
    worker = server_pid
    if workers > 1:
        children = psutil.Process(server_pid).children()
        workers_now = [child.pid for child in children if "spawn_main" in " ".join(child.cmdline())]
        worker = workers_now[0] if workers_now else server_pid
    return subprocess.Popen(
        [
            "sh",
            "-c",
            'sleep "$0"; exec "$@"',
            os.environ.get("BENCH_STRACE_DELAY", "0"),
            "timeout",
            "-s",
            "INT",
            os.environ.get("BENCH_STRACE_SECONDS", "10"),
            "strace",
            "-c",
            "-o",
            os.environ["BENCH_STRACE"],
            "-p",
            str(worker),
        ],
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttft-runs", type=int, default=200)
    parser.add_argument("--chats", type=int, default=500, help="chats streaming at once")
    parser.add_argument("--rounds", type=int, default=3, help="runs per chat in the steady state (0: skip it)")
    parser.add_argument("--burst", action="store_true", help="also all chats starting one run at once")
    parser.add_argument("--total", type=int, default=10_000, help="runs before the last RSS reading (0: skip)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--rss-every", type=int, default=0, help="also print the server's RSS every N runs of phase 3 (0: at the end)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers too when told to stop
    with tempfile.TemporaryDirectory(prefix="tr-", dir="/tmp") as tmp:
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
        standin_port, port = free_port(), free_port()
        env["TRELLIS_EGRESS_ALLOW"] = f"127.0.0.1:{standin_port}"  # the stand-in is on loopback: the operator allows it
        procs = [
            subprocess.Popen(
                [PY, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, start_new_session=True
            )
        ]
        standin = f"http://127.0.0.1:{standin_port}/v1"
        try:
            subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            flows, key = setup_data(env, standin)
            procs.append(
                subprocess.Popen(
                    [
                        PY,
                        *(
                            os.environ["BENCH_SERVER_WRAPPER"].split()
                            if os.environ.get("BENCH_SERVER_WRAPPER")
                            else ["-m", "uvicorn"]
                        ),
                        "apps.config.asgi:application",
                        "--port",
                        str(port),
                        "--lifespan",
                        "off",
                        "--log-level",
                        "warning",
                        "--ws-max-queue",
                        "4096",
                        "--ws-per-message-deflate",
                        "false",
                        *(["--workers", str(args.workers)] if args.workers > 1 else []),
                    ],
                    cwd=ROOT,
                    env=server_env(env),
                    start_new_session=True,
                )
            )
            wait_ok(f"http://127.0.0.1:{port}/healthz")
            server_pid = procs[-1].pid
            if os.environ.get("BENCH_PROFILE"):  # py-spy flame graph of the server under load
                procs.append(
                    subprocess.Popen(
                        [
                            "sh",
                            "-c",
                            'sleep "$0"; exec "$@"',  # BENCH_PROFILE_DELAY: start when the chats stream
                            os.environ.get("BENCH_PROFILE_DELAY", "0"),
                            "py-spy",
                            "record",
                            "-o",
                            os.environ["BENCH_PROFILE"],
                            "-p",
                            str(procs[-1].pid),
                            "-d",
                            os.environ.get("BENCH_PROFILE_SECONDS", "25"),
                            "-f",
                            os.environ.get("BENCH_PROFILE_FORMAT", "speedscope"),
                            "--gil",  # only the thread running Python: CPU, not waiting
                            *(["--subprocesses"] if args.workers > 1 else []),
                            *(["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") else []),
                        ],
                        start_new_session=True,
                    )
                )
            if os.environ.get("BENCH_STRACE"):  # system calls of one web worker's event loop
                procs.append(_strace(server_pid, args.workers))
            wait_ok(f"http://127.0.0.1:{standin_port}/health")
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(bench(args, f"ws://127.0.0.1:{port}/ws/", key, flows, standin, server_pid, procs[0].pid))
        finally:
            for proc in procs:
                with_kill = proc.poll() is None
                if with_kill:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
