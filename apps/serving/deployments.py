"""Managed deployments, the model store, quotas and the call ledger: reads and writes.

Tenancy: a deployment, a stored model and the ledger belong to one organization; reads take the
organization and filter by it. The one exception is the instance's embedded deployment
(`organization` NULL, the `local` model), which every organization sees and none may change.
Model folders must lie under TRELLIS_MODEL_DIRS (default: the data folder's models/), so a
tenant cannot point vLLM at another tenant's files or anywhere else on the host.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from apps.config.errors import Conflict, Forbidden, InvalidInput, NotFound
from apps.serving.engine import engine_args_problem
from apps.serving.models import (
    DeploymentStatus,
    DesiredState,
    ModelCall,
    ModelDeployment,
    ModelKind,
    ModelQuota,
    StoredModel,
)
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import audit_record

INSTANCE_LOCAL = "local"
PORT_RANGE = (1024, 65535)
ACTIONS = ("start", "stop", "restart")
LOG_CHUNK = 64 * 1024

# --- reads ------------------------------------------------------------------------------------


def deployment_list(*, organization: Organization) -> QuerySet[ModelDeployment]:
    return (
        ModelDeployment.objects.filter(Q(organization=organization) | Q(organization__isnull=True))
        .select_related("stored_model")
        .order_by("organization_id", "name")
    )


def deployment_get(*, organization: Organization, deployment_id: object) -> ModelDeployment:
    try:
        return deployment_list(organization=organization).get(pk=int(str(deployment_id)))
    except (ValueError, ModelDeployment.DoesNotExist):
        raise NotFound("Deployment not found.") from None


def deployment_log(*, deployment: ModelDeployment, offset: int) -> tuple[str, int]:
    """(text from `offset`, the next offset); the file on this host, else the stored tail."""
    from apps.serving.supervisor import log_path

    path = log_path(deployment.pk)
    if not path.is_file():
        return deployment.log_tail, len(deployment.log_tail.encode())
    size = path.stat().st_size
    if offset > size:
        offset = 0  # the log was rotated or replaced
    start = max(offset, size - LOG_CHUNK) if offset == 0 else offset
    with path.open("rb") as log:
        log.seek(start)
        data = log.read(LOG_CHUNK)
    return data.decode("utf-8", "replace"), start + len(data)


def stored_model_list(*, organization: Organization) -> QuerySet[StoredModel]:
    return StoredModel.objects.filter(Q(organization=organization) | Q(organization__isnull=True)).order_by("name")


def model_call_list(*, organization: Organization, run_id: str | None = None, limit: int = 200) -> QuerySet[ModelCall]:
    queryset = ModelCall.objects.filter(organization=organization)
    if run_id:
        try:
            queryset = queryset.filter(run_id=UUID(run_id))
        except ValueError:
            return queryset.none()
    return queryset.order_by("-at")[:limit]


def model_stats(*, organization: Organization, hours: int) -> list[dict[str, Any]]:
    """Per alias and minute: requests, tokens, tokens/s, time to first token, cost."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        ModelCall.objects.filter(organization=organization, at__gte=since)
        .annotate(minute=TruncMinute("at"))
        .values("alias", "minute")
        .annotate(
            requests=Count("id"),
            failures=Count("id", filter=~Q(status=ModelCall.Status.OK)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            busy_ms=Sum("latency_ms"),
        )
        .order_by("alias", "minute")
    )
    ttfts: dict[tuple[str, Any], list[float]] = {}
    for alias, minute, ttft in (
        ModelCall.objects.filter(organization=organization, at__gte=since, ttft_ms__isnull=False)
        .annotate(minute=TruncMinute("at"))
        .values_list("alias", "minute", "ttft_ms")
    ):
        if ttft is not None:
            ttfts.setdefault((alias, minute), []).append(float(ttft))
    out = []
    for row in rows:
        samples = sorted(ttfts.get((row["alias"], row["minute"]), []))
        busy_s = (row["busy_ms"] or 0) / 1000
        out.append(
            {
                "alias": row["alias"],
                "minute": row["minute"],
                "requests": row["requests"],
                "failures": row["failures"],
                "input_tokens": row["input_tokens"] or 0,
                "output_tokens": row["output_tokens"] or 0,
                "tokens_per_s": round((row["output_tokens"] or 0) / busy_s, 2) if busy_s else 0.0,
                "ttft_p50_ms": samples[len(samples) // 2] if samples else None,
                "cost": row["cost"] or 0,
            }
        )
    return out


def quota_get(*, organization: Organization) -> ModelQuota:
    return ModelQuota.objects.filter(organization=organization).first() or ModelQuota(organization=organization)


# --- checks -----------------------------------------------------------------------------------


def allowed_model_roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.MODEL_DIRS]


def model_dir_outside_roots(path: str) -> str | None:
    resolved = Path(path).resolve()
    if any(resolved == root or root in resolved.parents for root in allowed_model_roots()):
        return None
    roots = ", ".join(str(root) for root in allowed_model_roots())
    return f"Model folders must be under {roots} (TRELLIS_MODEL_DIRS)."


