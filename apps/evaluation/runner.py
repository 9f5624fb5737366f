"""An evaluation's job (huey worker): every (item, sample) not yet done runs through the one run
start (apps.runs.start.run_start) as the evaluation's principal, at most `concurrency` at once;
each finished sample is scored and stored as one row, which is the record that it is done, so a
job resumed after a worker died skips what is already stored. The job holds a lease on the
evaluation row and renews it; the resume sweep (tasks.py) queues evaluations whose lease ran out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
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
from apps.evaluation.evaluators import SampleInput, Score, parse_evaluators, preload, score_sample
from apps.evaluation.evaluators.spec import EvaluatorSpec
from apps.evaluation.models import EVALUATION_SOURCE, DatasetItem, EvalSample, Evaluation
from apps.evaluation.stats import evaluator_summary, paired_compare
from apps.evaluation.targets import graph_with_prompt
from apps.runs.live import PreparedRun, run_start_live, run_to_end
from apps.runs.models import ChatMessage, ChatSession, Run
from apps.runs.principals import Principal, RunRequest
from apps.runs.start import RunStarting, run_start
from apps.serving.accounting import Meter
from apps.serving.accounting import flush as ledger_flush
from apps.serving.gateway import EndpointSnapshot, GatewayModels
from apps.serving.selectors import model_endpoint_list
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
JUDGE_KINDS = {"judge", "pairwise", "faithfulness"}


class EvaluationPrincipal(Principal):
    """The evaluation's creator's rights; its runs carry the source "evaluation". With a prompt
    (an evaluation of a prompt version) its runs' graph has that prompt node's template replaced
    (PromptTargetHook)."""

    def __init__(self, actor: Actor, *, prompt: dict[str, str] | None = None) -> None:
        super().__init__(actor)
        self.prompt = prompt

    def admit(self, request: RunRequest) -> RunRequest:
        request.source = EVALUATION_SOURCE
        return super().admit(request)


class PromptTargetHook:
    """A RunHook (registered at the run start's hook point by this app's AppConfig.ready): an
    evaluation's run of a prompt version gets the graph with that prompt's template in place."""

    def __call__(self, starting: RunStarting) -> None:
        principal = starting.principal
        if isinstance(principal, EvaluationPrincipal) and principal.prompt:
            starting.graph = graph_with_prompt(starting.graph, principal.prompt)


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
class _Prepared:
    item: DatasetItem
    index: int
    prepared: PreparedRun | None  # None: the run did not start (error)
    error: str = ""


@dataclass
class _Ran:
    entry: _Prepared
    run: Run | None  # None: it failed before it ended (error)
    error: str
    wall_ms: float


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
        prompt = {"node": evaluation.prompt_node, "template": evaluation.prompt_template}
        self.principal = EvaluationPrincipal(
            Actor(user=user, api_key=None), prompt=prompt if evaluation.prompt_node else None
        )
        self.cancelled = asyncio.Event()
        self.pending: list[_Done] = []
        self.endpoints: list[EndpointSnapshot] | None = None  # the judges' models, when there are judges
        self.meter: Meter | None = None
        self.judging = asyncio.Semaphore(max(evaluation.concurrency, 1))
        self.embed: Any = None
        self.baseline_outputs: dict[tuple[str, int], str] = {}

    # --- one sample: prepared ahead, run in a slot, scored after its slot is free ---

    async def prepare(self, item: DatasetItem, index: int) -> _Prepared:
        """The run's start (reads, compile, its rows) before a slot is free: a slot only waits
        for the model. A start that fails is a failed sample."""
        evaluation = self.evaluation
        try:
            session_id = await in_db_thread(_history_session)(evaluation, item) if item.history else None
            inputs: dict[str, Any] = {"message": item.message, **(item.variables or {})}
            request = RunRequest(
                flow=evaluation.flow_id,
                version=evaluation.version_number if evaluation.version_number is not None else "draft",
                inputs=inputs,
                session=session_id,
                organization=evaluation.organization_id,
            )
            return _Prepared(item, index, await run_start(self.principal, request))
        except (TrellisError, FlowError) as exc:
            return _Prepared(item, index, None, getattr(exc, "message", None) or str(exc))
        except Exception:
            logger.exception("evaluation %s: a sample's run did not start", evaluation.pk)
            return _Prepared(item, index, None, "The run stopped on a server error.")

    async def execute(self, entry: _Prepared) -> _Ran:
        """The run to its end (what holds a slot)."""
        if entry.prepared is None:
            return _Ran(entry, None, entry.error, 0.0)
        started = time.perf_counter()
        try:
            _events, run = await run_to_end(entry.prepared)
            if run is None:
                run = await Run.objects.aget(pk=entry.prepared.run.pk)
        except (TrellisError, FlowError) as exc:
            return _Ran(entry, None, getattr(exc, "message", None) or str(exc), 0.0)
        except Exception:  # a server error fails this sample, not the evaluation
            logger.exception("evaluation %s: a sample failed", self.evaluation.pk)
            return _Ran(entry, None, "The run stopped on a server error.", 0.0)
        return _Ran(entry, run, "", round((time.perf_counter() - started) * 1000, 1))

    async def score(self, ran: _Ran) -> None:
        """Score a finished run and queue its row (off the slots: the next run has started)."""
        item, index = ran.entry.item, ran.entry.index
        run_id = ran.entry.prepared.run.pk if ran.entry.prepared is not None else None
        output, citations, ok, error, cost = "", [], ran.run is not None, ran.error, Decimal(0)
        latency_ms: float | None = None
        scores: dict[str, Score] = {}
        try:
            if ran.run is not None:
                run = ran.run
                output = _answer(run)
                citations = citations_of(run.output)
                latency_ms = run.latency_ms or ran.wall_ms
                cost = Decimal(run.cost or 0)
                if run.status != Run.Status.COMPLETED:
                    ok, error = False, run.error_message or run.status
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
                async with self.judging:
                    scores = await score_sample(
                        self.specs, sample_input, models=self.judges_for(run_id), embed=self.embed
                    )
                cost += sum((Decimal(str(score.cost)) for score in scores.values()), Decimal(0))
        except Exception:
            logger.exception("evaluation %s: a sample could not be scored", self.evaluation.pk)
            ok, error = False, "The sample could not be scored (a server error)."
        self.pending.append(_Done(item, index, run_id, output, citations, ok, error[:2000], latency_ms, cost, scores))

    def judges_for(self, run_id: Any) -> GatewayModels | None:
        """The judges' gateway for one sample: its calls are admitted against the organization's
        budget and land in the model-call ledger attributed to the sample's run (and so to this
        evaluation), with the evaluation's flow and creator."""
        if self.endpoints is None:
            return None
        meter = None
        if self.meter is not None:
            meter = dataclasses.replace(
                self.meter,
                run_id=run_id,
                spent_here=0,
                calls_here=0,
                cost_here=Decimal(0),
                limits=list(self.meter.limits),
            )
        return GatewayModels(self.endpoints, meter=meter)

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


