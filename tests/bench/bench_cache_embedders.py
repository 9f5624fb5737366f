"""Question embedders for the semantic answer cache, side by side on the same questions.

    .venv/bin/python tests/bench/bench_cache_embedders.py [--samples 300] [--short] [--only onnx-int8-pc,static]
    .venv/bin/python tests/bench/bench_cache_embedders.py --profile   (the cache's export, per operator)

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
Cheaper variants of the cache's export (only with --only; wave 2 session 9, ADR 0013):
- layers-3 / layers-4 / layers-5: the same export from MiniLM's first N of its 6 layers (_trimmed);
- ffn-75 / ffn-50: all 6 layers, each feed-forward block keeping that share of its 1,536 neurons
  (those with the largest |w_in| x |w_out|; _trimmed);
- unfused-ln: the cache's export with each SkipLayerNormalization written as plain ONNX operators
  (ONNX Runtime's CPU layer norm is a scalar loop: ~27 us for 14 x 384 against ~11 us; _rewritten);
- fast-gelu: unfused-ln with BiasGelu replaced by FastGelu (the tanh approximation);
- distilled-3 / distilled-4: 3 or 4 of MiniLM's layers (every other one) trained --distil-steps
  batches to give the 6-layer model's vectors on text already on disk (_distil; ~20 minutes for
  600 steps on the shared machine), then the same export.

--profile: ONNX Runtime's own profiler on the cache's export, one ~14-token question at one
thread: time and count per operator type (the profiler adds a few tens of microseconds a node,
so read the shares, not the sum).

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
from typing import Any

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


def _trimmed(folder: Path, *, layers: int = 6, ffn_keep: float = 1.0, distil_steps: int = 0) -> Embed:
    """The cache's export (eager attention, fused, signed int8 per channel) of a smaller MiniLM:
    its first `layers` layers, or each feed-forward block cut to the `ffn_keep` share of its
    neurons with the largest |w_in| x |w_out| (no retraining: the paraphrase table judges). With
    `distil_steps`: every other layer (0, 2, 4; and 5 for 4 layers), then trained that many steps to give the
    6-layer model's vectors (_distil)."""
    import logging

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from apps.serving import question_embedder

    name = f"trim-{layers}-{int(ffn_keep * 100)}-{distil_steps}"
    model = AutoModel.from_pretrained(
        str(question_embedder._source()), local_files_only=True, attn_implementation="eager"
    ).eval()
    if distil_steps:
        teacher = AutoModel.from_pretrained(str(question_embedder._source()), local_files_only=True).eval()
        picked = {3: [0, 2, 4], 4: [0, 2, 4, 5]}[layers]
        model.encoder.layer = torch.nn.ModuleList([model.encoder.layer[i] for i in picked])
        model.config.num_hidden_layers = layers
        _distil(model, teacher, distil_steps)
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    if ffn_keep < 1:
        for layer in model.encoder.layer:
            w_in, w_out = layer.intermediate.dense.weight.data, layer.output.dense.weight.data
            keep = int(w_in.shape[0] * ffn_keep) // 16 * 16
            rows = (w_in.norm(dim=1) * w_out.norm(dim=0)).topk(keep).indices.sort().values
            cut_in, cut_out = torch.nn.Linear(w_in.shape[1], keep), torch.nn.Linear(keep, w_out.shape[0])
            cut_in.weight.data, cut_in.bias.data = w_in[rows].clone(), layer.intermediate.dense.bias.data[rows].clone()
            cut_out.weight.data, cut_out.bias.data = w_out[:, rows].clone(), layer.output.dense.bias.data.clone()
            layer.intermediate.dense, layer.output.dense = cut_in, cut_out
    _export(model, folder / f"{name}.onnx")
    logging.disable(logging.INFO)
    try:
        fused = question_embedder._fuse(folder / f"{name}.onnx", folder / f"{name}-fused.onnx", 12, 384)
        quantize_dynamic(
            str(folder / f"{name}-fused.onnx"),
            str(folder / f"{name}-int8.onnx"),
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": 1},
        )
    finally:
        logging.disable(logging.NOTSET)
    print(f"    {name}: fused {fused}")
    return _session(folder / f"{name}-int8.onnx", _tokenizer_holder())