def _check(deployment: ModelDeployment) -> None:
    if problem := engine_args_problem(deployment.engine_args):
        raise InvalidInput(f"engine_args: {problem}", code="invalid_engine_args")
    if not deployment.stored_model_id:
        if not deployment.model_dir:
            raise InvalidInput("Give a model directory or a stored model.", code="no_model")
        if problem := model_dir_outside_roots(deployment.model_dir):
            raise InvalidInput(f"model_dir: {problem}", code="model_dir_not_allowed")
    if not PORT_RANGE[0] <= deployment.port <= PORT_RANGE[1]:
        raise InvalidInput(f"port: must be between {PORT_RANGE[0]} and {PORT_RANGE[1]}.")
    if deployment.kind not in ModelKind.values:
        raise InvalidInput(f"kind: choose one of {', '.join(ModelKind.values)}.")


def _save(deployment: ModelDeployment) -> None:
    _check(deployment)
    try:
        with transaction.atomic():
            deployment.save()
    except IntegrityError:
        raise Conflict(f"A deployment named {deployment.name!r} exists already.", code="name_taken") from None


def _owned(access: OrgAccess, deployment_id: object) -> ModelDeployment:
    deployment = deployment_get(organization=access.organization, deployment_id=deployment_id)
    if deployment.organization_id is None:
        raise Forbidden("The embedded model is managed by the instance (TRELLIS_LOCAL_MODEL_*).", code="instance_owned")
    return ModelDeployment.objects.select_for_update().get(pk=deployment.pk)


FREE_PORT_START = 8100


def free_deployment_port() -> int:
    """The first port from FREE_PORT_START that no deployment of this instance uses and nothing
    on this host listens on (checked by binding it)."""
    taken = set(ModelDeployment.objects.values_list("port", flat=True))
    for port in range(FREE_PORT_START, PORT_RANGE[1]):
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise Conflict("No free port is left for a deployment.", code="no_free_port")


# --- writes -----------------------------------------------------------------------------------

UPDATABLE = frozenset({"model_dir", "stored_model", "served_name", "engine_args", "port", "kind"})


@transaction.atomic
def deployment_create(
    *,
    access: OrgAccess,
    name: str,
    port: int | None = None,
    served_name: str = "",
    model_dir: str = "",
    stored_model: int | None = None,
    kind: str = ModelKind.CHAT,
    engine_args: Mapping[str, Any] | None = None,
    desired_state: str = DesiredState.RUNNING,
) -> ModelDeployment:
    access.require(Role.ADMIN)
    stored = None
    if stored_model is not None:
        stored = stored_model_list(organization=access.organization).filter(pk=stored_model).first()
        if stored is None:
            raise NotFound("Stored model not found.")
        if stored.status != StoredModel.Status.READY:
            raise InvalidInput(
                f"The stored model {stored.name!r} is {stored.status}; deploy it once its import is ready.",
                code="stored_model_not_ready",
            )
    deployment = ModelDeployment(
        organization=access.organization,
        name=name,
        kind=kind,
        model_dir=model_dir,
        stored_model=stored,
        served_name=served_name or name,
        engine_args=dict(engine_args or {}),
        desired_state=desired_state,
        status=DeploymentStatus.STOPPED,
        port=port if port is not None else free_deployment_port(),
    )
    _save(deployment)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_deployment.create",
        target=deployment,
        data={"name": name, "port": port, "engine_args": deployment.engine_args},
    )
    return deployment


@transaction.atomic
def deployment_update(*, access: OrgAccess, deployment_id: object, changes: Mapping[str, Any]) -> ModelDeployment:
    access.require(Role.ADMIN)
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise InvalidInput(f"These fields cannot be changed: {', '.join(unknown)}.")
    deployment = _owned(access, deployment_id)
    for name, value in changes.items():
        new = value
        if name == "stored_model":
            new = stored_model_list(organization=access.organization).filter(pk=value).first() if value else None
        setattr(deployment, name, new)
    _save(deployment)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_deployment.update",
        target=deployment,
        data={"changes": sorted(changes)},
    )
    return deployment


@transaction.atomic
def deployment_act(*, access: OrgAccess, deployment_id: object, action: str) -> ModelDeployment:
    """start / stop / restart: the supervisor carries it out within a tick."""
    access.require(Role.ADMIN)
    if action not in ACTIONS:
        raise InvalidInput(f"action: choose one of {', '.join(ACTIONS)}.")
    deployment = _owned(access, deployment_id)
    fields = ["desired_state", "restart_requested_at", "updated_at"]
    deployment.desired_state = DesiredState.STOPPED if action == "stop" else DesiredState.RUNNING
    if action in ("start", "restart"):
        deployment.restart_requested_at = timezone.now()  # also retries one that failed to start
    deployment.save(update_fields=fields)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action=f"model_deployment.{action}",
        target=deployment,
        data={"name": deployment.name},
    )
    return deployment


