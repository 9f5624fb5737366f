"""Signal receivers (connected in ServingConfig.ready)."""

from __future__ import annotations

from typing import Any

from apps.serving.services import model_endpoint_ensure_builtin
from apps.tenancy.models import Organization


def give_new_organization_the_builtin_model(
    sender: type[Organization], instance: Organization, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:  # raw: loaddata replays rows as they were, endpoints included
        model_endpoint_ensure_builtin(organization=instance)
