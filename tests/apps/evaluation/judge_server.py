"""A stand-in judge: an OpenAI-compatible chat server (a real HTTP server on 127.0.0.1) whose
answers are fixed grades, so judge evaluators are tested against known values.

A rubric prompt gets `{"reasoning": "fixed grade", "score": 4}`; a pairwise prompt always names
answer A the winner (a judge with pure position bias: position swapping must cancel it).
Run: python -m tests.apps.evaluation.judge_server --port 8012
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RUBRIC_REPLY = '{"reasoning": "fixed grade", "score": 4}'
PAIRWISE_REPLY = '{"reasoning": "A reads better", "winner": "A"}'


def reply_for(messages: list[dict[str, Any]]) -> str:
    prompt = " ".join(str(m.get("content", "")) for m in messages)
    return PAIRWISE_REPLY if "Which answer is better" in prompt else RUBRIC_REPLY


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, b'{"status": "ok"}', "application/json")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        text = reply_for(request.get("messages", []))
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        if not request.get("stream"):
            body = {
                "id": "judge",
                "object": "chat.completion",
                "created": 0,
                "model": request.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }
            self._send(200, json.dumps(body).encode(), "application/json")
            return
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": usage},
        ]
        body = b"".join(
            f"data: {json.dumps({'id': 'judge', 'object': 'chat.completion.chunk', 'created': 0, **c})}\n\n".encode()
            for c in chunks
        )
        self._send(200, body + b"data: [DONE]\n\n", "text/event-stream")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8012)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
