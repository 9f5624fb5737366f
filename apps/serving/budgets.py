"""Budgets per flow and per widget (ModelBudget): reads and writes.

The organization's own budget is ModelQuota (apps.serving.deployments). A flow's or a widget's
budget limits its model calls this month in tokens, in money or both; the run start reads them
with everything else (apps.runs.selectors.run_start_snapshot) and the gateway's meter enforces
them (apps.serving.accounting.Limit): a run of a flow or widget over its budget is refused
before anything is written (429 `budget_exceeded`), and a model call that would start over it
fails the run with the same code.

Flows and widgets live in apps above serving (the layers contract), so they are reached through
ModelBudget's own foreign keys (`related_model`), never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, Sum

from apps.config.errors import InvalidInput, NotFound
from apps.serving.accounting import month_start
from apps.serving.models import ModelBudget, ModelCall
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import audit_record


@dataclass(frozen=True)
class BudgetView:
    """A budget with its target's name and what its scope used this month (UTC)."""

    id: int
    flow: UUID | None
    widget: UUID | None
    name: str
    monthly_token_budget: int | None
    monthly_cost_budget: Decimal | None
    used_this_month: int
    spent_this_month: Decimal


def _spending(organization: Organization, column: str, ids: list[UUID]) -> dict[UUID, tuple[int, Decimal]]:
    if not ids:
        return {}
    rows = (
        ModelCall.objects.filter(organization=organization, at__gte=month_start(), **{f"{column}__in": ids})
        .values(column)
        .annotate(tokens=Sum(F("input_tokens") + F("output_tokens")), cost=Sum("cost"))
    )
    return {row[column]: (int(row["tokens"] or 0), row["cost"] or Decimal(0)) for row in rows}


def budget_list(*, organization: Organization) -> list[BudgetView]:
    budgets = list(
        ModelBudget.objects.filter(organization=organization).select_related("flow", "widget").order_by("id")
    )
    flows = _spending(organization, "flow_id", [b.flow_id for b in budgets if b.flow_id])
    widgets = _spending(organization, "widget_id", [b.widget_id for b in budgets if b.widget_id])
    views = []
    for budget in budgets:
        if budget.flow_id:
            used, spent = flows.get(budget.flow_id, (0, Decimal(0)))
            name = budget.flow.name if budget.flow else ""
        else:
            used, spent = widgets.get(budget.widget_id, (0, Decimal(0))) if budget.widget_id else (0, Decimal(0))
            name = budget.widget.name if budget.widget else ""
        views.append(
            BudgetView(
                id=budget.pk,
                flow=budget.flow_id,
                widget=budget.widget_id,
                name=name,
                monthly_token_budget=budget.monthly_token_budget,
                monthly_cost_budget=budget.monthly_cost_budget,
                used_this_month=used,
                spent_this_month=spent,
            )
        )
    return views


def _target_exists(organization: Organization, field: str, target: UUID) -> bool:
    """The flow or widget `target` exists in `organization` (another tenant's is not found)."""
    model: Any = ModelBudget._meta.get_field(field).related_model
    return bool(model._default_manager.filter(pk=target, organization=organization).exists())


@transaction.atomic
def budget_set(
    *,
    access: OrgAccess,
    flow: UUID | None = None,
    widget: UUID | None = None,
    monthly_token_budget: int | None = None,
    monthly_cost_budget: Decimal | None = None,
) -> BudgetView:
    """Sets (creates or replaces) the budget of one flow or one widget of the organization."""
    access.require(Role.ADMIN)
    if flow is None and widget is None:
        raise InvalidInput("Give the flow or the widget this budget is for.", code="invalid_budget_target")
    if flow is not None and widget is not None:
        raise InvalidInput("Give either a flow or a widget, not both.", code="invalid_budget_target")
    if monthly_token_budget is None and monthly_cost_budget is None:
        raise InvalidInput(
            "Give a token budget, a cost budget or both (to remove a budget, delete it).", code="no_budget_limit"
        )
    field, target = ("flow", flow) if flow is not None else ("widget", widget)
    if target is None:  # not reached: one of the two is given
        raise InvalidInput("Give either a flow or a widget.", code="invalid_budget_target")
    if not _target_exists(access.organization, field, target):
        raise NotFound(f"That {field} is not in this organization.", code=f"{field}_not_found")
    budget, _ = ModelBudget.objects.select_for_update().get_or_create(
        organization=access.organization,
        **{f"{field}_id": target},
        defaults={"monthly_token_budget": monthly_token_budget, "monthly_cost_budget": monthly_cost_budget},
    )
    budget.monthly_token_budget, budget.monthly_cost_budget = monthly_token_budget, monthly_cost_budget
    budget.save()
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_budget.set",
        target=budget,
        data={
            field: str(target),
            "monthly_token_budget": monthly_token_budget,
            "monthly_cost_budget": str(monthly_cost_budget) if monthly_cost_budget is not None else None,
        },
    )
    return next(view for view in budget_list(organization=access.organization) if view.id == budget.pk)


@transaction.atomic
def budget_delete(*, access: OrgAccess, budget_id: object) -> None:
    access.require(Role.ADMIN)
    try:
        budget = ModelBudget.objects.get(organization=access.organization, pk=int(str(budget_id)))
    except (ValueError, ModelBudget.DoesNotExist):
        raise NotFound("Budget not found.", code="budget_not_found") from None
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_budget.delete",
        target=budget,
        data={"flow": str(budget.flow_id or ""), "widget": str(budget.widget_id or "")},
    )
    budget.delete()
