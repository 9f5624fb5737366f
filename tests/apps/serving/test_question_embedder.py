"""The semantic cache's question embedder on ONNX Runtime (apps/serving/question_embedder.py),
with the real bundled MiniLM: exported once into the data folder, close to the torch model's
vectors, the default embedder, and its id part of every scope (vectors of two embedders are never
compared), through the real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings
from langchain_core.messages import HumanMessage

from apps.serving import question_embedder, semantic
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

TEXTS = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "What are your opening hours?",
    "Wo finde ich meine Rechnung?",
    "Why is the sky blue?",
    "x" * 3000,  # longer than the model's 256 tokens: truncated as torch's path truncates
    " ".join(f"Question {n}: how do I move order {n} to my new address in Berlin?" for n in range(40)),
]


def _torch(text: str) -> np.ndarray:
    model, _ = semantic._model()
    return np.asarray(semantic._direct(model, text))


def test_the_export_is_made_once_in_the_data_folder_and_the_command_reports_it() -> None:
    first = question_embedder.prepare(report=lambda _: None)
    made = (first / question_embedder.MODEL_FILE).stat().st_mtime_ns
    out = StringIO()
    call_command("prepare_question_embedder", stdout=out)
    assert first == question_embedder.folder() and "ready" in out.getvalue()
    assert (first / question_embedder.MODEL_FILE).stat().st_mtime_ns == made  # not exported again
    assert not [p for p in first.parent.iterdir() if p.name.startswith(f".{first.name}-")]  # no work folder left


def test_onnx_vectors_are_close_to_torchs_and_keep_the_paraphrase_ordering() -> None:
    embedder = question_embedder.load(threads=1)
    onnx = np.asarray([embedder.encode(text) for text in TEXTS])
    torch = np.asarray([_torch(text) for text in TEXTS])
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(onnx * torch, axis=1)
    # int8 weights: close to torch's vector, not equal to it (a run of one letter drifts the most).
    assert cosines[[0, 1, 2, 3, 4, 6]].min() > 0.985 and cosines[5] > 0.95, cosines
    similar = onnx @ onnx.T
    assert similar[0, 1] > similar[0, 2] + 0.2 and similar[0, 1] > similar[0, 4] + 0.2
    # The pairwise similarities agree with torch's to within a few hundredths.
    assert np.abs(similar - torch @ torch.T).max() < 0.05


def test_the_export_is_fused_and_its_weights_are_signed_int8() -> None:
    """The optimizer's fusions applied (eager attention traced) and were quantized: a library
    upgrade that stops them would double the embedding's time without failing anything else."""
    import onnx

    path = question_embedder.prepare(report=lambda _: None)
    described = json.loads((path / "embedder.json").read_text())
    assert described["id"] == question_embedder.EMBEDDER_ID and described["fused"] == question_embedder.FUSED
    graph = onnx.load(str(path / question_embedder.MODEL_FILE)).graph
    ops = Counter(node.op_type for node in graph.node)
    assert ops["QAttention"] == 6 and ops["QEmbedLayerNormalization"] == 1 and ops["SkipLayerNormalization"] == 12
    assert ops["MatMulInteger"] == 18 and not ops["Softmax"] and not ops["Erf"], ops  # nothing left unfused
    # The weights of the matrix products (input 1 of MatMulInteger and QAttention) are signed: ORT's
    # u8 x s8 kernels. (QEmbedLayerNormalization's tables are unsigned by that operator's definition.)
    products = {node.input[1] for node in graph.node if node.op_type in ("MatMulInteger", "QAttention")}
    kinds = {t.name: t.data_type for t in graph.initializer if t.name in products}
    assert len(kinds) == len(products) == 24 and set(kinds.values()) == {onnx.TensorProto.INT8}, kinds


