"""Evaluation datasets as a knowledge base's test questions (apps/knowledge/evaluation.py): a
dataset version's items that name expected sources, each item's message as the question."""

from __future__ import annotations

from typing import Any

from apps.config.errors import InvalidInput
from apps.evaluation.selectors import dataset_get, dataset_items, dataset_version_get


def _source_name(source: Any) -> str:
    if isinstance(source, dict):
        for field in ("id", "document", "document_id", "name", "title", "url"):
            if source.get(field):
                return str(source[field])
        return ""
    return str(source).strip()


def knowledge_questions(organization: Any, dataset_id: str, number: int | None) -> list[dict[str, Any]]:
    dataset = dataset_get(organization=organization, dataset_id=dataset_id)
    if not dataset.latest_version:
        raise InvalidInput(f"The dataset {dataset.name} has no version yet.", code="no_questions")
    version = dataset_version_get(dataset=dataset, number=number or dataset.latest_version)
    rows = []
    for item in dataset_items(version=version):
        expected = [name for name in map(_source_name, item.expected_sources or []) if name]
        if item.message.strip() and expected:
            rows.append({"question": item.message, "expected": expected})
    if not rows:
        raise InvalidInput(
            f"Version {version.number} of {dataset.name} has no item with expected sources "
            "(the documents that should answer it).",
            code="no_questions",
        )
    return rows
