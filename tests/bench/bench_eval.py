"""Evaluation machinery overhead: a 500-item dataset x 3 samples against the stand-in model.

Two timings of the same 1,500 chat calls at the same concurrency, in one process and one run:
  floor       the calls alone: an async HTTP client streams each completion from the stand-in
  evaluation  evaluation_execute (what the huey worker runs): every sample through the one run
              start (rows, events, the recorder), scored (exact + ROUGE-L) and stored, progress
              counters, lease and cancel checks
The figure is evaluation wall time / floor wall time (target <= 1.2).

Run: .venv/bin/python tests/bench/bench_eval.py [--items 500 --samples 3 --concurrency 16 --model standin-rate-30-n-12]
It starts its own embedded PostgreSQL in a temporary folder and its own stand-in server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from bench_knowledge import make_org, setup_django  # noqa: E402


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _floor(url: str, model: str, messages: list[str], concurrency: int) -> float:
    """The same calls as the evaluation makes (streamed, usage included), nothing else."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def call(message: str) -> None:
            async with gate:
                body = {
                    "model": model,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "messages": [{"role": "user", "content": message}],
                }
                async with client.stream("POST", "/chat/completions", json=body) as response:
                    async for _ in response.aiter_raw():
                        pass

        started = time.perf_counter()
        await asyncio.gather(*(call(message) for message in messages))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", default="standin-rate-30-n-12")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="tr-bench-eval-", dir="/tmp") as tmp:
        port = _port()
        standin = subprocess.Popen([sys.executable, "-m", "tests.support.standin", "--port", str(port)], cwd=ROOT)
        try:
            os.environ["TRELLIS_EGRESS_ALLOW"] = f"127.0.0.1:{port}"
            setup_django(Path(tmp) / "d")
            run(args, f"http://127.0.0.1:{port}/v1")
        finally:
            standin.kill()
            standin.wait()
            from apps.config.embedded_pg import server_stop

            server_stop(Path(tmp) / "d")


def run(args: argparse.Namespace, url: str) -> None:
    from apps.builder.services import flow_create, flow_version_publish
    from apps.evaluation.models import EvalSample
    from apps.evaluation.runner import evaluation_execute
    from apps.evaluation.services import dataset_create, evaluation_create
    from apps.serving.services import model_endpoint_create
    from tests.flows.graphs import chat_flow

    for _ in range(50):
        try:
            if httpx.get(url.removesuffix("/v1") + "/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    access = make_org("bench")
    model_endpoint_create(
        access=access,
        alias="bench",
        base_url=url,
        model=args.model,
        price_input_per_1k=Decimal("0.5"),
        price_output_per_1k=Decimal("1.5"),
    )
    flow = flow_create(access=access, name="bench", graph=chat_flow(template="{{question}}", model="bench"))
    flow_version_publish(access=access, flow_id=flow.pk)
    messages = [f"question number {i} about the parcel" for i in range(args.items)]
    dataset = dataset_create(
        access=access, name="bench", items=[{"message": m, "expected_output": "alpha bravo"} for m in messages]
    )
    calls = [m for m in messages for _ in range(args.samples)]
    # A huey worker imports the scoring libraries once (rouge-score pulls in nltk and
    # scikit-learn); the job does it before its first run. Timed apart: it is per process.
    from apps.evaluation.evaluators import preload

    preload_started = time.perf_counter()
    preload({"exact", "rouge_l"})
    preload_s = time.perf_counter() - preload_started
    cpu_started = time.process_time()
    floor = asyncio.run(_floor(url, args.model, calls, args.concurrency))
    floor_cpu = time.process_time() - cpu_started
    evaluation = evaluation_create(
        access=access,
        flow_id=flow.pk,
        version="1",
        dataset_id=dataset.pk,
        evaluators=[{"name": "exact", "kind": "exact"}, {"name": "rouge", "kind": "rouge_l"}],
        samples=args.samples,
        concurrency=args.concurrency,
        enqueue=False,
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    status = evaluation_execute(str(evaluation.pk))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    evaluation.refresh_from_db()
    stored = EvalSample.objects.filter(evaluation=evaluation).count()
    print(f"items {args.items} x samples {args.samples} = {len(calls)} calls, concurrency {args.concurrency}")
    print(f"model {args.model}")
    print(f"floor (stand-in alone): {floor:.2f} s (client CPU {floor_cpu:.2f} s)")
    print(f"evaluation: {wall:.2f} s, status {status}, samples stored {stored}, failed {evaluation.failed}")
    print(f"evaluation CPU in this process: {cpu:.2f} s ({cpu / len(calls) * 1000:.1f} ms a sample)")
    print(f"scoring libraries imported once before (per worker process): {preload_s:.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"ratio: {wall / floor:.3f}x")


if __name__ == "__main__":
    main()
