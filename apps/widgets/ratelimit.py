"""Per-visitor and per-IP message limits (fixed windows in the database, so every worker shares
them) and the widget's daily token budget. Each widget has its own counters: one widget under
attack never limits another."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models import F, Sum

from apps.widgets.errors import RateLimited
from apps.widgets.models import RateCounter, Widget, WidgetRun

_INCREMENT = f"""
INSERT INTO {RateCounter._meta.db_table} (widget_id, scope, "window", count) VALUES (%s, %s, %s, 1)
ON CONFLICT (widget_id, scope, "window") DO UPDATE SET count = {RateCounter._meta.db_table}.count + 1
RETURNING count
"""  # noqa: S608 - table name from the model, values are parameters


# The visitor's counter, then the IP's only when the visitor's is within `limit` (a message over
# the visitor's limit counts nothing further): one round trip for both.
_INCREMENT_BOTH = f"""
WITH v AS (
  INSERT INTO {RateCounter._meta.db_table} (widget_id, scope, "window", count) VALUES (%(w)s, %(v)s, %(n)s, 1)
  ON CONFLICT (widget_id, scope, "window") DO UPDATE SET count = {RateCounter._meta.db_table}.count + 1
  RETURNING count
), i AS (
  INSERT INTO {RateCounter._meta.db_table} (widget_id, scope, "window", count)
  SELECT %(w)s, %(i)s, %(n)s, 1 WHERE (SELECT count FROM v) <= %(limit)s
  ON CONFLICT (widget_id, scope, "window") DO UPDATE SET count = {RateCounter._meta.db_table}.count + 1
  RETURNING count
)
SELECT (SELECT count FROM v), (SELECT count FROM i)
"""  # noqa: S608 - table name from the model, values are parameters


def _sweep(widget_id: UUID, window: int) -> None:
    """A new window began: the widget's old ones are useless now."""
    RateCounter.objects.filter(widget_id=widget_id, window__lt=window - settings.WIDGET_RATE_WINDOW).delete()


def _increment_both(widget: Widget, visitor: UUID, ip_scope: str, window: int) -> tuple[int, int | None]:
    """(the visitor's count, the IP's count or None when the visitor's was over its limit)."""
    params: dict[str, Any] = {"w": widget.pk, "v": f"visitor:{visitor}", "i": ip_scope, "n": window}
    params["limit"] = widget.visitor_messages_per_minute
    with connection.cursor() as cursor:
        cursor.execute(_INCREMENT_BOTH, params)
        visitor_count, ip_count = cursor.fetchone()
    if visitor_count == 1 or ip_count == 1:
        _sweep(widget.pk, window)
    return int(visitor_count), (int(ip_count) if ip_count is not None else None)


def _increment(widget_id: UUID, scope: str, window: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_INCREMENT, [widget_id, scope, window])
        count = int(cursor.fetchone()[0])
    if count == 1:  # a new window began: old ones of this widget are useless now
        _sweep(widget_id, window)
    return count


def rate_limit_hit(*, widget: Widget, visitor: UUID | None, ip: str, now: float | None = None) -> None:
    """Count one message; raise RateLimited (and count nothing further) when over a limit."""
    length = max(1, settings.WIDGET_RATE_WINDOW)
    now = time.time() if now is None else now
    window = int(now // length) * length
    retry_after = window + length - now
    ip_scope = f"ip:{ip}"[:80]
    if visitor is not None:
        visitor_count, ip_count = _increment_both(widget, visitor, ip_scope, window)
    else:
        visitor_count, ip_count = 0, _increment(widget.pk, ip_scope, window)
    if visitor_count > widget.visitor_messages_per_minute or ip_count is None:
        raise RateLimited(
            "You are sending messages too quickly. Please wait a moment.", code="rate_limited", retry_after=retry_after
        )
    if ip_count > widget.ip_messages_per_minute:
        raise RateLimited(
            "Too many messages from your network. Please wait a moment.",
            code="rate_limited_ip",
            retry_after=retry_after,
        )


def tokens_used_today(*, widget: Widget, now: datetime | None = None) -> int:
    now = now or datetime.now(tz=UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    total = WidgetRun.objects.filter(widget=widget, created_at__gte=midnight).aggregate(
        tokens=Sum(F("run__input_tokens") + F("run__output_tokens"))
    )["tokens"]
    return int(total or 0)


def budget_check(*, widget: Widget, now: datetime | None = None, used: int | None = None) -> None:
    """RateLimited when the widget's tokens today (`used`, when read already) reach its limit."""
    if (used if used is not None else tokens_used_today(widget=widget, now=now)) >= widget.tokens_per_day:
        now = now or datetime.now(tz=UTC)
        seconds_left = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
        raise RateLimited(
            "This assistant has reached its daily limit. Please come back tomorrow.",
            code="budget_exhausted",
            retry_after=seconds_left,
        )
