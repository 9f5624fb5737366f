"""Accounting for model calls: budgets, rate limits and the ModelCall ledger.

A `Meter` is made per run (or per test prompt) before it starts, with everything read from the
database already (the organization's quota and the tokens it used this month), so the gateway
never queries on the event loop. Finished calls become ModelCall rows, written in batches by a
background task; the process also keeps a running total per organization so concurrent runs in
it see each other's spending before the rows land. Rate limits are a sliding minute per
organization in this process (with N workers the effective limit is N times the setting).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.config.errors import TrellisError
from apps.serving.models import ModelCall, ModelQuota
from flows.errors import FlowError

logger = logging.getLogger(__name__)


class BudgetExceeded(TrellisError):
    status, code = 429, "budget_exceeded"


class BudgetExhausted(FlowError):
    """The engine-side twin of BudgetExceeded, raised by a model call during a run."""

    code = "budget_exceeded"


class RateLimited(FlowError):
    code = "rate_limited"


def month_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def tokens_used_this_month(organization_id: UUID | str) -> int:
    totals = ModelCall.objects.filter(organization_id=organization_id, at__gte=month_start()).aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens")
    )
    return int(totals["i"] or 0) + int(totals["o"] or 0)


def calls_last_minute(organization_id: UUID | str) -> int:
    return ModelCall.objects.filter(
        organization_id=organization_id, at__gte=timezone.now() - timedelta(minutes=1)
    ).count()


def cost_used_this_month(organization_id: UUID | str) -> Decimal:
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = ModelCall.objects.filter(organization_id=organization_id, at__gte=start).aggregate(total=Sum("cost"))
    return total["total"] if total["total"] is not None else Decimal(0)


def cost_budget_message(budget: Decimal, used: Decimal) -> str:
    return (
        f"This organization's model calls cost {used:,.2f} of its {budget:,.2f} budget this month; "
        "model calls are refused until an admin raises the budget or the month ends."
    )


def budget_message(budget: int, used: int) -> str:
    return (
        f"This organization has used {used:,} of its {budget:,} model tokens this month; "
        "model calls are refused until an admin raises the budget or the month ends."
    )


def scoped_budget_message(label: str, *, tokens: int | None, used: int, cost: Decimal | None, spent: Decimal) -> str:
    """A flow's or a widget's budget (ModelBudget) reached: what, how much, and what to do."""
    if cost is not None and spent >= cost:
        what = f"cost {spent:,.2f} of its {cost:,.2f} budget"
    else:
        what = f"used {used:,} of its {tokens or 0:,} model tokens"
    return (
        f"{label}'s model calls {what} this month; its model calls are refused until an admin raises "
        "its budget (Models > Usage) or the month ends."
    )


@dataclass
class Limit:
    """A flow's or a widget's monthly budget (ModelBudget), with what the ledger counted this
    month when the run started. `key` names its unwritten spending in this process."""

    key: str  # "flow:<id>" or "widget:<id>"
    label: str  # "The flow 'Support'", for the message
    tokens: int | None
    cost: Decimal | None
    used: int = 0
    spent: Decimal = field(default_factory=Decimal)

    def problem(self, used_more: int, spent_more: Decimal) -> str | None:
        used, spent = self.used + used_more, self.spent + spent_more
        if (self.tokens is not None and used >= self.tokens) or (self.cost is not None and spent >= self.cost):
            return scoped_budget_message(self.label, tokens=self.tokens, used=used, cost=self.cost, spent=spent)
        return None


def _limit(key: str, label: str, read: dict[str, Any]) -> Limit:
    return Limit(
        key=key,
        label=label,
        tokens=int(read["tokens"]) if read.get("tokens") is not None else None,
        cost=Decimal(str(read["cost"])) if read.get("cost") is not None else None,
        used=int(read.get("used") or 0),
        spent=Decimal(str(read.get("spent") or 0)),
    )


def budget_limits(
    flow_budget: dict[str, Any] | None,
    widget_budget: dict[str, Any] | None,
    *,
    flow: UUID,
    flow_name: str,
    widget: UUID | None,
) -> list[Limit]:
    """The run's scoped budgets, from the run start's read ({tokens, cost, used, spent} each)."""
    limits = []
    if flow_budget is not None:
        limits.append(_limit(f"flow:{flow}", f"The flow {flow_name!r}", flow_budget))
    if widget_budget is not None and widget is not None:
        limits.append(_limit(f"widget:{widget}", "This assistant", widget_budget))
    return limits


def _scope_keys(organization_id: object, flow_id: object, widget_id: object) -> list[str]:
    keys = [str(organization_id)]
    if flow_id is not None:
        keys.append(f"flow:{flow_id}")
    if widget_id is not None:
        keys.append(f"widget:{widget_id}")
    return keys


_lock = threading.Lock()
# Keyed by organization id, "flow:<id>" and "widget:<id>" (_scope_keys).
_spent_since_load: dict[str, int] = defaultdict(int)  # -> tokens counted here, not yet in a row
_cost_since_load: dict[str, Decimal] = defaultdict(Decimal)  # -> cost counted here, not yet in a row
_calls: dict[str, deque[float]] = defaultdict(deque)  # org -> call start times within the last minute
_pending: set[asyncio.Task[None]] = set()


@dataclass
class Meter:
    """Who is calling (for the ledger) and what they may still spend."""

    organization_id: str
    run_id: UUID | None = None
    flow_id: UUID | None = None
    user_id: int | None = None
    budget: int | None = None
    used: int = 0
    requests_per_minute: int | None = None
    recent_calls: int = 0  # the organization's calls in the ledger within the minute before loading
    spent_here: int = field(default=0)
    calls_here: int = field(default=0)
    cost_budget: Decimal | None = None  # in the prices' currency, per month
    cost_used: Decimal = field(default_factory=Decimal)
    cost_here: Decimal = field(default_factory=Decimal)
    widget_id: UUID | None = None
    version_id: UUID | None = None  # the flow version run (the semantic cache's scope); None: the draft
    limits: list[Limit] = field(default_factory=list)  # the flow's and the widget's budgets

    @classmethod
    def load(
        cls,
        organization_id: UUID | str,
        *,
        run_id: UUID | None = None,
        flow_id: UUID | None = None,
        user_id: int | None = None,
        refuse_over_budget: bool = True,
    ) -> Meter:
        """Reads the quota (database thread). Over budget already: BudgetExceeded, nothing starts."""
        quota = ModelQuota.objects.filter(organization_id=organization_id).first()
        budget = quota.monthly_token_budget if quota else None
        cost_budget = quota.monthly_cost_budget if quota else None
        return cls.of_quota(
            organization_id,
            budget=budget,
            requests_per_minute=quota.requests_per_minute if quota else None,
            used=tokens_used_this_month(organization_id) if budget is not None else 0,
            recent_calls=calls_last_minute(organization_id) if quota and quota.requests_per_minute else 0,
            cost_budget=cost_budget,
            cost_used=cost_used_this_month(organization_id) if cost_budget is not None else Decimal(0),
            run_id=run_id,
            flow_id=flow_id,
            user_id=user_id,
            refuse_over_budget=refuse_over_budget,
        )

    @classmethod
    def of_quota(
        cls,
        organization_id: UUID | str,
        *,
        budget: int | None,
        requests_per_minute: int | None,
        used: int,
        recent_calls: int = 0,
        cost_budget: Decimal | None = None,
        cost_used: Decimal = Decimal(0),
        run_id: UUID | None = None,
        flow_id: UUID | None = None,
        user_id: int | None = None,
        refuse_over_budget: bool = True,
        widget_id: UUID | None = None,
        version_id: UUID | None = None,
        limits: list[Limit] | None = None,
    ) -> Meter:
        """A meter from quota figures already read (`load`, or a run start's one query)."""
        meter = cls(
            organization_id=str(organization_id),
            run_id=run_id,
            flow_id=flow_id,
            user_id=user_id,
            budget=budget,
            used=used,
            requests_per_minute=requests_per_minute,
            recent_calls=recent_calls,
            cost_budget=cost_budget,
            cost_used=Decimal(cost_used),
            widget_id=widget_id,
            version_id=version_id,
            limits=list(limits or ()),
        )
        for limit in meter.limits if refuse_over_budget else ():
            if problem := limit.problem(0, Decimal(0)):
                raise BudgetExceeded(problem)
        if refuse_over_budget and budget is not None and used >= budget:
            raise BudgetExceeded(budget_message(budget, used))
        if refuse_over_budget and cost_budget is not None and meter.cost_used >= cost_budget:
            raise BudgetExceeded(cost_budget_message(cost_budget, meter.cost_used))
        return meter

    def admit(self) -> None:
        """Before a call: refuses it over budget or over the rate limit."""
        with _lock:
            if self.budget is not None:
                # This run's own spending, or the process's unwritten spending if larger (other
                # runs of the organization here); rows written since `load` are not re-read.
                used = self.used + max(self.spent_here, _spent_since_load[self.organization_id])
                if used >= self.budget:
                    raise BudgetExhausted(budget_message(self.budget, used))
            if self.cost_budget is not None:
                cost = self.cost_used + max(self.cost_here, _cost_since_load[self.organization_id])
                if cost >= self.cost_budget:
                    raise BudgetExhausted(cost_budget_message(self.cost_budget, cost))
            for limit in self.limits:
                # This run's own spending, or this process's unwritten spending in that scope.
                more = max(self.spent_here, _spent_since_load[limit.key])
                spent_more = max(self.cost_here, _cost_since_load[limit.key])
                if problem := limit.problem(more, spent_more):
                    raise BudgetExhausted(problem)
            if self.requests_per_minute is not None:
                now, window = time.monotonic(), _calls[self.organization_id]
                while window and window[0] < now - 60:
                    window.popleft()
                # This process's calls, or every worker's as the ledger had them at load plus this
                # run's own since, if more: other web workers' calls count too (`serve --workers`).
                if max(len(window), self.recent_calls + self.calls_here) >= self.requests_per_minute:
                    raise RateLimited(
                        f"This organization is limited to {self.requests_per_minute} model calls a minute; "
                        "try again shortly."
                    )
                window.append(now)
                self.calls_here += 1

    def record(self, call: ModelCall) -> None:
        """After a call (on the event loop): count it now, write its row in the background."""
        call.organization_id = self.organization_id  # type: ignore[assignment]
        call.run_id, call.flow_id, call.user_id = self.run_id, self.flow_id, self.user_id
        call.widget_id = self.widget_id
        with _lock:
            for key in _scope_keys(self.organization_id, self.flow_id, self.widget_id):
                _spent_since_load[key] += call.input_tokens + call.output_tokens
                _cost_since_load[key] += call.cost
        self.spent_here += call.input_tokens + call.output_tokens
        self.cost_here += call.cost
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            _write([call])
            return
        _LEDGER.add(call)


class _LedgerWriter:
    """Ledger rows of every run in this process, written together every FLUSH_INTERVAL_S: one
    transaction for hundreds of concurrent calls instead of a database-thread trip each."""

    FLUSH_INTERVAL_S = 0.2
    RETRY_SECONDS = 60.0  # as the run recorder: a database restart's worth of waiting

    def __init__(self) -> None:
        self.queue: list[ModelCall] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, call: ModelCall) -> None:
        self.queue.append(call)
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._drain(), name="model-call-ledger")
            _pending.add(self.task)
            self.task.add_done_callback(_pending.discard)

    async def _drain(self) -> None:
        from apps.config.db import database_error, in_db_thread

        failing_since: float | None = None  # a database that is down or busy: the batch waits
        delay = self.FLUSH_INTERVAL_S
        while self.queue:
            await asyncio.sleep(delay)
            batch, self.queue = self.queue, []
            try:
                await in_db_thread(_write)(batch)
            except Exception as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                if database_error(exc) is not None and now - failing_since < self.RETRY_SECONDS:
                    self.queue = batch + self.queue  # nothing of it committed (one transaction): again
                    delay = min(delay * 2, 5.0)
                    if delay >= 5.0:
                        logger.warning("model-call ledger: the database is unavailable; %d calls wait", len(self.queue))
                    continue
                logger.exception("could not record %d model calls", len(batch))
            failing_since, delay = None, self.FLUSH_INTERVAL_S


