"""An evaluation's job (huey worker): every (item, sample) not yet done runs through the one run
start (apps.runs.start.run_start) as the evaluation's principal, at most `concurrency` at once;
each finished sample is scored and stored as one row, which is the record that it is done, so a
job resumed after a worker died skips what is already stored. The job holds a lease on the
evaluation row and renews it; the resume sweep (tasks.py) queues evaluations whose lease ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import close_old_connections, transaction
from django.db.models import F, Q

from apps.config.db import in_db_thread
from apps.config.errors import TrellisError
from apps.evaluation.evaluators import SampleInput, Score, parse_evaluators, score_sample
from apps.evaluation.evaluators.spec import EvaluatorSpec
from apps.evaluation.models import EVALUATION_SOURCE, DatasetItem, EvalSample, Evaluation
from apps.evaluation.stats import evaluator_summary, paired_compare
from apps.runs.live import run_to_end
from apps.runs.models import ChatMessage, ChatSession, Run
from apps.runs.principals import Principal, RunRequest
from apps.runs.start import run_start
from apps.serving.gateway import GatewayModels
from apps.tenancy.access import Actor
from apps.widgets.selectors import citations_of
from flows.errors import FlowError
from flows.values import to_text

logger = logging.getLogger(__name__)

LEASE_SECONDS = float(os.environ.get("TRELLIS_EVALUATION_LEASE_SECONDS", "30"))
WATCH_SECONDS = 0.5  # how often the job looks for a cancel and renews its lease
FLUSH_EVERY = 0.25  # finished samples are written in batches this often
ACTIVE = (Evaluation.Status.QUEUED, Evaluation.Status.RUNNING)
INCOMPLETE = "incomplete"
ATTEMPTS = 3


class EvaluationPrincipal(Principal):
    """The evaluation's creator's rights; its runs carry the source "evaluation"."""

    def admit(self, request: RunRequest) -> RunRequest:
        request.source = EVALUATION_SOURCE
        return super().admit(request)


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _claim(evaluation_id: str) -> Evaluation | None:
    """Take the evaluation if it is active and nobody holds a live lease on it."""
    now = _now()
    claimed = (
        Evaluation.objects.filter(pk=evaluation_id, status__in=ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(status=Evaluation.Status.RUNNING, lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )
    if not claimed:
        return None
    Evaluation.objects.filter(pk=evaluation_id, started_at__isnull=True).update(started_at=now)
    return Evaluation.objects.select_related("created_by").get(pk=evaluation_id)


def evaluation_execute(evaluation_id: str) -> str:
    """Run an evaluation to its end (or its cancel); returns the status it ended with."""
    evaluation = _claim(evaluation_id)
    if evaluation is None:
        return "not claimed"
    baseline = evaluation.baseline
    if baseline is not None and baseline.status in ACTIVE:
        evaluation_execute(str(baseline.pk))  # the baseline first: the comparison and pairwise need it
    try:
        status = INCOMPLETE
        for _ in range(ATTEMPTS):  # samples lost to an unexpected cancel are run again
            status = asyncio.run(_drive(evaluation))
            if status != INCOMPLETE:
                break
        if status == INCOMPLETE:
            raise RuntimeError("samples kept failing to finish")
    except Exception as exc:
        logger.exception("evaluation %s failed", evaluation_id)
        message = exc.message if isinstance(exc, TrellisError) else "The evaluation stopped on a server error."
        Evaluation.objects.filter(pk=evaluation.pk, status=Evaluation.Status.RUNNING).update(
            status=Evaluation.Status.FAILED, error=message, finished_at=_now(), lease_until=None
        )
        return Evaluation.Status.FAILED
    finally:
        close_old_connections()
    return status


@dataclass
class _Done:
    item: DatasetItem
    sample: int
    run_id: Any
    output: str
    citations: list[dict[str, Any]]
    ok: bool
    error: str
    latency_ms: float | None
    cost: Decimal
    scores: dict[str, Score]


class _Job:
    def __init__(self, evaluation: Evaluation, specs: list[EvaluatorSpec]) -> None:
        self.evaluation = evaluation
        self.specs = specs
        user = evaluation.created_by
        self.principal = EvaluationPrincipal(Actor(user=user, api_key=None))
        self.cancelled = asyncio.Event()
        self.pending: list[_Done] = []
        self.models: GatewayModels | None = None
        self.embed: Any = None
        self.baseline_outputs: dict[tuple[str, int], str] = {}

    # --- one sample ---

    async def sample(self, item: DatasetItem, index: int) -> None:
        evaluation = self.evaluation
        session_id = await in_db_thread(_history_session)(evaluation, item) if item.history else None
        inputs: dict[str, Any] = {"message": item.message, **(item.variables or {})}
        request = RunRequest(
            flow=evaluation.flow_id,
            version=evaluation.version_number if evaluation.version_number is not None else "draft",
            inputs=inputs,
            session=session_id,
            organization=evaluation.organization_id,
        )
        started = time.perf_counter()
        run_id, output, citations, ok, error, cost = None, "", [], True, "", Decimal(0)
        latency_ms: float | None = None
        try:
            prepared = await run_start(self.principal, request)
            run_id = prepared.run.pk
            _events, run = await run_to_end(prepared)
            if run is None:
                run = await Run.objects.aget(pk=run_id)
            output = _answer(run)
            citations = citations_of(run.output)
            latency_ms = run.latency_ms or round((time.perf_counter() - started) * 1000, 1)
            cost = Decimal(run.cost or 0)
            if run.status != Run.Status.COMPLETED:
                ok, error = False, run.error_message or run.status
        except (TrellisError, FlowError) as exc:
            ok, error = False, getattr(exc, "message", None) or str(exc)
        except Exception:  # a server error fails this sample, not the evaluation
            logger.exception("evaluation %s: a sample failed", evaluation.pk)
            ok, error = False, "The run stopped on a server error."
        scores: dict[str, Score] = {}
        if ok:
            sample_input = SampleInput(
                message=item.message,
                output=output,
                expected_output=item.expected_output,
                expected_sources=list(item.expected_sources or []),
                citations=citations,
                latency_ms=latency_ms,
                cost=float(cost),
                baseline_output=self.baseline_outputs.get((str(item.key), index)),
            )
            scores = await score_sample(self.specs, sample_input, models=self.models, embed=self.embed)
            cost += sum((Decimal(str(score.cost)) for score in scores.values()), Decimal(0))
        self.pending.append(_Done(item, index, run_id, output, citations, ok, error[:2000], latency_ms, cost, scores))

    # --- writes ---

    def take(self) -> list[_Done]:
        """The finished samples not yet written (on the loop: no sample is lost between threads)."""
        done, self.pending = self.pending, []
        return done

    def write(self, done: list[_Done]) -> None:
        if not done:
            return
        rows = [
            EvalSample(
                evaluation=self.evaluation,
                item=entry.item,
                sample=entry.sample,
                run_id=entry.run_id,
                output=entry.output,
                citations=entry.citations,
                ok=entry.ok,
                error=entry.error,
                latency_ms=entry.latency_ms,
                cost=entry.cost,
                scores={name: score.to_json() for name, score in entry.scores.items()},
            )
            for entry in done
        ]
        with transaction.atomic():
            created = EvalSample.objects.bulk_create(rows, ignore_conflicts=True)
            del created  # (ignore_conflicts: a sample a previous worker stored stays as it was)
            evaluation_add_cost(
                evaluation_id=self.evaluation.pk,
                done=len(done),
                failed=sum(1 for entry in done if not entry.ok),
                cost=sum((entry.cost for entry in done), Decimal(0)),
            )

    def watch(self) -> bool:
        """Renew the lease; True when the evaluation was cancelled."""
        status = Evaluation.objects.filter(pk=self.evaluation.pk).values_list("status", flat=True).first()
        if status != Evaluation.Status.RUNNING:
            return True
        Evaluation.objects.filter(pk=self.evaluation.pk).update(lease_until=_now() + timedelta(seconds=LEASE_SECONDS))
        return False


def evaluation_add_cost(*, evaluation_id: Any, done: int, failed: int, cost: Decimal) -> None:
    Evaluation.objects.filter(pk=evaluation_id).update(
        done=F("done") + done, failed=F("failed") + failed, cost=F("cost") + cost
    )


def _answer(run: Run) -> str:
    outputs = run.output if isinstance(run.output, dict) else {}
    first = next(iter(outputs.values()), None)
    if isinstance(first, dict) and "value" in first:
        return to_text(first.get("value"))
    return run.output_text


def _history_session(evaluation: Evaluation, item: DatasetItem) -> Any:
    """A chat session holding the item's history, so the run reads it as its memory."""
    session = ChatSession.objects.create(
        organization_id=evaluation.organization_id, flow_id=evaluation.flow_id, title=f"evaluation {evaluation.pk}"
    )
    ChatMessage.objects.bulk_create(
        [ChatMessage(session=session, role=turn["role"], content=turn["content"]) for turn in item.history]
    )
    return session.pk


