"""Writes: datasets (every change is a new version), evaluations, human grades and gates.
Keyword-only, transactional, tenant-scoped through the caller's OrgAccess."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from apps.builder.models import Flow, FlowVersion
from apps.builder.selectors import flow_get
from apps.config.errors import Conflict, InvalidInput, NotFound
from apps.evaluation.datasets import MAX_ITEMS, ItemIn, validate_items
from apps.evaluation.estimate import estimate_cost
from apps.evaluation.evaluators.spec import parse_evaluators
from apps.evaluation.models import Dataset, DatasetItem, DatasetVersion, EvalSample, Evaluation, FlowGate
from apps.evaluation.selectors import dataset_get, dataset_version_get, evaluation_get
from apps.evaluation.targets import graph_with_prompt
from apps.runs.models import ChatMessage, Run
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record
from apps.widgets.models import Feedback

MAX_SAMPLES = 10
MAX_CONCURRENCY = 32
PRODUCTION_LIMIT = 1000  # items made from production at once


# --- datasets ---------------------------------------------------------------------------------


def dataset_create(*, access: OrgAccess, name: str, description: str = "", items: list[Any] | None = None) -> Dataset:
    access.require(Role.EDITOR)
    checked = validate_items(items or [])
    with transaction.atomic():
        dataset = Dataset.objects.create(
            organization=access.organization, name=name.strip(), description=description, created_by=access.actor.user
        )
        _write_version(access=access, dataset=dataset, items=[_row(item, "manual") for item in checked], note="created")
    return dataset


def dataset_update(*, access: OrgAccess, dataset_id: object, name: str | None, description: str | None) -> Dataset:
    access.require(Role.EDITOR)
    dataset = dataset_get(organization=access.organization, dataset_id=dataset_id)
    if name is not None:
        dataset.name = name.strip()
    if description is not None:
        dataset.description = description
    dataset.save(update_fields=["name", "description", "updated_at"])
    return dataset


def dataset_delete(*, access: OrgAccess, dataset_id: object) -> None:
    access.require(Role.EDITOR)
    dataset = dataset_get(organization=access.organization, dataset_id=dataset_id)
    if Evaluation.objects.filter(dataset_version__dataset=dataset).exists():
        raise Conflict("Evaluations use this dataset; delete them first.", code="dataset_in_use")
    dataset.delete()


def _row(item: ItemIn, origin: str, source_run: Run | None = None) -> dict[str, Any]:
    row = item.model_dump(exclude={"key"})
    row["history"] = [turn.model_dump() for turn in item.history]
    row["origin"] = origin
    row["source_run"] = source_run
    if item.key:
        row["key"] = item.key
    return row


def _write_version(*, access: OrgAccess, dataset: Dataset, items: list[dict[str, Any]], note: str) -> DatasetVersion:
    """The next version with exactly `items` (a caller holds the dataset's row lock)."""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"A dataset holds at most {MAX_ITEMS} items.", code="too_many_items")
    number = dataset.latest_version + 1
    version = DatasetVersion.objects.create(
        dataset=dataset, number=number, note=note[:500], item_count=len(items), created_by=access.actor.user
    )
    rows = []
    for ordinal, item in enumerate(items):
        key = item.get("key")
        try:
            parsed_key = uuid.UUID(str(key)) if key else uuid.uuid4()
        except ValueError:
            parsed_key = uuid.uuid4()
        fields = {k: v for k, v in item.items() if k != "key"}
        rows.append(DatasetItem(version=version, ordinal=ordinal, key=parsed_key, **fields))
    DatasetItem.objects.bulk_create(rows, batch_size=1000)
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=number)
    dataset.latest_version = number
    return version


def _locked(access: OrgAccess, dataset_id: object) -> Dataset:
    dataset = dataset_get(organization=access.organization, dataset_id=dataset_id)
    return Dataset.objects.select_for_update().get(pk=dataset.pk)


def _current_rows(dataset: Dataset) -> list[dict[str, Any]]:
    if dataset.latest_version == 0:
        return []
    fields = [
        "key",
        "message",
        "variables",
        "history",
        "expected_output",
        "expected_sources",
        "tags",
        "origin",
        "comment",
        "source_run_id",
    ]
    rows = DatasetItem.objects.filter(version__dataset=dataset, version__number=dataset.latest_version).values(*fields)
    return [dict(row) for row in rows.order_by("ordinal")]


def dataset_items_append(
    *, access: OrgAccess, dataset_id: object, items: list[dict[str, Any]], note: str
) -> DatasetVersion:
    access.require(Role.EDITOR)
    with transaction.atomic():
        dataset = _locked(access, dataset_id)
        return _write_version(access=access, dataset=dataset, items=_current_rows(dataset) + items, note=note)


