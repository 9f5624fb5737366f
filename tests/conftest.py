"""Shared fixtures: real PostgreSQL (embedded pgvector server), real users and organizations."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

os.environ.setdefault("OMP_NUM_THREADS", "1")

from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Membership, Organization, Role
from apps.tenancy.services import api_key_create, organization_create

PASSWORD = "correct horse battery staple 42"

# The ONNX question embedder is exported once for the suite (into the suite's own data folder), not
# once per server's data folder (~10-20 s of CPU each): every server and worker the tests start
# inherits this.
os.environ.setdefault("TRELLIS_MODEL_EXPORT_DIR", str(settings.MODEL_EXPORT_DIR))


@dataclass
class Member:
    user: User
    organization: Organization
    role: str

    @property
    def access(self) -> OrgAccess:
        return OrgAccess(self.organization, self.role, Actor(user=self.user, api_key=None))

    def client(self) -> APIClient:
        client = APIClient()
        client.force_authenticate(self.user)
        return client


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, email: str | None = None) -> User:
        return User.objects.create_user(username, email or f"{username}@example.test", PASSWORD)

    return make


@pytest.fixture
def make_org(make_user: Callable[..., User]) -> Callable[..., Member]:
    def make(name: str, owner: str | None = None) -> Member:
        user = make_user(owner or f"owner-{name.lower().replace(' ', '-')}")
        org = organization_create(actor=Actor(user=user, api_key=None), name=name)
        return Member(user, org, Role.OWNER)

    return make


@pytest.fixture
def add_member(make_user: Callable[..., User]) -> Callable[..., Member]:
    def add(organization: Organization, role: str, username: str | None = None) -> Member:
        user = make_user(username or f"{role}-{organization.slug}")
        Membership.objects.create(organization=organization, user=user, role=role)
        return Member(user, organization, role)

    return add


@pytest.fixture
def org_a(make_org: Callable[..., Member]) -> Member:
    return make_org("Acme")


@pytest.fixture
def org_b(make_org: Callable[..., Member]) -> Member:
    return make_org("Globex")


@pytest.fixture
def api_key_for() -> Callable[..., str]:
    def create(member: Member, role: str = Role.EDITOR, name: str = "ci") -> str:
        _, raw = api_key_create(access=member.access, name=name, role=role)
        return raw

    return create


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: sync Playwright keeps an event loop running in the main thread for the
    rest of the session, under which nothing collected after it could start its own loop (async
    tests, asyncio.run). So: other tests, then end-to-end tests without a browser, then the rest."""

    def order(item: pytest.Item) -> tuple[bool, bool]:
        e2e = "tests/e2e/" in str(item.fspath)
        return e2e, e2e and "browser" in getattr(item, "fixturenames", ())

    items.sort(key=order)


@pytest.fixture(scope="session", autouse=True)
def _close_worker_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Runs write from worker threads, each with its own connection; end those before the test
    database is dropped (pytest-django's teardown runs after this one)."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _flush_retrying_a_deadlock() -> None:
    """A transactional test's teardown flushes every table with one TRUNCATE. A process of the
    test's own (the e2e server finishing a run's last write, the queue worker's upkeep tick) may
    hold a row lock on one table while it waits for a lock the TRUNCATE already took; PostgreSQL
    then ends the TRUNCATE as the deadlock's victim (seen in CI after an e2e agent run). The
    other side finishes in milliseconds, so the flush is simply asked again."""
    import time

    from django.test import TransactionTestCase

    teardown = TransactionTestCase._fixture_teardown

    def retrying(self: TransactionTestCase) -> None:
        for attempt in range(4):
            try:
                teardown(self)
                return
            except Exception as exc:
                cause = exc.__cause__ or exc.__context__
                deadlock = "deadlock detected" in str(exc) or "deadlock detected" in str(cause)
                if attempt == 3 or not deadlock:
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = retrying  # type: ignore[method-assign]


_flush_retrying_a_deadlock()