def _judge_models(evaluation: Evaluation) -> tuple[list[EndpointSnapshot], Meter]:
    """The organization's models for the judges, and the meter their calls go through (the
    budget is checked at each call: a judge over budget leaves its sample unscored)."""
    endpoints = [
        EndpointSnapshot.of(endpoint) for endpoint in model_endpoint_list(organization=evaluation.organization)
    ]
    meter = Meter.load(
        evaluation.organization_id,
        flow_id=evaluation.flow_id,
        user_id=evaluation.created_by_id,
        refuse_over_budget=False,
    )
    return endpoints, meter


PREPARERS = 4  # run starts prepared at once, ahead of the slots


async def _drive(evaluation: Evaluation) -> str:
    """`concurrency` slots, each running one sample's run after another: the runs are started
    (reads, compile, rows) ahead by a few preparers, and scored after they leave their slot, so
    a slot goes from one model call to the next without waiting on the database or the scoring.
    Finished samples are written in batches by the watcher, which also renews the lease and
    looks for a cancel."""
    specs = parse_evaluators(evaluation.evaluators)
    job = _Job(evaluation, specs)
    todo = collections.deque(await in_db_thread(_todo)(evaluation))
    job.baseline_outputs = await in_db_thread(_baseline_outputs)(evaluation)
    if any(spec.kind in JUDGE_KINDS for spec in specs):
        job.endpoints, job.meter = await in_db_thread(_judge_models)(evaluation)
    job.embed = await in_db_thread(_embedder)(evaluation, specs)
    await asyncio.to_thread(preload, {spec.kind for spec in specs})  # not on the loop, once a worker
    pipeline = _Pipeline(job, todo, min(evaluation.concurrency, max(len(todo), 1)))
    await pipeline.run()
    # The model-call ledger writes in the background on this loop, which ends with this job:
    # its last rows (the runs' and the judges') are written before it does.
    await ledger_flush()
    await in_db_thread(job.write)(job.take())  # what finished after the watcher's last write
    return await in_db_thread(_finish)(evaluation)