def dataset_items_replace(*, access: OrgAccess, dataset_id: object, items: list[Any], note: str = "") -> DatasetVersion:
    """The table editor's save: exactly these items become the next version (an item that keeps
    its `key` stays the same item for comparisons across versions)."""
    access.require(Role.EDITOR)
    checked = validate_items(items)
    with transaction.atomic():
        dataset = _locked(access, dataset_id)
        previous = {str(row["key"]): row for row in _current_rows(dataset)}
        rows = []
        for item in checked:
            row = _row(item, "manual")
            old = previous.get(str(item.key)) if item.key else None
            if old is not None:  # an edited item keeps where it came from
                row["origin"], row["source_run_id"] = old["origin"], old["source_run_id"]
                row.pop("source_run")
            rows.append(row)
        return _write_version(access=access, dataset=dataset, items=rows, note=note or "edited")


def dataset_upload(*, access: OrgAccess, dataset_id: object, items: list[ItemIn], file_name: str) -> DatasetVersion:
    return dataset_items_append(
        access=access,
        dataset_id=dataset_id,
        items=[_row(item, "upload") for item in items],
        note=f"uploaded {file_name}"[:500],
    )


# --- from production --------------------------------------------------------------------------


def _history_before(run: Run) -> list[dict[str, str]]:
    if run.session_id is None:
        return []
    turns: list[dict[str, str]] = []
    for role, content, run_id in ChatMessage.objects.filter(session_id=run.session_id).values_list(
        "role", "content", "run_id"
    ):
        if run_id == run.id and role == ChatMessage.Role.USER:
            break
        turns.append({"role": role, "content": content[:20_000]})
    return turns[-20:]


def _item_from_run(run: Run, *, origin: str, comment: str = "", expected: bool = True) -> dict[str, Any]:
    inputs = run.inputs if isinstance(run.inputs, dict) else {}
    message = str(inputs.get("message") or "")[:20_000] or "(empty)"
    variables = {
        key: value
        for key, value in inputs.items()
        if key != "message" and isinstance(value, str | int | float | bool) and len(key) <= 64
    }
    return {
        "message": message,
        "variables": dict(list(variables.items())[:50]),
        "history": _history_before(run),
        "expected_output": run.output_text[:20_000] if expected else "",
        "expected_sources": [],
        "tags": [origin],
        "origin": origin,
        "comment": comment[:2000],
        "source_run": run,
    }


def _runs(access: OrgAccess, run_ids: Iterable[object]) -> list[Run]:
    ids = []
    for raw in run_ids:
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            raise NotFound("Run not found.", code="run_not_found") from None
    runs = {run.id: run for run in Run.objects.filter(organization=access.organization, id__in=ids)}
    missing = [str(pk) for pk in ids if pk not in runs]
    if missing:  # another tenant's run is not found either
        raise NotFound(f"Run not found: {missing[0]}.", code="run_not_found")
    return [runs[pk] for pk in ids]


def dataset_add_from_production(
    *,
    access: OrgAccess,
    dataset_id: object,
    runs: list[object] | None = None,
    conversations: list[object] | None = None,
    thumbs_down: bool = False,
    widget: uuid.UUID | None = None,
    flow: uuid.UUID | None = None,
    expected_from_answer: bool = True,
) -> DatasetVersion:
    """Items from selected runs, from every run of selected widget conversations, or from the
    runs visitors gave a thumbs-down (their comment kept). Each item links to its run."""
    access.require(Role.EDITOR)
    dataset_get(organization=access.organization, dataset_id=dataset_id)  # another tenant's: not found first
    rows: list[dict[str, Any]] = []
    if runs:
        rows += [_item_from_run(run, origin="run", expected=expected_from_answer) for run in _runs(access, runs)]
    if conversations:
        session_ids = []
        for raw in conversations:
            try:
                session_ids.append(uuid.UUID(str(raw)))
            except ValueError:
                raise NotFound("Conversation not found.", code="conversation_not_found") from None
        found = Run.objects.filter(organization=access.organization, session_id__in=session_ids)
        if set(found.values_list("session_id", flat=True).distinct()) != set(session_ids):
            raise NotFound("Conversation not found.", code="conversation_not_found")
        for run in found.order_by("started_at")[:PRODUCTION_LIMIT]:
            rows.append(_item_from_run(run, origin="conversation", expected=expected_from_answer))
    if thumbs_down:
        feedback = Feedback.objects.filter(run__organization=access.organization, rating=Feedback.Rating.DOWN)
        if widget:
            feedback = feedback.filter(widget_id=widget)
        if flow:
            feedback = feedback.filter(run__flow_id=flow)
        for entry in feedback.select_related("run").order_by("-created_at")[:PRODUCTION_LIMIT]:
            # The answer was judged bad: it is not the reference; the comment says why.
            row = _item_from_run(entry.run, origin="feedback", comment=entry.comment, expected=False)
            row["tags"] = ["thumbs-down"]
            rows.append(row)
    if not rows:
        raise InvalidInput("Nothing was selected (no runs, conversations or thumbs-down feedback).", code="empty")
    note = f"{len(rows)} items from production"
    with transaction.atomic():
        dataset = _locked(access, dataset_id)
        return _write_version(access=access, dataset=dataset, items=_current_rows(dataset) + rows, note=note)


