"""Eval-gated publish: a flow's gate (dataset + evaluators + thresholds + no significant
regression against the published version), its verdict, and the check publishing runs
(registered into apps.builder's publish checks by this app's AppConfig.ready)."""

from __future__ import annotations

from typing import Any

from apps.builder.models import Flow
from apps.config.errors import Conflict, Forbidden, InvalidInput
from apps.evaluation.models import Evaluation, FlowGate
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role, role_at_least
from apps.tenancy.services import audit_record


class GateRefused(Conflict):
    """Publishing refused by the flow's evaluation gate; `report` says why."""

    code = "gate_failed"

    def __init__(self, message: str, *, code: str, report: dict[str, Any]) -> None:
        super().__init__(message, code=code)
        self.report = report

    def details(self) -> dict[str, Any]:
        return {"report": self.report}


def gate_verdict(evaluation: Evaluation, summary: dict[str, Any]) -> dict[str, Any]:
    """Thresholds on evaluator means, and (with no_regression) no evaluator significantly worse
    than the baseline (the published version)."""
    gate = FlowGate.objects.filter(flow_id=evaluation.flow_id).first()
    thresholds = gate.thresholds if gate is not None else {}
    checks = []
    for name, minimum in thresholds.items():
        mean = (summary["evaluators"].get(name) or {}).get("mean")
        checks.append(
            {"evaluator": name, "threshold": minimum, "mean": mean, "passed": mean is not None and mean >= minimum}
        )
    regressions = []
    if gate is not None and gate.no_regression:
        for name, comparison in summary.get("comparison", {}).items():
            if comparison.get("significant") and comparison.get("direction") == "worse":
                regressions.append({"evaluator": name, **comparison})
    failed_samples = evaluation.failed
    passed = all(check["passed"] for check in checks) and not regressions
    return {
        "passed": passed,
        "checks": checks,
        "regressions": regressions,
        "baseline": str(evaluation.baseline_id) if evaluation.baseline_id else None,
        "failed_samples": failed_samples,
    }


def _report(evaluation: Evaluation) -> dict[str, Any]:
    return {"evaluation": str(evaluation.pk), "status": evaluation.status, **(evaluation.summary.get("gate") or {})}


def publish_check(*, access: OrgAccess, flow: Flow, override_reason: str = "") -> None:
    """Runs inside the publish transaction: refuse (GateRefused) unless the draft at its current
    revision passed its gate, or an admin overrides with a reason (audited)."""
    gate = FlowGate.objects.filter(flow=flow, organization=access.organization, enabled=True).first()
    if gate is None:
        return
    latest = (
        Evaluation.objects.filter(
            organization=access.organization, flow=flow, gate=True, version__isnull=True, draft_revision=flow.revision
        )
        .order_by("-created_at")
        .first()
    )
    refusal: GateRefused | None = None
    if latest is None:
        refusal = GateRefused(
            "This flow's evaluation gate has not run on the current draft. Run the gate, then publish.",
            code="gate_not_run",
            report={"evaluation": None, "status": None, "passed": False},
        )
    elif latest.status in (Evaluation.Status.QUEUED, Evaluation.Status.RUNNING):
        refusal = GateRefused(
            f"The evaluation gate is still running ({latest.done} of {latest.total} samples).",
            code="gate_pending",
            report=_report(latest),
        )
    elif latest.status != Evaluation.Status.COMPLETED or not (latest.summary.get("gate") or {}).get("passed"):
        refusal = GateRefused(
            "The draft did not pass this flow's evaluation gate: see the report.",
            code="gate_failed",
            report=_report(latest),
        )
    if refusal is None:
        return
    if not override_reason:
        raise refusal
    if not role_at_least(access.role, Role.ADMIN):
        raise Forbidden("Only an admin can publish past a failed evaluation gate.", code="gate_override_forbidden")
    if len(override_reason.strip()) < 5:
        raise InvalidInput("Say why the gate is overridden (at least a few words).", code="override_reason_required")
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="flow.publish.gate_override",
        target=flow,
        data={"reason": override_reason.strip()[:1000], "refusal": refusal.code, "report": refusal.report},
    )
