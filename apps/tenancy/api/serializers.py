from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.tenancy.models import ApiKey, ApiKeyScope, AuditEvent, Invitation, Membership, Role

# --- input ------------------------------------------------------------------------------------


class LoginIn(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class OrganizationIn(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1)


class MemberAddIn(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationIn(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class EmailIn(StrictSerializer):
    email = serializers.EmailField()


class EmailTokenIn(StrictSerializer):
    token = serializers.CharField(max_length=200)


class InvitationAcceptIn(StrictSerializer):
    token = serializers.CharField(max_length=200)
    username = serializers.CharField(max_length=150, required=False, default="")
    password = serializers.CharField(max_length=256, required=False, default="", trim_whitespace=False)


class ApiKeyIn(StrictSerializer):
    name = serializers.CharField(max_length=100, min_length=1)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.EDITOR)
    scope = serializers.ChoiceField(
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.FULL,
        help_text="full: what the role allows; read: GET only, no runs; runs: run flows and read runs",
    )
    flows = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        default=list,
        max_length=100,
        help_text="Limit the key to these flows (empty: all)",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


# --- output -----------------------------------------------------------------------------------


class OrganizationOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()

    @staticmethod
    def from_membership(membership: Membership) -> dict[str, Any]:
        org = membership.organization
        return {"id": org.id, "name": org.name, "slug": org.slug, "role": membership.role, "created_at": org.created_at}


class MeOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    email_verified = serializers.BooleanField(help_text="Only a verified address identifies the account")
    organizations = OrganizationOut(many=True)


class EmailStartedOut(serializers.Serializer):  # type: ignore[type-arg]
    email = serializers.CharField()
    verify_url = serializers.CharField(
        allow_null=True,
        help_text="Only in the embedded local mode without a mail server (otherwise the link goes by mail)",
    )


class UserOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()


class MemberOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    user = UserOut()

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]


class InvitationOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at", "accepted_at"]


class InvitationCreatedOut(InvitationOut):
    token = serializers.CharField(help_text="Shown once; only its hash is stored.")
    accept_url = serializers.CharField(help_text="Shown once.")

    class Meta(InvitationOut.Meta):
        fields = [*InvitationOut.Meta.fields, "token", "accept_url"]


class ApiKeyOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "role",
            "scope",
            "flows",
            "expires_at",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]

    def get_created_by(self, key: ApiKey) -> str | None:
        return key.created_by.get_username() if key.created_by is not None else None


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="The full secret. Shown once; only its hash is stored.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


class AuditEventOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "action", "actor", "target_type", "target_id", "data", "ip", "created_at"]

    def get_actor(self, event: AuditEvent) -> str | None:
        if event.actor_api_key is not None:
            return f"API key {event.actor_api_key.name} ({event.actor_api_key.prefix})"
        return event.actor_user.get_username() if event.actor_user is not None else None


class AuditEventPageOut(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = AuditEventOut(many=True)
