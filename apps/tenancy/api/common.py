"""What every thin API view repeats: parse a strict body, check org access, document errors."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from apps.config.serializers import ErrorSerializer
from apps.tenancy.access import OrgAccess, access_org_by_id, actor_from_request
from apps.tenancy.models import Role

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


def parse_body(serializer_class: type[Any], request: Request, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def org_access(request: Request, org_id: object, min_role: str = Role.VIEWER) -> OrgAccess:
    return access_org_by_id(actor=actor_from_request(request), org_id=org_id, min_role=min_role)
