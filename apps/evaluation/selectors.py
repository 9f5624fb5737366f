"""Reads, always scoped by the caller's organization; another tenant's id is not found."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.config.errors import NotFound
from apps.evaluation.models import Dataset, DatasetItem, DatasetVersion, EvalSample, Evaluation, FlowGate
from apps.tenancy.models import Organization


def _uuid(raw: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(f"{what} not found.") from None


def dataset_list(*, organization: Organization) -> QuerySet[Dataset]:
    return Dataset.objects.filter(organization=organization).order_by("-updated_at")


def dataset_get(*, organization: Organization, dataset_id: object) -> Dataset:
    found = Dataset.objects.filter(organization=organization, pk=_uuid(dataset_id, "Dataset")).first()
    if found is None:
        raise NotFound("Dataset not found.")
    return found


def dataset_version_get(*, dataset: Dataset, number: int) -> DatasetVersion:
    found = DatasetVersion.objects.filter(dataset=dataset, number=number).first()
    if found is None:
        raise NotFound(f"Dataset version {number} not found.", code="dataset_version_not_found")
    return found


def dataset_items(*, version: DatasetVersion) -> QuerySet[DatasetItem]:
    return DatasetItem.objects.filter(version=version).order_by("ordinal")


def evaluation_list(*, organization: Organization, flow: object | None = None) -> QuerySet[Evaluation]:
    rows = Evaluation.objects.filter(organization=organization)
    if flow:
        rows = rows.filter(flow_id=_uuid(flow, "Flow"))
    return rows.select_related("flow", "dataset_version__dataset").order_by("-created_at")


def evaluation_get(*, organization: Organization, evaluation_id: object) -> Evaluation:
    found = (
        Evaluation.objects.filter(organization=organization, pk=_uuid(evaluation_id, "Evaluation"))
        .select_related("flow", "dataset_version__dataset")
        .first()
    )
    if found is None:
        raise NotFound("Evaluation not found.")
    return found


def evaluation_samples(*, evaluation: Evaluation) -> QuerySet[EvalSample]:
    return EvalSample.objects.filter(evaluation=evaluation).select_related("item").order_by("item__ordinal", "sample")


def review_queue(*, organization: Organization) -> list[EvalSample]:
    """Samples whose human grade is still pending, oldest evaluation first."""
    rows = EvalSample.objects.filter(evaluation__organization=organization, ok=True).select_related(
        "item", "evaluation"
    )
    pending = [
        sample
        for sample in rows.order_by("evaluation__created_at", "item__ordinal", "sample")[:5000]
        if any(isinstance(score, dict) and score.get("pending") for score in sample.scores.values())
    ]
    return pending[:200]


def gate_get(*, organization: Organization, flow_id: object) -> FlowGate | None:
    return FlowGate.objects.filter(organization=organization, flow_id=_uuid(flow_id, "Flow")).first()
