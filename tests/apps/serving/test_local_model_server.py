"""The embedded model server, for real: SmolLM2 on CPU over the OpenAI protocol (raw HTTP here;
through ChatOpenAI in test_gateway.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from django.conf import settings
from tokenizers import Tokenizer

from apps.serving.models import BUILTIN_MODEL

# SmolLM2's chat template: a default system turn, then ChatML turns, then the assistant's cue.
TEMPLATED_HI = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
)


def _chat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": BUILTIN_MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    return {**body, **overrides}


def _events(lines: list[str]) -> list[Any]:
    data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(item) for item in data[:-1]]


def test_local_model_health_and_models(local_model_url: str) -> None:
    root = local_model_url.removesuffix("/v1")
    assert httpx.get(f"{root}/health").json()["status"] == "ok"
    models = httpx.get(f"{local_model_url}/models").json()
    assert [m["id"] for m in models["data"]] == [BUILTIN_MODEL]


def test_local_model_streams_tokens_in_several_chunks_with_usage(local_model_url: str) -> None:
    body = _chat(max_tokens=12, stream=True, stream_options={"include_usage": True})
    with httpx.stream("POST", f"{local_model_url}/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = _events(list(response.iter_lines()))
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [e["choices"][0]["delta"].get("content") for e in events if e["choices"]]
    text_pieces = [p for p in pieces if p]
    assert len(text_pieces) >= 3, text_pieces
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == BUILTIN_MODEL for e in events)
    assert events[-2]["choices"][0]["finish_reason"] in {"stop", "length"}
    usage = events[-1]["usage"]
    assert events[-1]["choices"] == []
    assert 1 <= usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_local_model_applies_the_chat_template(local_model_url: str) -> None:
    reply = httpx.post(f"{local_model_url}/chat/completions", json=_chat(max_tokens=1), timeout=60).json()
    tokenizer = Tokenizer.from_file(str(settings.LOCAL_MODEL_DIR / "tokenizer.json"))
    expected = len(tokenizer.encode(TEMPLATED_HI, add_special_tokens=False).ids)
    assert reply["usage"]["prompt_tokens"] == expected


def test_local_model_respects_max_tokens_and_greedy_is_repeatable(local_model_url: str) -> None:
    body = _chat(messages=[{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=5)
    first = httpx.post(f"{local_model_url}/chat/completions", json=body, timeout=60).json()
    second = httpx.post(f"{local_model_url}/chat/completions", json=body, timeout=60).json()
    assert first["object"] == "chat.completion"
    assert first["usage"]["completion_tokens"] == 5
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["choices"][0]["message"]["role"] == "assistant"
    assert first["choices"][0]["message"]["content"]
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]


def test_local_model_accepts_max_completion_tokens(local_model_url: str) -> None:
    body = _chat(max_tokens=None, max_completion_tokens=3)
    reply = httpx.post(f"{local_model_url}/chat/completions", json=body, timeout=60).json()
    assert reply["usage"]["completion_tokens"] <= 3


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode(), 400),  # no model
        (json.dumps(_chat(model="gpt-4o")).encode(), 404),
        (json.dumps(_chat(messages=[])).encode(), 400),
        (json.dumps(_chat(messages=[{"role": "wizard", "content": "x"}])).encode(), 400),
        (json.dumps(_chat(max_tokens=0)).encode(), 400),
        (json.dumps(_chat(temperature="hot")).encode(), 400),
        (json.dumps(_chat(stream="yes")).encode(), 400),
        (json.dumps(_chat(n=2)).encode(), 400),
        (json.dumps(_chat(tools=[{"type": "function", "function": {"name": "f"}}])).encode(), 400),
    ],
)
def test_local_model_bad_requests_get_openai_errors(local_model_url: str, content: bytes, status: int) -> None:
    response = httpx.post(f"{local_model_url}/chat/completions", content=content, timeout=30)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error["type"]


def test_local_model_unknown_route_and_method(local_model_url: str) -> None:
    root = local_model_url.removesuffix("/v1")
    assert httpx.get(f"{root}/v1/completions").status_code == 404
    assert httpx.get(f"{local_model_url}/chat/completions").status_code == 405


def test_local_model_keeps_serving_after_a_client_disconnects_mid_stream(local_model_url: str) -> None:
    body = _chat(messages=[{"role": "user", "content": "Tell me a very long story."}], max_tokens=2000, stream=True)
    with httpx.stream("POST", f"{local_model_url}/chat/completions", json=body, timeout=60) as response:
        received = 0
        for line in response.iter_lines():
            received += line.startswith("data: ")
            if received >= 3:
                break  # leave mid-stream: closing the response drops the connection
    started = time.monotonic()
    reply = httpx.post(f"{local_model_url}/chat/completions", json=_chat(max_tokens=4), timeout=60)
    waited = time.monotonic() - started
    assert reply.status_code == 200
    assert reply.json()["usage"]["completion_tokens"] <= 4
    # Had the abandoned generation run on, this request would queue behind ~2000 tokens (minutes).
    assert waited < 20, f"the next request waited {waited:.1f} s"


def test_local_model_server_module_imports_no_django_and_no_model_library() -> None:
    """It must listen at once: Django and torch/transformers stay out of its import path."""
    import subprocess
    import sys

    probe = (
        "import sys, apps.serving.local_model.server; "
        "print(sorted(m for m in ('django', 'torch', 'transformers') if m in sys.modules))"
    )
    from tests.apps.serving.conftest import ROOT

    command = [sys.executable, "-c", probe]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
