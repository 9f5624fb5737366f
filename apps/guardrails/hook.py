"""The guardrails' part of a run start: `GuardrailsHook`, a RunHook in apps.runs.start.HOOKS.

Once per run, before any row is written, the policy that applies (the widget's, else the
organization's) checks the run's text inputs, its hits are recorded, a block refuses the run, and
with `redact_before_storing` the inputs that continue (to the model, and to every table: the run,
its events, spans and the chat messages) are the redacted ones. When the policy checks injection,
the run's retrievers are wrapped (flows.guards.retrievers: a retrieved chunk that addresses the
model is dropped or flagged, its hit names the chunk) and every tool result is checked the same way
(withheld or flagged, its hit names the tool: `tool:<name>`); when it checks outputs, the run's models are
(flows.guards.answers: every answer checked before it is streamed or stored). With `reversible`,
the socket that started the run gets a `reveal`: the placeholders mapped back to the values in
what that caller is shown, never in what is stored. This app sits below apps.runs, so the hook
sees the run start through the `Starting` protocol rather than its class.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.config.db import in_db_thread
from apps.guardrails.errors import GuardBlocked
from apps.guardrails.models import Policy
from apps.guardrails.moderation import local_classify, moderator_for
from apps.guardrails.selectors import policy_for_run
from apps.guardrails.services import hits_record
from flows.guards import GuardPolicy, Hit, guard_text
from flows.guards.answers import GuardedChatModels
from flows.guards.policy import Models
from flows.guards.redact import StreamRestorer, restore_value
from flows.guards.retrievers import GuardedRetrievers, GuardedToolResults
from flows.ports import ChatModels, Ports
from flows.tools import TOOL_RESULT_CHECK

_recording: set[asyncio.Task[Any]] = set()  # hits written in the background, kept until done

WireTransform = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class GuardedInputs:
    inputs: dict[str, Any]
    hits: list[Hit] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)  # memory only; non-empty only when reversible
    ports: Ports | None = None  # the run's ports: retrievers and models guarded where the policy says
    reversible: bool = False  # the caller may be shown `mapping` (which the answers' checks extend)


def _recorder(row: Policy, run_id: uuid.UUID | None, stage: str) -> Callable[[list[Hit]], None]:
    def record(hits: list[Hit]) -> None:  # in the run's task, on the event loop
        write = in_db_thread(hits_record)
        task = asyncio.ensure_future(
            write(organization_id=row.organization_id, policy=row, run_id=run_id, hits=hits, stage=stage)
        )
        _recording.add(task)
        task.add_done_callback(_recording.discard)

    return record


def _answer_check(
    policy: GuardPolicy, mapping: dict[str, str], models: Models
) -> Callable[[str], tuple[str, list[Hit]]]:
    def check(text: str) -> tuple[str, list[Hit]]:
        verdict = guard_text(policy, text, stage="output", mapping=mapping, models=models)
        mapping.update(verdict.mapping)  # the answer's own placeholders reveal to the caller too
        hits = [dataclasses.replace(hit, source="answer") for hit in verdict.hits]
        if verdict.blocked:
            return verdict.message, hits
        return verdict.text, hits  # "route" has no branch at the policy level: the hit is recorded

    return check


def _models(policy: GuardPolicy, chat_models: ChatModels | None) -> Models:
    return Models(
        classify=local_classify if policy.injection.enabled and policy.injection.classifier else None,
        moderate=moderator_for(chat_models) if policy.moderation.enabled else None,
    )


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
    models = _models(policy, ports.models if ports is not None else None)
    guarded: dict[str, Any] = {}
    hits: list[Hit] = []
    mapping: dict[str, str] = {}
    blocked = ""
    for name, value in inputs.items():
        if not isinstance(value, str) or not value:
            guarded[name] = value
            continue
        verdict = guard_text(policy, value, stage="input", source="user", mapping=mapping, models=models)
        hits.extend(verdict.hits)
        mapping = verdict.mapping
        guarded[name] = verdict.text
        if verdict.blocked:
            blocked = verdict.message
    hits_record(organization_id=organization_id, policy=row, run_id=run_id, hits=hits)
    if blocked:
        raise GuardBlocked(blocked)
    if ports is not None and policy.injection.enabled:
        retrievers = GuardedRetrievers(
            ports.retrievers, policy, _recorder(row, run_id, "context"), classify=models.classify
        )
        # Every tool result too (indirect injection through tools), checked where the result is
        # handed on, so the tools later hooks add (integrations' MCP and OpenAPI tools) are covered.
        tools = GuardedToolResults(policy, _recorder(row, run_id, "context"), classify=models.classify)
        ports = dataclasses.replace(ports, retrievers=retrievers, settings={**ports.settings, TOOL_RESULT_CHECK: tools})
    if ports is not None and policy.output.enabled:
        answers = GuardedChatModels(
            ports.models, _answer_check(policy, mapping, models), _recorder(row, run_id, "output")
        )
        ports = dataclasses.replace(ports, models=answers)
    reversible = policy.reversible and not policy.dry_run
    return GuardedInputs(guarded, hits, mapping if reversible else {}, ports, reversible)


def revealing(mapping: dict[str, str]) -> Callable[[], WireTransform]:
    """Per follower: the placeholders in a run's events mapped back to `mapping`'s values (tokens
    as a stream: a placeholder split across tokens is held until it is whole)."""

    def factory() -> WireTransform:
        stream = StreamRestorer(mapping)

        def transform(wire: dict[str, Any]) -> dict[str, Any]:
            data = wire.get("data")
            if not isinstance(data, dict) or not mapping:
                return wire
            if wire.get("type") == "token":
                return {**wire, "data": {**data, "text": stream.feed(str(data.get("text", "")))}}
            return {**wire, "data": restore_value(data, mapping)}

        return transform

    return factory


class RunLike(Protocol):
    pk: Any
    organization_id: Any
    inputs: dict[str, Any]


class Starting(Protocol):
    """What the hook needs of apps.runs.start.RunStarting (this app sits below runs)."""

    ports: Ports

    @property
    def run(self) -> RunLike: ...

    @property
    def principal(self) -> object: ...

    def inputs_replace(self, inputs: dict[str, Any]) -> None: ...

    def reveal_set(self, reveal: Callable[[], WireTransform]) -> None: ...


class GuardrailsHook:
    """The run start's guardrails (apps.runs.start.HOOKS). A widget visitor's `widget` picks the
    widget's policy; members and API keys have none, so their organization's applies."""

    def __call__(self, starting: Starting) -> None:
        run = starting.run
        widget = getattr(starting.principal, "widget", None)
        # The model-based checks for the flow's own guard nodes, whatever the policy (loaded lazily).
        models = starting.ports.models
        starting.ports = dataclasses.replace(
            starting.ports, guard_classify=local_classify, guard_moderate=moderator_for(models)
        )
        guarded = guard_run_inputs(
            organization_id=run.organization_id,
            widget_id=getattr(widget, "pk", None),
            run_id=run.pk,
            inputs=run.inputs,
            ports=starting.ports,
        )
        starting.inputs_replace(guarded.inputs)
        if guarded.ports is not None:
            starting.ports = guarded.ports
        if guarded.reversible:
            starting.reveal_set(revealing(guarded.mapping))


def guard_run_start(*, run: RunLike, principal: object, ports: Ports | None = None) -> GuardedInputs:
    """The hook's check as a call (tests, and callers outside a run start)."""
    widget = getattr(principal, "widget", None)
    return guard_run_inputs(
        organization_id=run.organization_id,
        widget_id=getattr(widget, "pk", None),
        run_id=run.pk,
        inputs=run.inputs,
        ports=ports,
    )
