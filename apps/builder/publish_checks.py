"""Checks that publishing runs after validation, registered by higher apps in their
AppConfig.ready (apps.evaluation registers its evaluation gate) so that builder, a lower layer,
never imports them. A check raises a TrellisError to refuse; it runs inside the publish
transaction, so a refusal leaves nothing written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from apps.builder.models import Flow
    from apps.tenancy.access import OrgAccess


class PublishCheck(Protocol):
    def __call__(self, *, access: OrgAccess, flow: Flow, override_reason: str = "") -> None: ...


PUBLISH_CHECKS: list[PublishCheck] = []


def publish_check_register(check: PublishCheck) -> None:
    if check not in PUBLISH_CHECKS:
        PUBLISH_CHECKS.append(check)
