"""Thin views: one access check, parse the input, call one service or selector, render."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.builder.selectors import flow_get
from apps.config.errors import InvalidInput
from apps.evaluation import selectors, services
from apps.evaluation.api import serializers as s
from apps.evaluation.datasets import parse_upload
from apps.evaluation.estimate import estimate_cost
from apps.evaluation.evaluators.spec import parse_evaluators
from apps.evaluation.models import EvalSample, Evaluation
from apps.evaluation.targets import graph_with_prompt
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.models import Role

ITEM_PAGE = 100


# --- datasets ---------------------------------------------------------------------------------


class DatasetListView(APIView):
    @extend_schema(responses={200: s.DatasetOut(many=True), **ERRORS}, summary="Datasets, recently changed first")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.DatasetOut(selectors.dataset_list(organization=access.organization), many=True).data)

    @extend_schema(request=s.DatasetCreateIn, responses={201: s.DatasetOut, **ERRORS}, summary="Create (editor)")
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.DatasetCreateIn, request)
        dataset = services.dataset_create(access=access, **data)
        return Response(s.DatasetOut(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(APIView):
    @extend_schema(responses={200: s.DatasetOut, **ERRORS}, summary="A dataset")
    def get(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(
            s.DatasetOut(selectors.dataset_get(organization=access.organization, dataset_id=dataset_id)).data
        )

    @extend_schema(request=s.DatasetUpdateIn, responses={200: s.DatasetOut, **ERRORS}, summary="Rename (editor)")
    def patch(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.DatasetUpdateIn, request)
        dataset = services.dataset_update(
            access=access, dataset_id=dataset_id, name=data.get("name"), description=data.get("description")
        )
        return Response(s.DatasetOut(dataset).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete (editor; refused while evaluations use it)")
    def delete(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.dataset_delete(access=access, dataset_id=dataset_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetVersionListView(APIView):
    @extend_schema(responses={200: s.DatasetVersionOut(many=True), **ERRORS}, summary="Versions, newest first")
    def get(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id)
        dataset = selectors.dataset_get(organization=access.organization, dataset_id=dataset_id)
        return Response(s.DatasetVersionOut(dataset.versions.order_by("-number"), many=True).data)


class DatasetItemsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("version", int, required=False, description="Default: the latest")],
        responses={200: s.DatasetItemsOut, **ERRORS},
        summary="The items of a dataset version",
    )
    def get(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id)
        dataset = selectors.dataset_get(organization=access.organization, dataset_id=dataset_id)
        raw = request.query_params.get("version") or str(dataset.latest_version)
        if not raw.isdigit():
            raise InvalidInput("version is a number.", code="invalid")
        if int(raw) == 0:
            return Response({"version": 0, "items": []})
        version = selectors.dataset_version_get(dataset=dataset, number=int(raw))
        items = selectors.dataset_items(version=version)
        return Response({"version": version.number, "items": s.DatasetItemOut(items, many=True).data})

    @extend_schema(
        request=s.ItemsReplaceIn,
        responses={201: s.DatasetVersionOut, **ERRORS},
        summary="Save the table editor's items as the next version (editor); 400 invalid_rows names each bad row",
    )
    def put(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.ItemsReplaceIn, request)
        version = services.dataset_items_replace(
            access=access, dataset_id=dataset_id, items=data["items"], note=data["note"]
        )
        return Response(s.DatasetVersionOut(version).data, status=status.HTTP_201_CREATED)


class DatasetUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": s.UploadIn},
        responses={201: s.DatasetVersionOut, **ERRORS},
        summary="Append a CSV or JSONL file's rows as the next version (editor); every bad row named, none stored",
    )
    def post(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        selectors.dataset_get(organization=access.organization, dataset_id=dataset_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Attach a CSV or JSONL file as 'file'.", code="invalid_upload")
        items = parse_upload(upload.name or "", upload.read())
        version = services.dataset_upload(
            access=access, dataset_id=dataset_id, items=items, file_name=upload.name or ""
        )
        return Response(s.DatasetVersionOut(version).data, status=status.HTTP_201_CREATED)


class DatasetFromProductionView(APIView):
    @extend_schema(
        request=s.FromProductionIn,
        responses={201: s.DatasetVersionOut, **ERRORS},
        summary="Append items made from runs, widget conversations or thumbs-down feedback (editor)",
    )
    def post(self, request: Request, org_id: str, dataset_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.FromProductionIn, request)
        version = services.dataset_add_from_production(access=access, dataset_id=dataset_id, **data)
        return Response(s.DatasetVersionOut(version).data, status=status.HTTP_201_CREATED)


# --- evaluations ------------------------------------------------------------------------------


class EvaluationListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("flow", str, required=False)],
        responses={200: s.EvaluationOut(many=True), **ERRORS},
        summary="Evaluations, newest first",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        rows = selectors.evaluation_list(organization=access.organization, flow=request.query_params.get("flow"))
        return Response(s.EvaluationOut(rows[:200], many=True).data)

    @extend_schema(
        request=s.EvaluationCreateIn,
        responses={201: s.EvaluationOut, **ERRORS},
        summary="Start an evaluation (editor): a queue job; its estimated cost is in the answer",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.EvaluationCreateIn, request)
        evaluation = services.evaluation_create(
            access=access,
            flow_id=data["flow"],
            version=data["version"],
            dataset_id=data["dataset"],
            dataset_version=data["dataset_version"],
            evaluators=data["evaluators"],
            samples=data["samples"],
            concurrency=data["concurrency"],
            baseline_id=data["baseline"],
            name=data["name"],
            prompt=data["prompt"],
        )
        return Response(s.EvaluationOut(evaluation).data, status=status.HTTP_201_CREATED)


class EvaluationEstimateView(APIView):
    @extend_schema(
        request=s.EvaluationCreateIn, responses={200: s.EstimateOut, **ERRORS}, summary="The cost before starting"
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.EvaluationCreateIn, request)
        specs = parse_evaluators(data["evaluators"])
        flow = flow_get(organization=access.organization, flow_id=data["flow"])
        dataset = selectors.dataset_get(organization=access.organization, dataset_id=data["dataset"])
        version = selectors.dataset_version_get(
            dataset=dataset, number=data["dataset_version"] or dataset.latest_version
        )
        graph = services._version_of(flow, data["version"])
        messages = list(version.items.values_list("message", flat=True))
        cost = estimate_cost(
            organization=access.organization,
            graph=graph_with_prompt(graph.graph if graph is not None else flow.draft, data["prompt"]),
            messages=messages,
            samples=data["samples"],
            specs=specs,
        )
        return Response({"estimated_cost": cost, "runs": len(messages) * data["samples"]})


def _evaluation(request: Request, org_id: str, evaluation_id: str, role: str = Role.VIEWER) -> Evaluation:
    access = org_access(request, org_id, role)
    return selectors.evaluation_get(organization=access.organization, evaluation_id=evaluation_id)


class EvaluationDetailView(APIView):
    @extend_schema(responses={200: s.EvaluationDetailOut, **ERRORS}, summary="An evaluation with its statistics")
    def get(self, request: Request, org_id: str, evaluation_id: str) -> Response:
        return Response(s.EvaluationDetailOut(_evaluation(request, org_id, evaluation_id)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete a finished evaluation (editor)")
    def delete(self, request: Request, org_id: str, evaluation_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        services.evaluation_delete(access=access, evaluation_id=evaluation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EvaluationCancelView(APIView):
    @extend_schema(request=None, responses={200: s.EvaluationOut, **ERRORS}, summary="Cancel (editor)")
    def post(self, request: Request, org_id: str, evaluation_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        return Response(s.EvaluationOut(services.evaluation_cancel(access=access, evaluation_id=evaluation_id)).data)


def _means(samples: list[EvalSample]) -> dict[str, float | None]:
    values: dict[str, list[float]] = defaultdict(list)
    names: set[str] = set()
    for sample in samples:
        for name, score in sample.scores.items():
            names.add(name)
            if isinstance(score, dict) and isinstance(score.get("score"), int | float):
                values[name].append(float(score["score"]))
    return {name: (sum(values[name]) / len(values[name]) if values[name] else None) for name in sorted(names)}


def item_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Per item: its samples side by side, means per evaluator, the baseline's answers and means,
    and the evaluators on which the item fell below the baseline."""
    by_item: dict[str, list[EvalSample]] = defaultdict(list)
    for sample in selectors.evaluation_samples(evaluation=evaluation):
        by_item[str(sample.item.key)].append(sample)
    baseline: dict[str, list[EvalSample]] = defaultdict(list)
    if evaluation.baseline_id is not None:
        for sample in EvalSample.objects.filter(evaluation_id=evaluation.baseline_id).select_related("item"):
            baseline[str(sample.item.key)].append(sample)
    rows = []
    for key, samples in by_item.items():
        item = samples[0].item
        means, theirs = _means(samples), _means(baseline.get(key, []))
        regressed = [
            name
            for name, mean in means.items()
            if mean is not None and theirs.get(name) is not None and mean < (theirs[name] or 0)
        ]
        rows.append(
            {
                "item_key": key,
                "message": item.message,
                "expected_output": item.expected_output,
                "tags": item.tags,
                "samples": samples,
                "means": means,
                "baseline_outputs": [sample.output for sample in sorted(baseline.get(key, []), key=lambda x: x.sample)],
                "baseline_means": theirs,
                "regressed": regressed,
            }
        )
    return rows


class EvaluationItemsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("regressions", bool, required=False, description="Only items worse than the baseline"),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={200: s.ItemRowOut(many=True), **ERRORS},
        summary="Per item: the answers side by side with the baseline's, means and regressions",
    )
    def get(self, request: Request, org_id: str, evaluation_id: str) -> Response:
        evaluation = _evaluation(request, org_id, evaluation_id)
        rows = item_rows(evaluation)
        if request.query_params.get("regressions") in {"1", "true"}:
            rows = [row for row in rows if row["regressed"]]
        offset_raw = request.query_params.get("offset", "0")
        offset = int(offset_raw) if offset_raw.isdigit() else 0
        return Response(s.ItemRowOut(rows[offset : offset + ITEM_PAGE], many=True).data)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text  # no formulas in spreadsheets


class EvaluationExportView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "jsonl"], required=False)],
        responses={(200, "text/csv"): str, **ERRORS},
        summary="Every sample with its scores, as CSV or JSONL",
    )
    def get(self, request: Request, org_id: str, evaluation_id: str) -> HttpResponse:
        evaluation = _evaluation(request, org_id, evaluation_id)
        kind = request.query_params.get("format", "csv")
        if kind not in {"csv", "jsonl"}:
            raise serializers.ValidationError({"format": ["csv or jsonl."]})
        names = [spec.get("name", "") for spec in evaluation.evaluators]
        samples = selectors.evaluation_samples(evaluation=evaluation)
        if kind == "jsonl":
            lines = [
                orjson.dumps(
                    {
                        "item": str(sample.item.key),
                        "sample": sample.sample,
                        "message": sample.item.message,
                        "expected_output": sample.item.expected_output,
                        "output": sample.output,
                        "ok": sample.ok,
                        "error": sample.error,
                        "latency_ms": sample.latency_ms,
                        "cost": str(sample.cost),
                        "scores": sample.scores,
                    }
                )
                for sample in samples
            ]
            body = b"\n".join(lines) + b"\n"
            response = HttpResponse(body, content_type="application/x-ndjson")
        else:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(
                ["item", "sample", "message", "expected_output", "output", "ok", "latency_ms", "cost", *names]
            )
            for sample in samples:
                scores = [(sample.scores.get(name) or {}).get("score") for name in names]
                writer.writerow(
                    [
                        str(sample.item.key),
                        sample.sample,
                        _cell(sample.item.message),
                        _cell(sample.item.expected_output),
                        _cell(sample.output),
                        sample.ok,
                        sample.latency_ms,
                        str(sample.cost),
                        *["" if score is None else score for score in scores],
                    ]
                )
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}.{kind}"'
        return response


