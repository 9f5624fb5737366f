"""Gateway overhead: throughput and time to first token through RoutedChatModel (the gateway,
with its ledger meter) versus the same chat model client called directly, at 1, 8 and 32
concurrent streams, against one OpenAI-compatible server.

    .venv/bin/python tests/bench/bench_gateway.py --url http://127.0.0.1:8001/v1 --model smollm2-135m
    .venv/bin/python tests/bench/bench_gateway.py            # the stand-in at 200 tok/s (no model time noise)
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")


async def _one(model: object, prompt: str) -> tuple[float, int, float]:
    started = time.perf_counter()
    first, tokens = None, 0
    async for chunk in model.astream(prompt):  # type: ignore[attr-defined]
        if chunk.content:
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
    return (first or 0.0) * 1000, tokens, time.perf_counter() - started


async def _round(make: object, concurrency: int, requests: int) -> tuple[float, float]:
    results = []
    started = time.perf_counter()
    for _ in range(max(1, requests // concurrency)):
        results += await asyncio.gather(*(_one(make(), "Tell me a story.") for _ in range(concurrency)))  # type: ignore[operator]
    wall = time.perf_counter() - started
    return sum(r[1] for r in results) / wall, statistics.median(r[0] for r in results)


def main() -> None:
    import django

    django.setup()
    from apps.serving.accounting import Meter
    from apps.serving.gateway import EndpointSnapshot, GatewayModels, Timeouts
    from apps.serving.models import ModelKind

    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--model", default="standin-rate-200-n-64")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--requests", type=int, default=32)
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        server = subprocess.Popen([sys.executable, "-m", "tests.support.standin", "--port", "18777"], cwd=ROOT)
        time.sleep(2)
        url = "http://127.0.0.1:18777/v1"
    from tests.support.egress import allow_egress

    allow_egress(url)  # a stand-in on loopback: the operator's allowlist lets it through the egress policy
    snapshot = EndpointSnapshot(
        alias="m",
        kind=ModelKind.CHAT,
        base_url=url,
        model=args.model,
        supports_tools=False,
        price_input_per_1k=Decimal(0),
        price_output_per_1k=Decimal(0),
        timeouts=Timeouts(5, 120, 60),
    )
    # A meter that counts but writes nowhere: the ledger write is off the stream's path anyway.
    meter = Meter(organization_id="bench")
    meter.record = lambda call: None  # type: ignore[method-assign]
    gateway = GatewayModels([snapshot], meter=meter)

    def direct() -> object:
        return gateway.client_model(snapshot, temperature=0, max_tokens=args.max_tokens)

    def routed() -> object:
        return gateway.chat_model("m", temperature=0, max_tokens=args.max_tokens)

    async def run() -> None:
        await _round(direct, 4, 4)  # warm the connection pool
        print(f"server {url} model {args.model}, {args.max_tokens} tokens per answer")
        print("streams | direct tok/s | gateway tok/s | overhead | direct TTFT p50 | gateway TTFT p50 | delta")
        for concurrency in (1, 8, 32):
            requests = max(args.requests, concurrency)
            d_tps, d_ttft = await _round(direct, concurrency, requests)
            g_tps, g_ttft = await _round(routed, concurrency, requests)
            print(
                f"{concurrency:7d} | {d_tps:12.1f} | {g_tps:13.1f} | {100 * (d_tps - g_tps) / d_tps:7.2f}% |"
                f" {d_ttft:12.1f} ms | {g_ttft:13.1f} ms | {g_ttft - d_ttft:+.2f} ms"
            )

    try:
        asyncio.run(run())
    finally:
        if server is not None:
            server.kill()


if __name__ == "__main__":
    main()
