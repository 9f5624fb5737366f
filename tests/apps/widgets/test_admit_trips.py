"""A widget visitor's message is admitted in three statements: the widget, one read for the
visitor, the widget's tokens today and the latest conversation (apps.widgets.selectors
.visitor_admission), and both rate counters in one (apps.widgets.ratelimit); plus the sweep of
old counters when a counter's window begins (issue 15). Before: up to eight."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.runs.principals import RunRequest
from apps.widgets.chat import WidgetVisitor
from apps.widgets.models import Visitor
from apps.widgets.tokens import WidgetSession
from tests.apps.widgets.conftest import SITE

pytestmark = pytest.mark.django_db


def _admit(widget: dict[str, Any], visitor: uuid.UUID | None) -> tuple[WidgetVisitor, RunRequest, int]:
    session = WidgetSession(uuid.UUID(widget["id"]), widget["public_key"], SITE, visitor)
    principal = WidgetVisitor(session, widget["public_key"], "203.0.113.9")
    with CaptureQueriesContext(connection) as queries:
        request = principal.admit(RunRequest(flow=None, inputs={"message": "hello"}))
    return principal, request, len(queries.captured_queries)


def test_a_visitor_message_is_admitted_in_three_statements(
    publish_flow: Callable[..., Any], make_widget: Callable[..., dict[str, Any]]
) -> None:
    widget = make_widget(publish_flow()["id"])
    first, request, count = _admit(widget, None)
    assert first.new_visitor and request.session is None and request.version == "published"
    assert count == 4  # a new visitor's counter: its window begins, old counters are swept
    Visitor.objects.create(pk=first.visitor, widget_id=widget["id"])
    again, request, count = _admit(widget, first.visitor)
    assert not again.new_visitor and again.visitor == first.visitor and request.session is None
    assert count == 3
    stranger, _, _ = _admit(widget, uuid.uuid4())  # a visitor id this widget never issued: a new one
    assert stranger.new_visitor