class SampleGradeView(APIView):
    @extend_schema(request=s.GradeIn, responses={200: s.SampleOut, **ERRORS}, summary="A human grade (editor)")
    def post(self, request: Request, org_id: str, evaluation_id: str, sample_id: int) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        data = parse_body(s.GradeIn, request)
        sample = services.review_grade(access=access, evaluation_id=evaluation_id, sample_id=sample_id, **data)
        return Response(s.SampleOut(sample).data)


class ReviewQueueView(APIView):
    @extend_schema(responses={200: s.ReviewOut(many=True), **ERRORS}, summary="Samples waiting for a human grade")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.ReviewOut(selectors.review_queue(organization=access.organization), many=True).data)


# --- gates ------------------------------------------------------------------------------------


class FlowGateView(APIView):
    @extend_schema(responses={200: s.GateStateOut, **ERRORS}, summary="The flow's gate and its latest evaluation")
    def get(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id)
        flow = flow_get(organization=access.organization, flow_id=flow_id)
        gate = selectors.gate_get(organization=access.organization, flow_id=flow.pk)
        latest = (
            selectors.evaluation_list(organization=access.organization, flow=flow.pk)
            .filter(gate=True, version__isnull=True)
            .first()
        )
        return Response(s.GateStateOut({"gate": gate, "latest": latest, "draft_revision": flow.revision}).data)

    @extend_schema(request=s.GateIn, responses={200: s.GateOut, **ERRORS}, summary="Set the gate (admin)")
    def put(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.GateIn, request)
        gate = services.gate_save(
            access=access,
            flow_id=flow_id,
            dataset_id=data["dataset"],
            evaluators=data["evaluators"],
            thresholds=data["thresholds"],
            samples=data["samples"],
            no_regression=data["no_regression"],
            enabled=data["enabled"],
        )
        return Response(s.GateOut(gate).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove the gate (admin)")
    def delete(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        services.gate_delete(access=access, flow_id=flow_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowGateRunView(APIView):
    @extend_schema(
        request=None,
        responses={201: s.EvaluationOut, **ERRORS},
        summary="Evaluate the draft with the gate (editor); the published version too, as the baseline",
    )
    def post(self, request: Request, org_id: str, flow_id: str) -> Response:
        access = org_access(request, org_id, Role.EDITOR)
        evaluation = services.gate_run(access=access, flow_id=flow_id)
        return Response(s.EvaluationOut(evaluation).data, status=status.HTTP_201_CREATED)
