"""Email addresses: verified before they identify an account.

An account claims an address; a link with a one-time token goes to it (Django's mail backend:
SMTP when EMAIL_HOST is set, otherwise the server log); following the link proves the owner reads
that mailbox and marks the address verified. Only verified addresses are matched when an
invitation is accepted, and at most one account holds an address verified. Answers never say
whether an address belongs to some account. In the embedded local mode without a mail server the
link is also handed back to the UI (there is no mailbox to send it to).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.config.errors import Conflict, NotFound
from apps.tenancy.models import EmailAddress

logger = logging.getLogger(__name__)

VERIFICATION_LIFETIME = timedelta(days=2)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def links_shown_in_ui() -> bool:
    """The embedded local mode with no mail server: the link goes to the log and the UI."""
    return bool(settings.EMBEDDED_LOCAL and not settings.EMAIL_HOST)


def deliver(*, to: str, subject: str, text: str, link: str) -> None:
    """Mail `text` to `to` (the server log when no mail server is configured)."""
    logger.info("%s for %s: %s", subject, to, link)
    send_mail(subject, text, None, [to], fail_silently=True)


def verified_email(user: User) -> str | None:
    row = EmailAddress.objects.filter(user=user, verified_at__isnull=False).order_by("-verified_at").first()
    return row.email if row is not None else None


def user_by_verified_email(email: str) -> User | None:
    row = EmailAddress.objects.select_related("user").filter(email=normalize_email(email), verified_at__isnull=False)
    found = row.first()
    return found.user if found is not None else None


@transaction.atomic
def email_verification_start(*, user: User, email: str, link_for: object) -> str:
    """Sends a verification link for `email` to that address; returns the link. The answer is the
    same whether or not another account holds the address."""
    address = normalize_email(email)
    token = secrets.token_urlsafe(32)
    EmailAddress.objects.filter(user=user, verified_at__isnull=True).delete()  # one pending at a time
    EmailAddress.objects.create(
        user=user, email=address, token_hash=_digest(token), expires_at=timezone.now() + VERIFICATION_LIFETIME
    )
    link = str(link_for(token))  # type: ignore[operator]
    deliver(
        to=address,
        subject="Verify your email address for Trellis",
        text=f"Open this link to verify {address} for the Trellis account {user.get_username()}:\n\n{link}\n",
        link=link,
    )
    return link


@transaction.atomic
def email_verify(*, token: str) -> User:
    """Marks the address of `token` verified for its account (and the account's email)."""
    row = (
        EmailAddress.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=_digest(token), verified_at__isnull=True)
        .first()
    )
    if row is None or (row.expires_at is not None and row.expires_at < timezone.now()):
        raise NotFound("This verification link is unknown, used or expired.", code="verification_invalid")
    row.verified_at = timezone.now()
    row.token_hash = ""
    try:
        with transaction.atomic():
            row.save(update_fields=["verified_at", "token_hash"])
    except IntegrityError:
        raise Conflict("This address cannot be verified for this account.", code="email_unavailable") from None
    EmailAddress.objects.filter(user=row.user).exclude(pk=row.pk).delete()
    row.user.email = row.email
    row.user.save(update_fields=["email"])
    return row.user
