"""Every run entry point against the LangChain floor, on the same stand-in model, in one run.

    .venv/bin/python tests/bench/bench_entrypoints.py [--workers 2] [--seconds 8] [--requests 200]

The floor is the same 4-node chain written directly in LangChain (prompt | ChatOpenAI | parser)
behind a minimal Starlette endpoint, served by uvicorn with the same number of workers. Trellis is
`manage.py serve --workers N` (embedded PostgreSQL, no queue worker, no local model) running a
published chat flow (chat input -> prompt -> LLM -> output) whose model is the stand-in
(tests/support/standin.py, as fast as it can, 20 tokens a reply).

Figures (p50 of --requests sequential calls after a warm-up; throughput over --seconds at each
concurrency; every non-2xx or malformed answer counted as an error):
  REST JSON  POST .../flows/<id>/run/                   vs  floor POST /run
  SSE        POST .../run/ {"stream": true}: first token  vs  floor POST /sse: first chunk
  OpenAI     POST .../openai/chat/completions (JSON)     vs  floor POST /run
  widget     session + socket chat.send: first token     (no floor: the widget has no LangChain twin)
First tokens are sampled in turns (Trellis SSE, floor, OpenAI stream, ...) on a fresh server and
again after the throughput runs, so drift in the machine's load falls on all of them alike.
The machine is noisy and the client shares its two cores: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import websockets
from benchlib import free_port, percentile, wait_ok

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
MODEL = "standin-rate-0-n-20"
ORIGIN = "https://shop.example"

FLOOR_APP = textwrap.dedent(
    """
    import json, os
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    chain = (
        ChatPromptTemplate.from_messages([("user", "Question: {question}")])
        | ChatOpenAI(base_url=os.environ["STANDIN"], api_key="none", model=os.environ["MODEL"], streaming=True)
        | StrOutputParser()
    )

    async def run(request):
        body = await request.json()
        text = await chain.ainvoke({"question": body["inputs"]["message"]})
        return JSONResponse({"status": "completed", "outputs": {"out": text}})

    async def sse(request):
        body = await request.json()

        async def events():
            async for piece in chain.astream({"question": body["inputs"]["message"]}):
                yield f"event: token\\ndata: {json.dumps({'text': piece})}\\n\\n"
            yield "event: run.finished\\ndata: {}\\n\\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def health(request):
        return JSONResponse({"ok": True})

    app = Starlette(routes=[
        Route("/run", run, methods=["POST"]), Route("/sse", sse, methods=["POST"]), Route("/health", health),
    ])
    """
)


def setup_data(env: dict[str, str], standin: str) -> dict[str, str]:
    script = f"""
import django; django.setup()
from django.contrib.auth.models import User
from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import organization_create, api_key_create
from apps.serving.services import model_endpoint_create
from apps.builder.services import flow_create, flow_version_publish
from apps.widgets.services import widget_create
from tests.flows.graphs import chat_flow
user = User.objects.create_user("bench", "bench@example.test", "bench passphrase 1")
org = organization_create(actor=Actor(user=user, api_key=None), name="Bench")
access = OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None))
model_endpoint_create(access=access, alias="standin", name="stand-in", kind="chat", base_url="{standin}",
                      model="{MODEL}")
flow = flow_create(access=access, name="bench", description="", graph=chat_flow(model="standin"))
flow_version_publish(access=access, flow_id=flow.pk, note="bench")
widget = widget_create(access=access, flow_id=flow.pk, data={{
    "allowed_origins": ["{ORIGIN}"], "visitor_messages_per_minute": 100000, "ip_messages_per_minute": 100000,
    "tokens_per_day": 2000000000}})
