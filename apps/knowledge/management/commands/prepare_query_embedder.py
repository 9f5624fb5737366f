"""Export the knowledge search's query embedder (fp32 ONNX) into MODEL_EXPORT_DIR (once; later runs do nothing)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.knowledge.query_embedder import prepare


class Command(BaseCommand):
    help = "Exports the bundled MiniLM to ONNX (fp32 weights) for the knowledge search's query embedder."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"The query embedder is ready in {prepare(report=self.stdout.write)}.")