# --- evaluations ------------------------------------------------------------------------------


def _version_of(flow: Flow, version: object) -> FlowVersion | None:
    if version in (None, "draft"):
        return None
    if version == "published":
        if flow.published_version_id is None:
            raise InvalidInput("This flow has no published version yet.", code="not_published")
        return FlowVersion.objects.get(pk=flow.published_version_id)
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidInput("version is a number, 'draft' or 'published'.", code="invalid") from None
    found = FlowVersion.objects.filter(flow=flow, number=number).first()
    if found is None:
        raise NotFound(f"Version {number} not found.", code="version_not_found")
    return found


def evaluation_create(
    *,
    access: OrgAccess,
    flow_id: object,
    version: object,
    dataset_id: object,
    dataset_version: int | None = None,
    evaluators: Any,
    samples: int = 1,
    concurrency: int = 4,
    baseline_id: object | None = None,
    name: str = "",
    gate: bool = False,
    enqueue: bool = True,
    prompt: dict[str, Any] | None = None,
) -> Evaluation:
    access.require(Role.EDITOR)
    specs = parse_evaluators(evaluators)
    if not 1 <= samples <= MAX_SAMPLES:
        raise InvalidInput(f"samples is 1 to {MAX_SAMPLES}.", code="invalid")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInput(f"concurrency is 1 to {MAX_CONCURRENCY}.", code="invalid")
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    flow_version = _version_of(flow, version)
    dataset = dataset_get(organization=access.organization, dataset_id=dataset_id)
    target_version = dataset_version_get(dataset=dataset, number=dataset_version or dataset.latest_version)
    if target_version.item_count == 0:
        raise InvalidInput("The dataset version has no items.", code="empty_dataset")
    baseline = None
    if baseline_id:
        baseline = evaluation_get(organization=access.organization, evaluation_id=baseline_id)
    if any(spec.kind == "pairwise" for spec in specs) and baseline is None:
        raise InvalidInput("A pairwise judge compares with a baseline: choose one.", code="baseline_required")
    graph = graph_with_prompt(flow_version.graph if flow_version is not None else flow.draft, prompt)
    estimate = estimate_cost(
        organization=access.organization,
        graph=graph,
        messages=list(target_version.items.values_list("message", flat=True)),
        samples=samples,
        specs=specs,
    )
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            organization=access.organization,
            name=name[:120],
            flow=flow,
            version=flow_version,
            version_number=flow_version.number if flow_version is not None else None,
            draft_revision=flow.revision if flow_version is None else None,
            prompt_node=str(prompt["node"]) if prompt else "",
            prompt_template=str(prompt["template"]) if prompt else "",
            dataset_version=target_version,
            evaluators=[spec.model_dump(exclude_defaults=True) | {"kind": spec.kind} for spec in specs],
            samples=samples,
            concurrency=concurrency,
            baseline=baseline,
            gate=gate,
            total=target_version.item_count * samples,
            estimated_cost=estimate,
            created_by=access.actor.user,
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(evaluation.pk))
    return evaluation


def _enqueue(evaluation_id: object) -> None:
    from apps.evaluation.tasks import run_evaluation

    run_evaluation(str(evaluation_id))


def evaluation_cancel(*, access: OrgAccess, evaluation_id: object) -> Evaluation:
    access.require(Role.EDITOR)
    evaluation = evaluation_get(organization=access.organization, evaluation_id=evaluation_id)
    active = [Evaluation.Status.QUEUED, Evaluation.Status.RUNNING]
    updated = Evaluation.objects.filter(pk=evaluation.pk, status__in=active).update(status=Evaluation.Status.CANCELLED)
    if not updated:
        raise Conflict("This evaluation is not running.", code="evaluation_not_running")
    evaluation.refresh_from_db()
    return evaluation


def evaluation_delete(*, access: OrgAccess, evaluation_id: object) -> None:
    access.require(Role.EDITOR)
    evaluation = evaluation_get(organization=access.organization, evaluation_id=evaluation_id)
    if evaluation.status in (Evaluation.Status.QUEUED, Evaluation.Status.RUNNING):
        raise Conflict("Cancel the evaluation before deleting it.", code="evaluation_running")
    evaluation.delete()


