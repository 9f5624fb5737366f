"""A queue worker warms the chunker at start (apps.knowledge.tasks): its first document then costs
what every other one does. The warm-up must reach the sentence splitter's tokenizer, which only
loads for a text longer than a chunk (a short sample once left it cold: 1.5 s on the first
document, docs/BENCHMARKS.md issue 19)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = textwrap.dedent(
    """
    import os, time
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
    import django
    django.setup()
    from llama_index.core.utils import globals_helper
    from apps.knowledge.chunking import chunker_warm
    assert globals_helper._punkt_tokenizer is None, "loaded before the warm-up: the probe proves nothing"
    chunker_warm()
    print("punkt", globals_helper._punkt_tokenizer is not None)
    """
)


def test_the_warm_up_loads_the_sentence_tokenizer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "punkt True" in result.stdout