def _todo(evaluation: Evaluation) -> list[tuple[DatasetItem, int]]:
    items = list(DatasetItem.objects.filter(version_id=evaluation.dataset_version_id).order_by("ordinal"))
    done = set(EvalSample.objects.filter(evaluation=evaluation).values_list("item_id", "sample"))
    # What is stored is the truth (a worker may have died between its rows and its counters).
    Evaluation.objects.filter(pk=evaluation.pk).update(
        done=len(done), failed=EvalSample.objects.filter(evaluation=evaluation, ok=False).count()
    )
    return [(item, index) for item in items for index in range(evaluation.samples) if (item.id, index) not in done]


def _baseline_outputs(evaluation: Evaluation) -> dict[tuple[str, int], str]:
    if evaluation.baseline_id is None:
        return {}
    rows = EvalSample.objects.filter(evaluation_id=evaluation.baseline_id, ok=True).values_list(
        "item__key", "sample", "output"
    )
    return {(str(key), sample): output for key, sample, output in rows}


def _embedder(evaluation: Evaluation, specs: list[EvaluatorSpec]) -> Any:
    embedding = next((spec for spec in specs if spec.kind == "embedding"), None)
    if embedding is None:
        return None
    from apps.knowledge.embeddings import embedder_for

    return embedder_for(organization=evaluation.organization, model=embedding.model or "local").embed


