"""Question embedders for the semantic answer cache, side by side on the same questions.

    .venv/bin/python tests/bench/bench_cache_embedders.py [--samples 300] [--short] [--only onnx-int8-pc,static]

Candidates (all from the bundled all-MiniLM-L6-v2, nothing downloaded):
- minilm: the transformer called directly at one torch thread (the cache's embedder before; the baseline);
- minilm-int8: the same with torch dynamic int8 quantization of its Linear layers;
- onnx: the same model exported once to ONNX (torch.onnx, legacy exporter) and run by ONNX Runtime,
  one intra-op thread;
- onnx-int8: that export with ONNX Runtime's dynamic int8 quantization of its weights (per tensor);
- plain-u8 / plain-s8 / fused-u8: int8 weights per channel on the plain export (unsigned: the
  cache's embedder before EMBEDDER_ID .../2; signed) and on the fused one with unsigned weights
  (_variant): where the shipped export's time goes;
- onnx-int8-pc: the cache's embedder (apps.serving.question_embedder): BERT's subgraphs fused by
  onnxruntime's optimizer, then signed int8 weights per channel (before EMBEDDER_ID .../2: the
  plain export with unsigned int8 weights per channel; bench_semantic_cache.py A/Bs the two),
  exported once into DATA_DIR;
- static: a static embedding table distilled from MiniLM (model2vec's recipe, in numpy here: see
  _static), a question's vector the mean of its tokens' rows.

Per candidate: p50/p95 latency of one short question at one thread; the paraphrase table of
tests/bench/bench_semantic_cache.py computed in memory (40 cached questions, their 40 paraphrases,
40 unrelated questions: right hits / wrong-answer hits / unrelated false hits per threshold); and
agreement with the baseline (mean cosine of the two vectors where the space is the same; the
correlation of the pairwise similarities of 120 questions either way).
Prints figures; asserts nothing. The machine may be shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from tests.bench.bench_semantic_cache import PAIRS, THRESHOLDS, UNRELATED, sentences  # noqa: E402
from tests.bench.benchlib import percentile  # noqa: E402

Embed = Callable[[str], np.ndarray]


def _minilm() -> tuple[object, Embed]:
    import torch

    from apps.serving import semantic

    model, _ = semantic._model()
    torch.set_num_threads(1)

    def embed(text: str) -> np.ndarray:
        return np.asarray(semantic._direct(model, text), dtype=np.float32)

    return model, embed


def _int8(model: object) -> Embed:
    import copy

    import torch

    quantized = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(model[0].auto_model),  # type: ignore[index]
        {torch.nn.Linear},
        dtype=torch.qint8,
    )
    tokenizer = model.tokenizer  # type: ignore[attr-defined]

    def embed(text: str) -> np.ndarray:
        with torch.inference_mode():
            tokens = tokenizer([text], truncation=True, max_length=256, return_tensors="pt")
            states = quantized(**tokens).last_hidden_state[0]
            vector = torch.nn.functional.normalize(states.mean(dim=0), dim=0)
        return vector.numpy()

    return embed


def _onnx(model: object, folder: Path, int8: bool = False) -> Embed:
    """fp32: exported here (the same export as apps.serving.question_embedder's fp32 path, without
    its fusion and quantization); int8 without per-channel scales: quantized from that file."""
    path = folder / "minilm.onnx"
    if int8 and path.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(path), str(folder / "minilm-int8.onnx"), weight_type=QuantType.QInt8)
        return _session(folder / "minilm-int8.onnx", model)
    _export(model[0].auto_model, path)  # type: ignore[index]
    return _session(path, model)


def _export(auto: object, path: Path) -> None:
    """The transformer `auto` to ONNX at `path` (torch.onnx's TorchScript exporter, opset 17)."""
    import torch

    class Wrapped(torch.nn.Module):  # positional inputs for the tracer (BertModel.forward takes more)
        def __init__(self) -> None:
            super().__init__()
            self.inner = auto

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state  # type: ignore[operator, no-any-return]

    ids = torch.tensor([[101, 7592, 2088, 102]])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            Wrapped().eval(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )


def _variant(model: object, folder: Path, *, fused: bool, signed: bool) -> Embed:
    """The int8-per-channel exports side by side (the cache's export history): BERT's eager
    attention traced and fused by onnxruntime's optimizer (apps.serving.question_embedder._fuse)
    or the plain export, and weights QInt8 (signed) or QUInt8. Plain QUInt8 is the cache's
    embedder before EMBEDDER_ID .../2; fused QInt8 is what it ships now (onnx-int8-pc)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from apps.serving import question_embedder

    source = folder / ("eager.onnx" if fused else "minilm.onnx")
    if not source.exists():
        if fused:
            eager = AutoModel.from_pretrained(
                str(question_embedder._source()), local_files_only=True, attn_implementation="eager"
            )
            _export(eager.eval(), source)
        else:
            _export(model[0].auto_model, source)  # type: ignore[index]
    logging.disable(logging.INFO)  # the optimizer and the quantizer log a line per node
    try:
        if fused:
            if not (folder / "fused.onnx").exists():
                question_embedder._fuse(source, folder / "fused.onnx", 12, 384)
            source = folder / "fused.onnx"
        out = folder / f"int8-pc-{'fused' if fused else 'plain'}-{'s8' if signed else 'u8'}.onnx"
        quantize_dynamic(
            str(source),
            str(out),
            per_channel=True,
            weight_type=QuantType.QInt8 if signed else QuantType.QUInt8,
            extra_options={"DefaultTensorType": 1},  # the fused operators have no shape inference
        )
    finally:
        logging.disable(logging.NOTSET)
    return _session(out, model)


def _shipped() -> Embed:
    """The cache's embedder (apps.serving.question_embedder: fused, signed int8 weights per channel)."""
    from apps.serving import question_embedder

    embedder = question_embedder.load(threads=1)

    def embed(text: str) -> np.ndarray:
        return np.asarray(embedder.encode(text), dtype=np.float32)

    return embed


def _session(path: Path, model: object) -> Embed:
    import onnxruntime

    tokenizer = model.tokenizer  # type: ignore[attr-defined]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    fast = tokenizer._tokenizer  # the tokenizers.Tokenizer under the transformers wrapper

    def embed(text: str) -> np.ndarray:
        encoded = fast.encode(text)
        ids = np.asarray([encoded.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        states = session.run(None, feed)[0][0]
        vector = states.mean(axis=0)
        return vector / np.linalg.norm(vector)

    return embed


def _static(model: object) -> Embed:
    """A static table distilled from MiniLM with model2vec's recipe (every vocabulary token through
    the transformer as [CLS] token [SEP], mean-pooled; centred and rotated onto its principal axes
    without reduction; SIF weights on a Zipf estimate), written out here in numpy (model2vec's own
    `distill` needs an older transformers than the project pins). A question: the normalised mean
    of its tokens' rows."""
    import torch

    auto = model[0].auto_model  # type: ignore[index]
    tokenizer = model.tokenizer._tokenizer  # type: ignore[attr-defined]
    vocab = tokenizer.get_vocab_size()
    rows = []
    with torch.inference_mode():
        for start in range(0, vocab, 1024):
            ids = torch.arange(start, min(start + 1024, vocab)).unsqueeze(1)
            batch = torch.cat([torch.full_like(ids, 101), ids, torch.full_like(ids, 102)], dim=1)
            rows.append(auto(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state.mean(dim=1))
    table = torch.cat(rows).double().numpy()
    centred = table - table.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred / (len(centred) - 1))
    inverse_rank = 1 / np.arange(2, len(centred) + 2)
    weights = 1e-4 / (1e-4 + inverse_rank / inverse_rank.sum())
    static = ((centred @ axes[:, ::-1]) * weights[:, None]).astype(np.float32)

    def embed(text: str) -> np.ndarray:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        vector = static[ids].mean(axis=0)
        return vector / np.linalg.norm(vector)

    return embed


def latency(embed: Embed, texts: list[str], samples: int) -> list[float]:
    for text in texts[:10]:
        embed(text)
    out = []
    for i in range(samples):
        started = time.perf_counter()
        embed(texts[i % len(texts)] + f" ({i})")  # never seen: no memo anywhere
        out.append((time.perf_counter() - started) * 1000)
    return out


def table(embed: Embed) -> tuple[list[tuple[float, int, int, int]], np.ndarray]:
    cached = np.stack([embed(q) for q, _ in PAIRS])
    para = np.stack([embed(p) for _, p in PAIRS])
    other = np.stack([embed(u) for u in UNRELATED])
    psim = para @ cached.T
    osim = (other @ cached.T).max(axis=1)
    best = psim.argmax(axis=1)
    top = psim.max(axis=1)
    rows = []
    for t in THRESHOLDS:
        right = int(sum(1 for n in range(len(PAIRS)) if top[n] >= t and best[n] == n))
        wrong = int(sum(1 for n in range(len(PAIRS)) if top[n] >= t and best[n] != n))
        rows.append((t, right, wrong, int((osim >= t).sum())))
    return rows, np.concatenate([cached, para, other])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--short", action="store_true", help="100 samples")
    parser.add_argument("--only", default="", help="comma-separated candidates (default: all)")
    args = parser.parse_args()
    if args.short:
        args.samples = 100
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2-core machine shared: compare ratios)")
    model, base = _minilm()
    folder = Path(tempfile.mkdtemp(prefix="cache-embedders-"))
    candidates: dict[str, Embed] = {"minilm": base}
    wanted = set(filter(None, args.only.split(","))) or {
        *("minilm-int8", "onnx", "onnx-int8", "plain-u8", "plain-s8", "fused-u8", "onnx-int8-pc", "static")
    }
    for name, make in (
        ("minilm-int8", lambda: _int8(model)),
        ("onnx", lambda: _onnx(model, folder)),
        ("onnx-int8", lambda: _onnx(model, folder, int8=True)),
        ("plain-u8", lambda: _variant(model, folder, fused=False, signed=False)),
        ("plain-s8", lambda: _variant(model, folder, fused=False, signed=True)),
        ("fused-u8", lambda: _variant(model, folder, fused=True, signed=False)),
        ("onnx-int8-pc", _shipped),
        ("static", lambda: _static(model)),
    ):
        if name in wanted:
            started = time.perf_counter()
            candidates[name] = make()
            print(f"  {name}: ready in {time.perf_counter() - started:.1f} s")
    texts = sentences()[:200]
    _, reference = table(base)
    ref_pairs = reference @ reference.T
    iu = np.triu_indices(len(reference), 1)
    print(f"one question at one thread, {args.samples} samples each; paraphrase table on 40/40/40 questions")
    timings: dict[str, list[float]] = {name: [] for name in candidates}
    for _round in range(3):  # interleaved rounds: the machine's load falls on every candidate alike
        for name, embed in candidates.items():
            timings[name] += latency(embed, texts, args.samples // 3)
    base_p50 = percentile(timings["minilm"], 0.5)
    for name, embed in candidates.items():
        rows, vectors = table(embed)
        ms = timings[name]
        pairs = vectors @ vectors.T
        corr = float(np.corrcoef(pairs[iu], ref_pairs[iu])[0, 1])
        same = vectors.shape == reference.shape and name != "static"
        cos = float(np.mean(np.sum(vectors * reference, axis=1))) if same else float("nan")
        print(
            f"{name:<12} p50 {percentile(ms, 0.5):6.2f} ms  p95 {percentile(ms, 0.95):6.2f} ms"
            f"  (p50 x{percentile(ms, 0.5) / base_p50:.3f} of minilm)"
            f"  cosine to minilm {cos:.4f}  pairwise-similarity correlation {corr:.4f}"
        )
        print("    threshold  right  wrong  unrelated-false")
        for t, right, wrong, false in rows:
            print(f"      {t:.2f}     {right:2d}/40   {wrong:2d}     {false:2d}/40")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
