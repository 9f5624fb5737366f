"""Export the semantic cache's question embedder to ONNX in DATA_DIR (once; later runs do nothing)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.serving.question_embedder import prepare


class Command(BaseCommand):
    help = "Exports the bundled MiniLM to ONNX (int8 weights) for the semantic answer cache's question embedder."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"The question embedder is ready in {prepare(report=self.stdout.write)}.")