async def _drive(evaluation: Evaluation) -> str:
    specs = parse_evaluators(evaluation.evaluators)
    job = _Job(evaluation, specs)
    todo = await in_db_thread(_todo)(evaluation)
    job.baseline_outputs = await in_db_thread(_baseline_outputs)(evaluation)
    if any(spec.kind in {"judge", "pairwise", "faithfulness"} for spec in specs):
        job.models = await GatewayModels.load(evaluation.organization_id)
    job.embed = await in_db_thread(_embedder)(evaluation, specs)
    queue: asyncio.Queue[tuple[DatasetItem, int]] = asyncio.Queue()
    for entry in todo:
        queue.put_nowait(entry)

    async def worker() -> None:
        while not job.cancelled.is_set():
            try:
                item, index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await job.sample(item, index)

    finished = asyncio.Event()

    async def watcher() -> None:
        last_watch = 0.0
        while not finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), FLUSH_EVERY)
            await in_db_thread(job.write)(job.take())
            if not finished.is_set() and time.monotonic() - last_watch >= WATCH_SECONDS:
                last_watch = time.monotonic()
                if await in_db_thread(job.watch)():
                    job.cancelled.set()

    workers = [asyncio.create_task(worker()) for _ in range(min(evaluation.concurrency, max(len(todo), 1)))]
    watching = asyncio.create_task(watcher())
    stop = asyncio.create_task(job.cancelled.wait())
    all_workers: asyncio.Future[Any] = asyncio.gather(*workers)
    await asyncio.wait([all_workers, stop], return_when=asyncio.FIRST_COMPLETED)
    for task in [*workers, stop]:
        task.cancel()  # on a cancel: the runs in flight end as cancelled
    await asyncio.gather(*workers, stop, return_exceptions=True)
    finished.set()
    await watching
    await in_db_thread(job.write)(job.take())  # what finished after the watcher's last write
    return await in_db_thread(_finish)(evaluation)


def _finish(evaluation: Evaluation) -> str:
    evaluation.refresh_from_db()
    if evaluation.status != Evaluation.Status.RUNNING:  # cancelled
        Evaluation.objects.filter(pk=evaluation.pk).update(finished_at=_now(), lease_until=None)
        return evaluation.status
    if EvalSample.objects.filter(evaluation=evaluation).count() < evaluation.total:
        return INCOMPLETE
    evaluation_summarize(evaluation)
    Evaluation.objects.filter(pk=evaluation.pk, status=Evaluation.Status.RUNNING).update(
        status=Evaluation.Status.COMPLETED, finished_at=_now(), lease_until=None
    )
    return Evaluation.Status.COMPLETED


def item_means(evaluation_id: Any, name: str) -> dict[str, list[float]]:
    """Per item key: the scores of its samples for evaluator `name` (unscored samples left out)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for key, sample_scores in EvalSample.objects.filter(evaluation_id=evaluation_id).values_list("item__key", "scores"):
        value = (sample_scores or {}).get(name, {}).get("score")
        if isinstance(value, int | float):
            scores[str(key)].append(float(value))
    return dict(scores)


def evaluation_summarize(evaluation: Evaluation) -> dict[str, Any]:
    """Per evaluator: item means and variances, the mean with its bootstrap 95% interval, and the
    paired comparison with the baseline; for a gate, its verdict. Stored on the evaluation."""
    specs = parse_evaluators(evaluation.evaluators)
    summary: dict[str, Any] = {"evaluators": {}, "comparison": {}}
    baseline = evaluation.baseline
    for spec in specs:
        per_item = item_means(evaluation.pk, spec.name)
        summary["evaluators"][spec.name] = {"kind": spec.kind, **evaluator_summary(per_item)}
        if baseline is not None and spec.kind != "pairwise":
            mine = {key: item["mean"] for key, item in summary["evaluators"][spec.name]["items"].items()}
            theirs_raw = item_means(baseline.pk, spec.name)
            theirs = {key: sum(values) / len(values) for key, values in theirs_raw.items()}
            summary["comparison"][spec.name] = paired_compare(mine, theirs).to_json()
    if evaluation.gate:
        from apps.evaluation.gate import gate_verdict

        summary["gate"] = gate_verdict(evaluation, summary)
    Evaluation.objects.filter(pk=evaluation.pk).update(summary=summary)
    evaluation.summary = summary
    return summary
