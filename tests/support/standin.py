"""An OpenAI-compatible stand-in model server: streams a fixed reply at a set rate.

Model time is then known exactly, so tests and benchmarks measure Trellis, not a model.
The requested model name picks the behaviour:
    standin              30 tokens/s, 12 tokens
    standin-rate-R-n-N   R tokens/s, N tokens (R=0: as fast as possible)
    standin-die-K        drops the connection after K tokens
    standin-stall-K      goes silent after K tokens
    standin-echo         streams the last user message back, word by word (30 tokens/s)
    standin-tool         calls the first offered tool with {"expression": "6*7"} (arguments split
                         over two chunks), then answers "The answer is <tool result>"
Run: python -m tests.support.standin --port 8011
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import Any

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


def reply_tokens(count: int) -> list[str]:
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(count)]


def behaviour(model: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"rate": 30.0, "tokens": 12, "die": None, "stall": None}
    if m := re.fullmatch(r"standin-rate-(\d+(?:\.\d+)?)-n-(\d+)", model):
        spec.update(rate=float(m.group(1)), tokens=int(m.group(2)))
    elif m := re.fullmatch(r"standin-die-(\d+)", model):
        spec.update(die=int(m.group(1)), tokens=50)
    elif m := re.fullmatch(r"standin-stall-(\d+)", model):
        spec.update(stall=int(m.group(1)), tokens=50)
    return spec


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path in {"/health", "/v1/health"}:
        await _json(send, 200, {"status": "ok"})
        return
    if path == "/v1/models":
        await _json(send, 200, {"object": "list", "data": [{"id": "standin", "object": "model"}]})
        return
    if path != "/v1/chat/completions":
        await _json(send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        return
    request = json.loads(await _body(receive))
    spec = behaviour(str(request.get("model", "standin")))
    tokens = reply_tokens(min(spec["tokens"], int(request.get("max_tokens") or 10_000)))
    if request.get("model") == "standin-echo":
        users = [str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user"]
        tokens = re.findall(r"\s*\S+", users[-1] if users else "")
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
    created, ident = int(time.time()), f"chatcmpl-{time.monotonic_ns()}"
    if not request.get("stream"):
        await asyncio.sleep(len(tokens) / spec["rate"] if spec["rate"] else 0)
        await _json(
            send,
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": request.get("model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(tokens),
                    "total_tokens": prompt_tokens + len(tokens),
                },
            },
        )
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        payload = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.get("model"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
            "usage": usage,
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    if request.get("model") == "standin-tool":
        results = [str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "tool"]
        if results:
            tokens = ["The", " answer", " is", f" {results[-1]}"]
        elif request.get("tools"):
            name = request["tools"][0]["function"]["name"]
            call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}
            await send({"type": "http.response.body", "body": chunk({"tool_calls": [call]}), "more_body": True})
            for part in ('{"expression": ', '"6*7"}'):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
                await send({"type": "http.response.body", "body": chunk(delta), "more_body": True})
            await send({"type": "http.response.body", "body": chunk({}, "tool_calls"), "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            return
    interval = 1 / spec["rate"] if spec["rate"] else 0
    await send({"type": "http.response.body", "body": chunk({"role": "assistant", "content": ""}), "more_body": True})
    started = time.perf_counter()
    for index, token in enumerate(tokens):
        if spec["die"] is not None and index == spec["die"]:
            raise ConnectionResetError("stand-in dies mid-stream")  # uvicorn drops the connection
        if spec["stall"] is not None and index == spec["stall"]:
            await asyncio.sleep(3600)
        if interval:  # paced against the start, so scheduling jitter does not accumulate
            await asyncio.sleep(max(0.0, started + index * interval - time.perf_counter()))
        await send({"type": "http.response.body", "body": chunk({"content": token}), "more_body": True})
    await send({"type": "http.response.body", "body": chunk({}, "stop"), "more_body": True})
    if (request.get("stream_options") or {}).get("include_usage"):
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        await send({"type": "http.response.body", "body": chunk({}, usage=usage), "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
