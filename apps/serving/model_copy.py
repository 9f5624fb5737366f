"""A stored model's import copy (the queue worker's part of apps.serving.deployments.stored_model_import):
apart from deployments, which enqueues it through apps.serving.tasks (no import cycle)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from django.conf import settings
from django.db import connection

from apps.serving.models import StoredModel

PROGRESS_EVERY_BYTES = 8 << 20
COPY_LOCK = 0x6D6F_6463  # pg_try_advisory_lock(COPY_LOCK, id): one copier per stored model


def stored_model_copy(stored_id: int) -> StoredModel:
    """The import's work (the queue worker): convert the offline model if needed, copy the folder
    in blocks with `copied_bytes` updated every PROGRESS_EVERY_BYTES, then the checksum. Any
    failure marks the row `failed` with the reason and leaves no half-copied folder.

    One copier at a time per stored model, across processes (a session advisory lock): a second
    run of the same import (a task delivered twice, or a caller beside the worker) returns the row
    as it is instead of deleting the folder the first one is writing, which failed both."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [COPY_LOCK, stored_id])
        if not cursor.fetchone()[0]:  # type: ignore[index]
            return StoredModel.objects.get(pk=stored_id)
        try:
            return _copy(stored_id)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [COPY_LOCK, stored_id])


def _copy(stored_id: int) -> StoredModel:
    from apps.serving.local_model.prepare import ensure_local_model, is_prepared

    stored = StoredModel.objects.get(pk=stored_id)
    if stored.status != StoredModel.Status.IMPORTING:
        return stored
    target = Path(stored.path)
    try:
        folder = (
            ensure_local_model(settings.LOCAL_MODEL_DIR) if stored.source == "smollm2-gguf" else Path(stored.source)
        )
        if not is_prepared(folder):
            raise ValueError(f"{folder} is no longer a safetensors model folder (config.json + model.safetensors)")
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        StoredModel.objects.filter(pk=stored_id).update(size_bytes=total, copied_bytes=0)
        if target.exists():
            shutil.rmtree(target)
        copied = reported = 0
        for file in files:
            destination = target / file.relative_to(folder)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with file.open("rb") as reader, destination.open("wb") as writer:
                for block in iter(lambda: reader.read(1 << 20), b""):
                    writer.write(block)
                    copied += len(block)
                    if copied - reported >= PROGRESS_EVERY_BYTES:
                        StoredModel.objects.filter(pk=stored_id).update(copied_bytes=copied)
                        reported = copied
            shutil.copystat(file, destination)
        sha256, size = folder_checksum(target)
    except (OSError, ValueError, RuntimeError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        reason = f"The import failed: {exc}"[:1000]
        StoredModel.objects.filter(pk=stored_id).update(status=StoredModel.Status.FAILED, status_reason=reason)
        stored.refresh_from_db()
        return stored
    StoredModel.objects.filter(pk=stored_id).update(
        status=StoredModel.Status.READY, sha256=sha256, size_bytes=size, copied_bytes=size, status_reason=""
    )
    stored.refresh_from_db()
    return stored


def folder_checksum(folder: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size