_LEDGER = _LedgerWriter()


def ledger_call(
    *,
    alias: str,
    served_by: str,
    status: str,
    input_tokens: int,
    output_tokens: int,
    cost: Decimal,
    ttft_ms: float | None,
    latency_ms: float,
    attempts: list[dict[str, Any]],
    error: str = "",
) -> ModelCall:
    return ModelCall(
        alias=alias,
        served_by=served_by,
        status=status,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost.quantize(Decimal("0.000001")),
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        attempts=attempts,
        error=error[:1000],
        at=timezone.now(),
    )


def _write(calls: list[ModelCall]) -> None:
    try:
        with transaction.atomic():
            ModelCall.objects.bulk_create(calls)
    except IntegrityError:  # a run or organization deleted meanwhile: keep the others' rows
        for call in calls:
            try:
                with transaction.atomic():
                    call.save()
            except IntegrityError:
                logger.warning("model call of %s not recorded: its run or organization is gone", call.alias)
    with _lock:  # the rows now carry these tokens; stop counting them twice for later meters
        for call in calls:
            for key in _scope_keys(call.organization_id, call.flow_id, call.widget_id):
                _spent_since_load[key] = max(0, _spent_since_load[key] - call.input_tokens - call.output_tokens)
                _cost_since_load[key] = max(Decimal(0), _cost_since_load[key] - call.cost)
                if not _spent_since_load[key] and not _cost_since_load[key] and ":" in key:
                    del _spent_since_load[key], _cost_since_load[key]  # flows and widgets come and go


async def flush() -> None:
    """Waits for the ledger rows written in the background (tests, shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