def _distil(student: Any, teacher: Any, steps: int) -> None:
    """Trains `student` (a few of MiniLM's layers) for `steps` batches of 32 so that its mean-pooled,
    normalised vectors match the 6-layer `teacher`'s (loss: 1 - cosine), on text already on disk:
    the guardrails corpus's messages and the repository's docs, minus every sentence this bench
    asks (the paraphrase table stays unseen). One torch thread; ~2 s a step on the shared machine."""
    import json
    import random
    import re

    import torch
    from transformers import AutoTokenizer

    from apps.serving import question_embedder

    torch.manual_seed(0)
    shuffle = random.Random(0)
    tokenizer = AutoTokenizer.from_pretrained(str(question_embedder._source()), local_files_only=True)
    asked = set(sentences()) | {q for pair in PAIRS for q in pair} | set(UNRELATED)
    texts: set[str] = set()
    for path in sorted((ROOT / "tests/corpus/guardrails").glob("*.jsonl")):
        for line in filter(str.strip, path.read_text().splitlines()):
            item = json.loads(line)
            text = str(item.get("text", "")).strip() if isinstance(item, dict) else ""
            if 0 < len(text) < 300:
                texts.add(text)
    for path in [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]:
        for part in re.split(r"(?<=[.?!])\s+|\n\n", path.read_text()):
            text = " ".join(part.split())
            if 20 < len(text) < 250 and not text.startswith(("|", "#", "`", "-")):
                texts.add(text)
    corpus = sorted(texts - asked)
    shuffle.shuffle(corpus)

    def pooled(model: Any, batch: list[str]) -> torch.Tensor:
        tokens = tokenizer(batch, padding=True, truncation=True, max_length=64, return_tensors="pt")
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((model(**tokens).last_hidden_state * mask).sum(1) / mask.sum(1), dim=-1)

    with torch.inference_mode():
        target = torch.cat([pooled(teacher, corpus[i : i + 64]) for i in range(0, len(corpus), 64)])
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    for step in range(steps):
        rows = [shuffle.randrange(len(corpus)) for _ in range(32)]
        loss = (1 - (pooled(student, [corpus[i] for i in rows]) * target[rows]).sum(-1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            print(f"    distil step {step + 1}: loss {loss.item():.4f}", flush=True)
    student.eval()


def _rewritten(folder: Path, *, fast_gelu: bool) -> Embed:
    """The cache's export with each SkipLayerNormalization (input + skip + bias, then layer norm)
    written as Add, ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add, and with
    fast_gelu each BiasGelu as FastGelu (tanh approximation, the same inputs)."""
    import onnx
    from onnx import helper

    from apps.serving import question_embedder

    model = onnx.load(str(question_embedder.folder() / question_embedder.MODEL_FILE))
    nodes = []
    for n, node in enumerate(model.graph.node):
        if node.op_type == "BiasGelu" and fast_gelu:
            nodes.append(helper.make_node("FastGelu", list(node.input), list(node.output), domain="com.microsoft"))
            continue
        if node.op_type != "SkipLayerNormalization" or len(node.input) < 4 or any(node.output[1:]):
            nodes.append(node)
            continue
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        eps = f"ln{n}/eps"
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(epsilon, np.float32), eps))
        x, skip, gamma, beta = node.input[:4]
        p = f"ln{n}/"
        if len(node.input) > 4 and node.input[4]:
            nodes.append(helper.make_node("Add", [x, node.input[4]], [p + "biased"]))
            x = p + "biased"
        nodes += [
            helper.make_node("Add", [x, skip], [p + "sum"]),
            helper.make_node("ReduceMean", [p + "sum"], [p + "mean"], axes=[-1]),
            helper.make_node("Sub", [p + "sum", p + "mean"], [p + "centred"]),
            helper.make_node("Mul", [p + "centred", p + "centred"], [p + "square"]),
            helper.make_node("ReduceMean", [p + "square"], [p + "var"], axes=[-1]),
            helper.make_node("Add", [p + "var", eps], [p + "var_eps"]),
            helper.make_node("Sqrt", [p + "var_eps"], [p + "std"]),
            helper.make_node("Div", [p + "centred", p + "std"], [p + "normal"]),
            helper.make_node("Mul", [p + "normal", gamma], [p + "scaled"]),
            helper.make_node("Add", [p + "scaled", beta], [node.output[0]]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    path = folder / f"rewritten-{'fast-gelu' if fast_gelu else 'ln'}.onnx"
    onnx.save(model, str(path))
    return _session(path, _tokenizer_holder())


class _Tokenizer:
    """What _session needs of a model: `tokenizer._tokenizer` (the cache's own tokenizer.json)."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        from apps.serving import question_embedder

        self._tokenizer = Tokenizer.from_file(str(question_embedder.folder() / question_embedder.TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(256)


def _tokenizer_holder() -> object:
    holder = type("Holder", (), {})()
    holder.tokenizer = _Tokenizer()  # type: ignore[attr-defined]
    return holder


def profile(samples: int) -> None:
    """ONNX Runtime's profiler on the cache's export: per operator type, its share of the kernel time."""
    import collections
    import json

    import onnxruntime

    from apps.serving import question_embedder

    embedder = question_embedder.load(threads=1)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="cache-embedder-profile-")) / "ort")
    path = question_embedder.folder() / question_embedder.MODEL_FILE
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ids = np.asarray([embedder.tokenizer.encode("How much does shipping to Germany cost for two parcels?").ids])
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    for _ in range(samples):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    runs = sum(1 for e in events if e.get("name") == "model_run")
    spent: collections.Counter[str] = collections.Counter()
    nodes: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"]
            nodes[event["args"]["op_name"]] += 1
    total = sum(spent.values())
    print(f"the cache's export, {ids.shape[1]} tokens, one thread, {runs} runs (profiled): kernel time per operator")
    for op, us in spent.most_common():
        print(f"  {op:<28} {us / runs:7.0f} us a run  {us / total:5.1%}  ({nodes[op] // runs} nodes)")


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


def latency(embed: Embed, texts: list[str], samples: int, cpu: list[float] | None = None) -> list[float]:
    """Wall times (ms) of `samples` questions; their thread CPU times go to `cpu` when given."""
    for text in texts[:10]:
        embed(text)
    out = []
    for i in range(samples):
        started, thread = time.perf_counter(), time.thread_time()
        embed(texts[i % len(texts)] + f" ({i})")  # never seen: no memo anywhere
        out.append((time.perf_counter() - started) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - thread) * 1000)
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
    parser.add_argument("--only", default="", help="comma-separated candidates (default: all but the cut ones)")
    parser.add_argument("--profile", action="store_true", help="per-operator times of the cache's export only")
    parser.add_argument("--distil-steps", type=int, default=600, help="training steps of distilled-3 / distilled-4")
    args = parser.parse_args()
    if args.short:
        args.samples = 100
    if args.profile:
        profile(args.samples)
        return
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
        *((f"layers-{n}", lambda n=n: _trimmed(folder, layers=n)) for n in (3, 4, 5)),
        *((f"ffn-{k}", lambda k=k: _trimmed(folder, ffn_keep=k / 100)) for k in (75, 50)),
        *((f"distilled-{n}", lambda n=n: _trimmed(folder, layers=n, distil_steps=args.distil_steps)) for n in (3, 4)),
        ("unfused-ln", lambda: _rewritten(folder, fast_gelu=False)),
        ("fast-gelu", lambda: _rewritten(folder, fast_gelu=True)),
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
    cpus: dict[str, list[float]] = {name: [] for name in candidates}
    for _round in range(3):  # interleaved rounds: the machine's load falls on every candidate alike
        for name, embed in candidates.items():
            timings[name] += latency(embed, texts, args.samples // 3, cpus[name])
    base_p50 = percentile(timings["minilm"], 0.5)
    shipped = cpus.get("onnx-int8-pc")
    for name, embed in candidates.items():
        rows, vectors = table(embed)
        ms = timings[name]
        pairs = vectors @ vectors.T
        corr = float(np.corrcoef(pairs[iu], ref_pairs[iu])[0, 1])
        same = vectors.shape == reference.shape and name != "static"
        cos = float(np.mean(np.sum(vectors * reference, axis=1))) if same else float("nan")
        print(
            f"{name:<12} p50 {percentile(ms, 0.5):6.2f} ms  p95 {percentile(ms, 0.95):6.2f} ms"
            f"  (p50 x{percentile(ms, 0.5) / base_p50:.3f} of minilm)  CPU p50 {percentile(cpus[name], 0.5):.2f} ms"
            + (f" x{percentile(cpus[name], 0.5) / percentile(shipped, 0.5):.3f} of onnx-int8-pc" if shipped else "")
            + f"  cosine to minilm {cos:.4f}  pairwise-similarity correlation {corr:.4f}"
        )
        print("    threshold  right  wrong  unrelated-false")
        for t, right, wrong, false in rows:
            print(f"      {t:.2f}     {right:2d}/40   {wrong:2d}     {false:2d}/40")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