def review_grade(
    *, access: OrgAccess, evaluation_id: object, sample_id: int, evaluator: str, score: float, comment: str = ""
) -> EvalSample:
    """A human grade (0..1) for a sample of a `human` evaluator; the summary is computed again."""
    from apps.evaluation.runner import evaluation_summarize

    access.require(Role.EDITOR)
    evaluation = evaluation_get(organization=access.organization, evaluation_id=evaluation_id)
    names = {spec.get("name") for spec in evaluation.evaluators if spec.get("kind") == "human"}
    if evaluator not in names:
        raise InvalidInput(f"{evaluator!r} is not a human evaluator of this evaluation.", code="invalid")
    if not 0 <= score <= 1:
        raise InvalidInput("A grade is between 0 and 1.", code="invalid")
    with transaction.atomic():
        sample = EvalSample.objects.select_for_update().filter(evaluation=evaluation, pk=sample_id).first()
        if sample is None:
            raise NotFound("Sample not found.", code="sample_not_found")
        by = access.actor.user.username if access.actor.user is not None else "api key"
        sample.scores = {**sample.scores, evaluator: {"score": score, "reasoning": comment[:2000], "by": by}}
        sample.save(update_fields=["scores"])
        if evaluation.status == Evaluation.Status.COMPLETED:
            evaluation_summarize(evaluation)
    return sample


# --- gates ------------------------------------------------------------------------------------


def gate_save(
    *,
    access: OrgAccess,
    flow_id: object,
    dataset_id: object,
    evaluators: Any,
    thresholds: dict[str, float],
    samples: int,
    no_regression: bool,
    enabled: bool,
) -> FlowGate:
    access.require(Role.ADMIN)
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    dataset = dataset_get(organization=access.organization, dataset_id=dataset_id)
    specs = parse_evaluators(evaluators)
    names = {spec.name for spec in specs}
    unknown = sorted(set(thresholds) - names)
    if unknown:
        raise InvalidInput(f"Thresholds name unknown evaluators: {', '.join(unknown)}.", code="invalid_thresholds")
    if any(not 0 <= float(value) <= 1 for value in thresholds.values()):
        raise InvalidInput("A threshold is a mean score between 0 and 1.", code="invalid_thresholds")
    if not 1 <= samples <= MAX_SAMPLES:
        raise InvalidInput(f"samples is 1 to {MAX_SAMPLES}.", code="invalid")
    gate, _ = FlowGate.objects.update_or_create(
        flow=flow,
        defaults={
            "organization": access.organization,
            "dataset": dataset,
            "evaluators": [spec.model_dump(exclude_defaults=True) | {"kind": spec.kind} for spec in specs],
            "thresholds": {name: float(value) for name, value in thresholds.items()},
            "samples": samples,
            "no_regression": no_regression,
            "enabled": enabled,
        },
    )
    audit_record(
        organization=access.organization, actor=access.actor, action="flow.gate.save", target=flow, data=thresholds
    )
    return gate


def gate_delete(*, access: OrgAccess, flow_id: object) -> None:
    access.require(Role.ADMIN)
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    FlowGate.objects.filter(flow=flow, organization=access.organization).delete()
    audit_record(organization=access.organization, actor=access.actor, action="flow.gate.delete", target=flow)


def gate_run(*, access: OrgAccess, flow_id: object, enqueue: bool = True) -> Evaluation:
    """Evaluate the draft as the gate says; with "no regression", the published version too (the
    baseline, run first by the same job) unless a gate evaluation of it on the same dataset
    version and evaluators is already complete."""
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    gate = FlowGate.objects.filter(flow=flow, organization=access.organization).select_related("dataset").first()
    if gate is None:
        raise NotFound("This flow has no evaluation gate.", code="gate_not_found")
    baseline = None
    if gate.no_regression and flow.published_version_id is not None:
        baseline = (
            Evaluation.objects.filter(
                organization=access.organization,
                flow=flow,
                version_id=flow.published_version_id,
                dataset_version__dataset=gate.dataset,
                dataset_version__number=gate.dataset.latest_version,
                evaluators=gate.evaluators,
                samples=gate.samples,
                gate=True,
                status=Evaluation.Status.COMPLETED,
            )
            .order_by("-created_at")
            .first()
        )
        if baseline is None:
            baseline = evaluation_create(
                access=access,
                flow_id=flow.pk,
                version="published",
                dataset_id=gate.dataset_id,
                evaluators=gate.evaluators,
                samples=gate.samples,
                name="gate baseline",
                gate=True,
                enqueue=False,  # the draft's job runs it first
            )
    return evaluation_create(
        access=access,
        flow_id=flow.pk,
        version="draft",
        dataset_id=gate.dataset_id,
        evaluators=gate.evaluators,
        samples=gate.samples,
        baseline_id=baseline.pk if baseline is not None else None,
        name="gate",
        gate=True,
        enqueue=enqueue,
    )