@transaction.atomic
def deployment_delete(*, access: OrgAccess, deployment_id: object) -> None:
    access.require(Role.ADMIN)
    deployment = _owned(access, deployment_id)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_deployment.delete",
        target=deployment,
        data={"name": deployment.name},
    )
    deployment.delete()  # the supervisor stops a process whose row is gone


@transaction.atomic
def quota_set(
    *,
    access: OrgAccess,
    monthly_token_budget: int | None,
    requests_per_minute: int | None,
    monthly_cost_budget: Decimal | None = None,
) -> ModelQuota:
    access.require(Role.ADMIN)
    quota, _ = ModelQuota.objects.select_for_update().get_or_create(organization=access.organization)
    quota.monthly_token_budget, quota.requests_per_minute = monthly_token_budget, requests_per_minute
    quota.monthly_cost_budget = monthly_cost_budget
    quota.save()
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="model_quota.update",
        target=quota,
        data={
            "monthly_token_budget": monthly_token_budget,
            "requests_per_minute": requests_per_minute,
            "monthly_cost_budget": str(monthly_cost_budget) if monthly_cost_budget is not None else None,
        },
    )
    return quota


def deployment_ensure_instance_local(*, model_dir: Path, port: int, running: bool) -> ModelDeployment:
    """The embedded `local` model as a vLLM deployment of this instance (the run command)."""
    from apps.serving.models import BUILTIN_MODEL

    deployment = ModelDeployment.objects.filter(organization__isnull=True, name=INSTANCE_LOCAL).first()
    desired = DesiredState.RUNNING if running else DesiredState.STOPPED
    fields = {
        "model_dir": str(model_dir),
        "served_name": BUILTIN_MODEL,
        "port": port,
        "host": "127.0.0.1",
        "desired_state": desired,
        "engine_args": {"max_model_len": 2048, "dtype": "float32", "optimization_level": 0, "enforce_eager": True},
    }
    if deployment is None:
        return ModelDeployment.objects.create(organization=None, name=INSTANCE_LOCAL, kind=ModelKind.CHAT, **fields)
    ModelDeployment.objects.filter(pk=deployment.pk).update(**fields, updated_at=timezone.now())
    deployment.refresh_from_db()
    return deployment


# --- the model store --------------------------------------------------------------------------


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def stored_model_import(*, access: OrgAccess, name: str, source: str) -> StoredModel:
    """Starts copying a model folder into the store (`source`: a folder under TRELLIS_MODEL_DIRS,
    or `smollm2-gguf` for the offline SmolLM2 package, converted once): the row comes back at once
    as `importing` and the queue worker copies (`stored_model_copy`), reporting `copied_bytes`
    of `size_bytes` as it goes, then records the checksum and marks it `ready` (or `failed`)."""
    from apps.serving.local_model.prepare import is_prepared

    access.require(Role.ADMIN)
    if stored_model_list(organization=access.organization).filter(name=name).exists():
        raise Conflict(f"A stored model named {name!r} exists already.", code="name_taken")
    size = 0
    if source == "smollm2-gguf":
        folder = Path(settings.LOCAL_MODEL_DIR)
        size = _folder_size(folder) if is_prepared(folder) else 0  # 0: converted first, size unknown yet
    else:
        if problem := model_dir_outside_roots(source):
            raise InvalidInput(f"source: {problem}", code="model_dir_not_allowed")
        folder = Path(source)
        if not is_prepared(folder):
            raise InvalidInput("source: not a safetensors model folder (config.json + model.safetensors).")
        size = _folder_size(folder)
    target = Path(settings.MODEL_STORE_DIR) / str(access.organization.id) / name
    with transaction.atomic():
        stored = StoredModel.objects.create(
            organization=access.organization,
            name=name,
            path=str(target),
            source=source,
            format="safetensors",
            size_bytes=size,
            sha256="",
            status=StoredModel.Status.IMPORTING,
        )
        audit_record(
            organization=access.organization,
            actor=access.actor,
            action="stored_model.import",
            target=stored,
            data={"name": name, "source": source},
        )
        stored_id = stored.pk
        transaction.on_commit(lambda: _enqueue_copy(stored_id))
    return stored


def _enqueue_copy(stored_id: int) -> None:
    from apps.serving.tasks import stored_model_copy_task

    stored_model_copy_task(stored_id)


def stored_model_delete(*, access: OrgAccess, stored_id: object) -> None:
    """Removes a stored model and its folder (not while a deployment uses it: 409)."""
    access.require(Role.ADMIN)
    try:
        stored = stored_model_list(organization=access.organization).get(pk=int(str(stored_id)))
    except (ValueError, StoredModel.DoesNotExist):
        raise NotFound("Stored model not found.") from None
    if ModelDeployment.objects.filter(stored_model=stored).exists():
        raise Conflict("A deployment uses this model; delete the deployment first.", code="stored_model_in_use")
    with transaction.atomic():
        audit_record(
            organization=access.organization,
            actor=access.actor,
            action="stored_model.delete",
            target=stored,
            data={"name": stored.name},
        )
        stored.delete()
    shutil.rmtree(stored.path, ignore_errors=True)
