"""The guardrails' part of a run start (apps.runs.start calls it, once per run, before any row is
written): the policy that applies (the widget's, else the organization's) checks the run's text
inputs, its hits are recorded, a block refuses the run, and with `redact_before_storing` the
inputs that continue (to the model, and to every table: the run, its events, spans and the chat
messages) are the redacted ones. The placeholders' mapping back is returned to the caller only,
in memory (`reversible`), and never stored. When the policy checks injection, the run's
retrievers are wrapped too (flows.guards.retrievers): a retrieved chunk that addresses the model
is dropped (or flagged), and its hit names the chunk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.config.db import in_db_thread
from apps.guardrails.errors import GuardBlocked
from apps.guardrails.models import Policy
from apps.guardrails.selectors import policy_for_run
from apps.guardrails.services import hits_record
from flows.guards import GuardPolicy, Hit, guard_text
from flows.guards.retrievers import GuardedRetrievers
from flows.ports import Ports

_recording: set[asyncio.Task[Any]] = set()  # hits written in the background, kept until done


@dataclass
class GuardedInputs:
    inputs: dict[str, Any]
    hits: list[Hit] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)  # memory only; non-empty only when reversible
    ports: Ports | None = None  # the run's ports, its retrievers guarded when the policy checks injection


def _guarded_ports(ports: Ports, row: Policy, policy: GuardPolicy, run_id: uuid.UUID | None) -> Ports:
    def record(hits: list[Hit]) -> None:  # in the run's task, on the event loop
        write = in_db_thread(hits_record)
        task = asyncio.ensure_future(
            write(organization_id=row.organization_id, policy=row, run_id=run_id, hits=hits, stage="context")
        )
        _recording.add(task)
        task.add_done_callback(_recording.discard)

    return dataclasses.replace(ports, retrievers=GuardedRetrievers(ports.retrievers, policy, record))


def guard_run_inputs(
    *,
    organization_id: uuid.UUID,
    widget_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    inputs: dict[str, Any],
    ports: Ports | None = None,
) -> GuardedInputs:
    found = policy_for_run(organization_id=organization_id, widget_id=widget_id)
    if found is None:
        return GuardedInputs(inputs, ports=ports)
    row, policy = found
    if not policy.redact_before_storing and not policy.dry_run:
        # Without "redact before storing", the policy records and blocks; redaction for the model
        # alone is the flow's own input guard node.
        policy = policy.model_copy(update={"pii": policy.pii.model_copy(update={"action": "flag"})})
    guarded: dict[str, Any] = {}
    hits: list[Hit] = []
    mapping: dict[str, str] = {}
    blocked = ""
    for name, value in inputs.items():
        if not isinstance(value, str) or not value:
            guarded[name] = value
            continue
        verdict = guard_text(policy, value, stage="input", source="user", mapping=mapping)
        hits.extend(verdict.hits)
        mapping = verdict.mapping
        guarded[name] = verdict.text
        if verdict.blocked:
            blocked = verdict.message
    hits_record(organization_id=organization_id, policy=row, run_id=run_id, hits=hits)
    if blocked:
        raise GuardBlocked(blocked)
    if ports is not None and policy.injection.enabled:
        ports = _guarded_ports(ports, row, policy, run_id)
    return GuardedInputs(guarded, hits, mapping if policy.reversible else {}, ports)


class RunLike(Protocol):
    pk: Any
    organization_id: Any
    inputs: dict[str, Any]


def guard_run_start(*, run: RunLike, principal: object, ports: Ports | None = None) -> GuardedInputs:
    """The run start's call (apps.runs.start): the principal's widget, if it has one, picks the
    widget's policy (a widget visitor's `widget`; members and API keys have none)."""
    widget = getattr(principal, "widget", None)
    return guard_run_inputs(
        organization_id=run.organization_id,
        widget_id=getattr(widget, "pk", None),
        run_id=run.pk,
        inputs=run.inputs,
        ports=ports,
    )
