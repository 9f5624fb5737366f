"""Queue tasks of the serving app (huey, discovered by djhuey in every installed app)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from apps.serving.model_copy import stored_model_copy


@db_task()  # type: ignore[untyped-decorator]
def stored_model_copy_task(stored_id: int) -> str:
    """A model import's copy (apps.serving.model_copy.stored_model_copy): its status at the end."""
    return str(stored_model_copy(stored_id).status)