_, key = api_key_create(access=access, name="bench", role=Role.EDITOR)
print("IDS", org.pk, flow.pk, key, widget.public_key)
"""
    out = subprocess.check_output([PY, "-c", script], cwd=ROOT, env=env, text=True)
    (line,) = [line for line in out.splitlines() if line.startswith("IDS ")]
    _, org, flow, key, widget = line.split()
    return {"org": org, "flow": flow, "key": key, "widget": widget}


Call = Callable[[httpx.AsyncClient], Awaitable[bool]]


async def latency(call: Call, requests: int) -> tuple[float, int]:
    samples, errors = [], 0
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(20):
            await call(client)
        for _ in range(requests):
            started = time.perf_counter()
            errors += not await call(client)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, errors


async def throughput(call: Call, clients: int, seconds: float) -> tuple[float, int, int]:
    done = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors
        async with httpx.AsyncClient(timeout=60) as client:
            while time.perf_counter() < deadline:
                ok = await call(client)
                done += 1
                errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started), done, errors


async def first_token_sse(
    client: httpx.AsyncClient, url: str, body: dict[str, object], headers: dict[str, str]
) -> float:
    started = time.perf_counter()
    async with client.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            return float("nan")
        async for line in response.aiter_lines():
            if line.startswith(("event: token", 'data: {"id"')):
                return (time.perf_counter() - started) * 1000
    return float("nan")


async def widget_first_token(server: str, key: str, runs: int) -> tuple[float, int]:
    samples, errors = [], 0
    async with httpx.AsyncClient(timeout=60) as client:
        for index in range(runs + 5):
            started = time.perf_counter()
            session = await client.post(
                f"{server}/api/widget/v1/session/", content=json.dumps({"key": key}), headers={"Origin": ORIGIN}
            )
            if session.status_code != 200:
                errors += 1
                continue
            url = server.replace("http", "ws") + f"/ws/widget/{key}/"
            async with websockets.connect(url, additional_headers={"Origin": ORIGIN}) as ws:
                await ws.send(json.dumps({"type": "chat.send", "token": session.json()["token"], "message": "hi"}))
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if event["type"] == "token" and index >= 5:
                        samples.append((time.perf_counter() - started) * 1000)
                        break
                    if event["type"] in {"error", "run.failed"}:
                        errors += 1
                        break
                    if event["type"] == "token":
                        break
    return (statistics.median(samples) if samples else float("nan")), errors


async def first_tokens(
    trellis: str, floor: str, run_url: str, openai_url: str, body: dict[str, object], auth: dict[str, str], n: int
) -> None:
    """Time to first token of SSE and the OpenAI-compatible stream against the floor's first chunk,
    sampled in turns (Trellis, floor, OpenAI, Trellis, ...) so that drift in the machine's load
    falls on all three alike."""
    openai_stream = {"model": "flow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    trellis_ttft: list[float] = []
    floor_ttft: list[float] = []
    openai_ttft: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(10):
            await first_token_sse(client, run_url, {**body, "stream": True}, auth)
            await first_token_sse(client, f"{floor}/sse", body, {})
            await first_token_sse(client, openai_url, openai_stream, auth)
        for _ in range(n):
            trellis_ttft.append(await first_token_sse(client, run_url, {**body, "stream": True}, auth))
            floor_ttft.append(await first_token_sse(client, f"{floor}/sse", body, {}))
            openai_ttft.append(await first_token_sse(client, openai_url, openai_stream, auth))
    floor_first = statistics.median(floor_ttft)
    for name, samples in (("SSE", trellis_ttft), ("OpenAI-compatible stream", openai_ttft)):
        first = statistics.median(samples)
        print(
            f"  {name}: time to first token p50 {first:.1f} ms vs floor {floor_first:.1f} ms = "
            f"+{first - floor_first:.1f} ms (target <= +5 ms), p99 {percentile(samples, 0.99):.1f} ms"
        )


async def bench(args: argparse.Namespace, trellis: str, floor: str, ids: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {ids['key']}"}
    run_url = f"{trellis}/api/v1/orgs/{ids['org']}/flows/{ids['flow']}/run/"
    openai_url = f"{trellis}/api/v1/orgs/{ids['org']}/flows/{ids['flow']}/openai/chat/completions"
    body = {"inputs": {"message": "hi"}, "version": "published"}

    async def trellis_json(client: httpx.AsyncClient) -> bool:
        response = await client.post(run_url, json=body, headers=auth)
        return response.status_code == 200 and response.json().get("status") == "completed"

    async def floor_json(client: httpx.AsyncClient) -> bool:
        response = await client.post(f"{floor}/run", json=body)
        return response.status_code == 200 and response.json().get("status") == "completed"

    async def trellis_openai(client: httpx.AsyncClient) -> bool:
        response = await client.post(
            openai_url, json={"model": "flow", "messages": [{"role": "user", "content": "hi"}]}, headers=auth
        )
        return response.status_code == 200 and bool(response.json()["choices"][0]["message"]["content"])

    print(f"workers {args.workers}; stand-in model {MODEL}; {os.cpu_count()} cores shared with the client")
    print("first tokens, fresh server:")
    await first_tokens(trellis, floor, run_url, openai_url, body, auth, args.requests)
    rows = [("REST JSON", trellis_json), ("OpenAI-compatible", trellis_openai)]
    floor_p50, floor_errors = await latency(floor_json, args.requests)
    print(f"floor (LangChain + Starlette) JSON p50 {floor_p50:.1f} ms, errors {floor_errors}")
    for name, call in rows:
        p50, errors = await latency(call, args.requests)
        print(f"{name}: p50 {p50:.1f} ms = floor + {p50 - floor_p50:.1f} ms (target <= +3 ms), errors {errors}")
    for clients in (1, 8, 32):
        floor_rate, _, floor_errors = await throughput(floor_json, clients, args.seconds)
        line = f"{clients:>2} clients: floor {floor_rate:.0f} req/s ({floor_errors} errors)"
        for name, call in rows:
            rate, done, errors = await throughput(call, clients, args.seconds)
            line += f"; {name} {rate:.0f} req/s = {rate / floor_rate:.2f}x ({errors}/{done} errors)"
        print(line)

    print("first tokens, after the throughput runs:")
    await first_tokens(trellis, floor, run_url, openai_url, body, auth, args.requests)
    widget_first, widget_errors = await widget_first_token(trellis, ids["widget"], 50)
    print(f"widget: session + socket + chat.send -> first token p50 {widget_first:.1f} ms, errors {widget_errors}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="tr-", dir="/tmp") as tmp:
        standin_port, port, floor_port = free_port(), free_port(), free_port()
        standin = f"http://127.0.0.1:{standin_port}/v1"
        env = {
            **os.environ,
            "TRELLIS_DATA_DIR": str(Path(tmp) / "d"),
            "TRELLIS_LOCAL_MODEL": "off",
            "TRELLIS_MODEL_SUPERVISOR": "off",
            "TRELLIS_EGRESS_ALLOW": f"127.0.0.1:{standin_port}",
            "DJANGO_SETTINGS_MODULE": "apps.config.settings",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
        }
        (Path(tmp) / "floor_app.py").write_text(FLOOR_APP)
        procs = [
            subprocess.Popen(
                [PY, "-m", "tests.support.standin", "--port", str(standin_port)], cwd=ROOT, start_new_session=True
            )
        ]
        try:
            subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
            ids = setup_data(env, standin)
            procs.append(
                subprocess.Popen(
                    [PY, "manage.py", "serve", "--port", str(port), "--workers", str(args.workers), "--no-worker"],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
            procs.append(
                subprocess.Popen(
                    [PY, "-m", "uvicorn", "floor_app:app", "--port", str(floor_port), "--log-level", "warning"]
                    + (["--workers", str(args.workers)] if args.workers > 1 else []),
                    cwd=tmp,
                    env={**env, "STANDIN": standin, "MODEL": MODEL, "PYTHONPATH": tmp},
                    start_new_session=True,
                )
            )
            wait_ok(f"http://127.0.0.1:{port}/healthz", timeout=120)
            wait_ok(f"http://127.0.0.1:{standin_port}/health")
            wait_ok(f"http://127.0.0.1:{floor_port}/health")
            asyncio.run(bench(args, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}", ids))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
