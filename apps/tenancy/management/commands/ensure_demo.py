"""Create the demo organization and its owner once; print the credentials every time."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.tenancy.access import Actor
from apps.tenancy.models import Membership
from apps.tenancy.services import organization_create

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@trellis.local"
DEMO_ORG = "Demo organization"


class Command(BaseCommand):
    help = "Creates the demo organization and owner account if missing and prints how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = settings.DATA_DIR / "demo_password"
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.filter(username=DEMO_USERNAME).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = user_model.objects.create_user(DEMO_USERNAME, DEMO_EMAIL, password)
                password_file.write_text(password)
                password_file.chmod(0o600)
            if not Membership.objects.filter(user=user).exists():
                organization_create(actor=Actor(user=user, api_key=None), name=DEMO_ORG)
        password = password_file.read_text().strip() if password_file.exists() else "(changed by you)"
        self.stdout.write(f"Demo sign-in: username {DEMO_USERNAME!r}  password {password!r}")
