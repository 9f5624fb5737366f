"""The embedded model server: SmolLM2 on CPU behind the OpenAI chat-completions protocol.

    python -m apps.serving.local_model.server --port 8001 --model-dir data/models/smollm2-135m

A plain ASGI app served by uvicorn (no web framework) with GET /health, GET /v1/models and
POST /v1/chat/completions (`stream`, `stream_options.include_usage`, `max_tokens` /
`max_completion_tokens`, `temperature` (0 = greedy), `top_p`, `seed`). It imports no Django, so it
listens within a second; the model loads in a background thread and /health answers 503 until it
is ready (the other routes answer 503 too).

Requests are served one at a time (an asyncio lock): a 135M model on a CPU is compute-bound, so two
generations at once would only split the same cores and make both slower, and a queue keeps each
stream's tokens steady. Generation runs in a worker thread feeding transformers' (async) text
iterator streamer; when the client disconnects, a stopping criterion sees the cancel flag and the
model stops at the next token, freeing the server for the next request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.serving.local_model.protocol import ApiError, ChatRequest, parse_chat_request

logger = logging.getLogger("trellis.local_model")

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_SERVED_NAME = "smollm2-135m"
DEFAULT_MAX_TOKENS = 512
# The window the server takes (prompt + answer), as the instance's vLLM deployment of the same
# model is started (`max_model_len` 2048): the `local` alias behaves the same on either engine,
# and a CPU would take long over SmolLM2's full 8,192 anyway.
DEFAULT_MAX_MODEL_LEN = 2048
MAX_BODY_BYTES = 1024 * 1024


# --- the model --------------------------------------------------------------------------------


@dataclass
class Generation:
    prompt_tokens: int
    max_new_tokens: int
    completion_tokens: int = 0
    error: BaseException | None = None
    inputs: Any = field(default=None, repr=False)

    @property
    def finish_reason(self) -> str:
        return "length" if self.completion_tokens >= self.max_new_tokens else "stop"


class LocalModel:
    def __init__(self, model_dir: Path, *, threads: int, max_model_len: int = DEFAULT_MAX_MODEL_LEN) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.max_model_len = max_model_len
        self.ready = threading.Event()
        self.failure: str | None = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.context_length = max_model_len

    def load(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        torch.set_num_threads(self.threads)
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir)
        self.model.eval()
        trained = int(getattr(self.model.config, "max_position_embeddings", self.max_model_len))
        self.context_length = min(trained, self.max_model_len)
        self.ready.set()
        elapsed = time.perf_counter() - started
        logger.info("model %s loaded in %.1f s (%d threads)", self.model_dir, elapsed, self.threads)

    def prepare(self, request: ChatRequest) -> Generation:
        inputs = self.tokenizer.apply_chat_template(
            request.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_tokens = int(inputs["input_ids"].shape[1])
        room = self.context_length - prompt_tokens
        if room < 1:
            raise ApiError(
                400,
                f"The prompt has {prompt_tokens} tokens; this model's context is {self.context_length}.",
                code="context_length_exceeded",
            )
        wanted = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
        return Generation(prompt_tokens=prompt_tokens, max_new_tokens=min(wanted, room), inputs=inputs)

    async def generate(
        self, request: ChatRequest, generation: Generation, cancel: threading.Event
    ) -> AsyncIterator[str]:
        """Text pieces as the model makes them; fills `generation` with the token count at the end."""
        import torch
        from transformers import AsyncTextIteratorStreamer, GenerationConfig, StoppingCriteria, StoppingCriteriaList

        abandoned = threading.Event()  # the consumer stopped iterating (it failed, or was cancelled)

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stop = cancel.is_set() or abandoned.is_set()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        greedy = request.temperature == 0
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=generation.max_new_tokens,
            do_sample=not greedy,
            temperature=None if greedy else request.temperature,
            top_p=None if greedy else request.top_p,
            top_k=None,
            eos_token_id=self.model.generation_config.eos_token_id,
            pad_token_id=self.model.generation_config.pad_token_id,
        )
        streamer = AsyncTextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        loop = asyncio.get_running_loop()

        def work() -> None:
            try:
                if request.seed is not None:
                    torch.manual_seed(request.seed)  # safe: one generation at a time
                with torch.inference_mode():
                    output = self.model.generate(
                        **generation.inputs,
                        generation_config=config,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([Cancelled()]),
                    )
                generation.completion_tokens = int(output.shape[1]) - generation.prompt_tokens
            except BaseException as exc:  # reported by the request, the server keeps going
                generation.error = exc
            finally:
                # Ends the iteration even when generate() failed before it could end the streamer.
                loop.call_soon_threadsafe(streamer.text_queue.put_nowait, streamer.stop_signal)

        worker = threading.Thread(target=work, name="local-model-generate", daemon=True)
        worker.start()
        try:
            async for text in streamer:
                if text:
                    yield text
        finally:
            abandoned.set()  # a no-op when generation finished; stops it when the consumer left early
            await asyncio.to_thread(worker.join)
        if generation.error is not None:
            raise RuntimeError(f"Generation failed: {generation.error}") from generation.error


# --- the HTTP side ----------------------------------------------------------------------------


def _json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _sse(body: Any) -> bytes:
    return b"data: " + _json_bytes(body) + b"\n\n"


async def _send_json(send: Send, status: int, body: Any) -> None:
    payload = _json_bytes(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client left before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class ModelServer:
    def __init__(self, model: LocalModel, *, served_name: str = DEFAULT_SERVED_NAME) -> None:
        self.model = model
        self.served_name = served_name
        self.lock = asyncio.Lock()  # one generation at a time (see the module docstring)
        self.created = int(time.time())

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/health":
                await self._health(send)
            elif path == "/v1/models" and method == "GET":
                await self._require_ready()
                await _send_json(send, 200, {"object": "list", "data": [self._model_card()]})
            elif path == "/v1/chat/completions" and method == "POST":
                await self._chat(receive, send)
            elif path in {"/v1/models", "/v1/chat/completions"}:
                raise ApiError(405, f"{method} is not allowed on {path}.")
            else:
                raise ApiError(404, f"No route {path}.", kind="not_found_error")
        except ApiError as error:
            await _send_json(send, error.status, error.body())
        except ConnectionResetError:
            return

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, send: Send) -> None:
        if self.model.ready.is_set():
            await _send_json(send, 200, {"status": "ok", "model": self.served_name})
        elif self.model.failure:
            await _send_json(send, 503, {"status": "failed", "error": self.model.failure})
        else:
            await _send_json(send, 503, {"status": "loading"})

    async def _require_ready(self) -> None:
        if not self.model.ready.is_set():
            raise ApiError(503, "The model is still loading; retry shortly.", kind="service_unavailable")

    def _model_card(self) -> dict[str, Any]:
        # `max_model_len` as vLLM reports it: the Models page reads the context window from here.
        return {
            "id": self.served_name,
            "object": "model",
            "created": self.created,
            "owned_by": "trellis",
            "max_model_len": self.model.context_length,
        }

    async def _chat(self, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        await self._require_ready()
        request = parse_chat_request(body, self.served_name)
        cancel = threading.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel.set()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            async with self.lock:
                if cancel.is_set():
                    return
                generation = self.model.prepare(request)
                if request.stream:
                    await self._stream(send, request, generation, cancel)
                else:
                    await self._complete(send, request, generation, cancel)
        finally:
            watcher.cancel()

    def _envelope(self, completion_id: str, obj: str) -> dict[str, Any]:
        return {"id": completion_id, "object": obj, "created": int(time.time()), "model": self.served_name}

    @staticmethod
    def _usage(generation: Generation) -> dict[str, int]:
        return {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        }

    async def _complete(
        self, send: Send, request: ChatRequest, generation: Generation, cancel: threading.Event
    ) -> None:
        pieces = []
        try:
            async for text in self.model.generate(request, generation, cancel):
                pieces.append(text)
        except RuntimeError as exc:
            raise ApiError(500, str(exc), kind="server_error") from None
        if cancel.is_set():
            return  # the client is gone; nobody to answer
        message = {"role": "assistant", "content": "".join(pieces)}
        body = self._envelope(f"chatcmpl-{uuid.uuid4().hex}", "chat.completion")
        body["choices"] = [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": generation.finish_reason}
        ]
        body["usage"] = self._usage(generation)
        await _send_json(send, 200, body)

    async def _stream(self, send: Send, request: ChatRequest, generation: Generation, cancel: threading.Event) -> None:
        envelope = self._envelope(f"chatcmpl-{uuid.uuid4().hex}", "chat.completion.chunk")

        async def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> None:
            chunk = {**envelope, "choices": choices}
            if request.include_usage:
                chunk["usage"] = usage
            await send({"type": "http.response.body", "body": _sse(chunk), "more_body": True})

        def delta(content: dict[str, str], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}]

        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await event(delta({"role": "assistant", "content": ""}))
        try:
            async for text in self.model.generate(request, generation, cancel):
                if cancel.is_set():
                    break
                await event(delta({"content": text}))
        except RuntimeError as exc:
            # Headers are gone already: the error travels in the stream, as OpenAI-compatible servers do.
            error = ApiError(500, str(exc), kind="server_error").body()
            await send({"type": "http.response.body", "body": _sse(error), "more_body": True})
        else:
            await event(delta({}, generation.finish_reason))
            if request.include_usage:
                await event([], self._usage(generation))
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


# --- process entry ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Trellis embedded model server (OpenAI-compatible).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--served-model-name", default=DEFAULT_SERVED_NAME)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("LOCAL_MODEL_THREADS", "1")))
    parser.add_argument("--max-model-len", type=int, default=DEFAULT_MAX_MODEL_LEN)
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info").lower())
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    model = LocalModel(args.model_dir, threads=max(1, args.threads), max_model_len=max(16, args.max_model_len))
    app = ModelServer(model, served_name=args.served_model_name)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)

    def load() -> None:
        try:
            model.load()
        except Exception as exc:
            model.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("cannot load the model from %s", args.model_dir)
            server.should_exit = True  # a server without its model is of no use: let the supervisor see it

    threading.Thread(target=load, name="local-model-load", daemon=True).start()
    server.run()
    return 1 if model.failure else 0


if __name__ == "__main__":
    raise SystemExit(main())