class _Pipeline:
    def __init__(self, job: _Job, todo: collections.deque[tuple[DatasetItem, int]], slots: int) -> None:
        self.job, self.todo, self.slots = job, todo, slots
        self.ready: asyncio.Queue[_Prepared | None] = asyncio.Queue(maxsize=slots)
        self.scoring: set[asyncio.Task[None]] = set()
        self.finished = asyncio.Event()

    async def preparer(self) -> None:
        while self.todo and not self.job.cancelled.is_set():
            item, index = self.todo.popleft()
            await self.ready.put(await self.job.prepare(item, index))

    async def feed(self) -> None:
        try:
            await asyncio.gather(*(self.preparer() for _ in range(min(PREPARERS, self.slots))))
        finally:
            for _ in range(self.slots):
                await self.ready.put(None)

    async def slot(self) -> None:
        while (entry := await self.ready.get()) is not None:
            if self.job.cancelled.is_set():
                await _abandon(entry)
                continue
            ran = await self.job.execute(entry)
            task = asyncio.create_task(self.job.score(ran))
            self.scoring.add(task)
            task.add_done_callback(self.scoring.discard)

    async def watcher(self) -> None:
        job, last_watch = self.job, 0.0
        while not self.finished.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finished.wait(), FLUSH_EVERY)
            await in_db_thread(job.write)(job.take())
            if not self.finished.is_set() and time.monotonic() - last_watch >= WATCH_SECONDS:
                last_watch = time.monotonic()
                if await in_db_thread(job.watch)():
                    job.cancelled.set()

    async def run(self) -> None:
        feeding = asyncio.create_task(self.feed())
        runners = [asyncio.create_task(self.slot()) for _ in range(self.slots)]
        watching = asyncio.create_task(self.watcher())
        stop = asyncio.create_task(self.job.cancelled.wait())
        all_runners: asyncio.Future[Any] = asyncio.gather(*runners)
        await asyncio.wait([all_runners, stop], return_when=asyncio.FIRST_COMPLETED)
        if self.job.cancelled.is_set():
            for task in runners:
                task.cancel()  # the runs in flight end as cancelled
            await asyncio.gather(*runners, return_exceptions=True)
            # The preparers end after the start they are in (its rows are written); what they
            # prepared and no slot ran ends as cancelled too.
            while not feeding.done() or not self.ready.empty():
                entry = await self.ready.get()
                if entry is not None:
                    await _abandon(entry)
        await feeding
        stop.cancel()
        await asyncio.gather(stop, return_exceptions=True)
        while self.scoring:
            await asyncio.gather(*list(self.scoring), return_exceptions=True)
        self.finished.set()
        await watching


async def _abandon(entry: _Prepared) -> None:
    """A run prepared (its rows written) but not to be run: it ends as cancelled."""
    if entry.prepared is None:
        return
    live = run_start_live(entry.prepared)
    live.cancel()  # after the run's first step (call_soon_threadsafe): it records its cancel
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await live.task


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


def judge_cost(evaluation_id: Any) -> str:
    """What the evaluation's judges cost (in the evaluation's cost too), as a decimal string."""
    total = Decimal(0)
    for sample_scores in EvalSample.objects.filter(evaluation_id=evaluation_id).values_list("scores", flat=True):
        for score in (sample_scores or {}).values():
            if isinstance(score, dict) and isinstance(score.get("cost"), int | float):
                total += Decimal(str(score["cost"]))
    return str(total.quantize(Decimal("0.000001")))


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
    summary["judge_cost"] = judge_cost(evaluation.pk)
    if evaluation.gate:
        from apps.evaluation.gate import gate_verdict

        summary["gate"] = gate_verdict(evaluation, summary)
    Evaluation.objects.filter(pk=evaluation.pk).update(summary=summary)
    evaluation.summary = summary
    return summary