def test_onnx_vectors_match_the_fp32_reference_export() -> None:
    """Against the unquantized, unfused ONNX export (torch's vector space; the knowledge bases'
    query embedder): close vectors, and the same nearest question for each paraphrase."""
    from apps.knowledge import query_embedder

    fused = question_embedder.load(threads=1)
    reference = question_embedder.OnnxEmbedder(query_embedder.prepare(report=lambda _: None), 1)
    cached = [TEXTS[0], TEXTS[2], TEXTS[4], TEXTS[3]]
    asked = ["When are you open?", "How can I change my password?", "What makes the sky look blue?"]
    mine = np.asarray([fused.encode(text) for text in cached + asked])
    theirs = np.asarray([reference.encode(text) for text in cached + asked])
    assert np.sum(mine * theirs, axis=1).min() > 0.985
    nearest = (mine[4:] @ mine[:4].T).argmax(axis=1).tolist()
    assert nearest == (theirs[4:] @ theirs[:4].T).argmax(axis=1).tolist() == [1, 0, 2]


def test_entries_of_the_previous_export_are_not_read(org_a: Member, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry stored by the previous export (its id in the scope) is never compared with this
    export's vectors: a miss, then this export's own entry hits."""
    version = uuid.uuid4()

    def question(text: str) -> semantic.Question:
        return _question(str(org_a.organization.pk), version, text)

    with monkeypatch.context() as patched:  # what a process with the previous export stored
        patched.setattr(question_embedder, "EMBEDDER_ID", "all-minilm-l6-v2/onnx-int8-per-channel/1")
        old = question("How do I reset my password?")
        semantic.store(
            old, semantic.EMBEDDER.embed(old.text), "kept before", input_tokens=1, output_tokens=1,
            cost=Decimal(0), ttl_s=60,
        )  # fmt: skip
    semantic.EMBEDDER.forget()
    now = question("How do I reset my password?")
    assert now.scope != old.scope
    missed, vector = semantic.lookup(now, 0.8)
    assert missed is None
    semantic.store(now, vector, "kept now", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
    hit, _ = semantic.lookup(question("How can I reset my password?"), 0.8)
    assert hit is not None and hit.answer == "kept now"


def test_onnx_is_the_default_and_the_embedder_is_part_of_the_scope(org_a: Member) -> None:
    org = str(org_a.organization.pk)
    version = uuid.uuid4()

    def question(text: str) -> semantic.Question:
        return _question(org, version, text)

    assert semantic.embedder_id() == question_embedder.EMBEDDER_ID
    onnx_question = question("How do I reset my password?")
    with override_settings(SEMANTIC_CACHE_EMBEDDER="torch"):
        torch_question = question("How do I reset my password?")
        assert semantic.embedder_id() == semantic.TORCH_EMBEDDER_ID
        hit, vector = semantic.lookup(torch_question, 0.8)
        assert hit is None
        semantic.store(
            torch_question, vector, "kept by torch", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60
        )
        again, _ = semantic.lookup(question("How can I reset my password?"), 0.8)
        assert again is not None and again.answer == "kept by torch"
    assert onnx_question.scope != torch_question.scope
    # The ONNX embedder never reads torch's entries (another vector space): a miss, then its own entry.
    missed, vector = semantic.lookup(question("How can I reset my password?"), 0.8)
    assert missed is None
    semantic.store(onnx_question, vector, "kept by onnx", input_tokens=1, output_tokens=1, cost=Decimal(0), ttl_s=60)
    hit, _ = semantic.lookup(question("How do I reset my password?"), 0.8)
    assert hit is not None and hit.answer == "kept by onnx" and hit.similarity > 0.9
    unrelated, _ = semantic.lookup(question("What is the capital of Australia?"), 0.8)
    assert unrelated is None


def test_a_bad_embedder_setting_is_refused() -> None:
    script = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'apps.config.settings'; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TRELLIS_SEMANTIC_CACHE_EMBEDDER": "static"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "TRELLIS_SEMANTIC_CACHE_EMBEDDER must be" in result.stderr


def _question(organization_id: str, version: uuid.UUID, text: str) -> semantic.Question:
    """A temperature-0 question to the echo alias in one organization and flow version."""
    found = semantic.question_of(
        organization_id=organization_id,
        flow_id=None,
        version_id=version,
        alias="echo",
        params={"temperature": 0},
        messages=[HumanMessage(content=text)],
    )
    assert found is not None
    return found
