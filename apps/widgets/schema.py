"""OpenAPI components for the widget socket's messages (apps/widgets/protocol.py), so
frontend/widget imports generated types instead of hand-copied shapes."""

from __future__ import annotations

from typing import Any

from apps.runs.schema import add_models


def add_widget_events(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    from apps.widgets.protocol import WidgetSocketMessage

    add_models(result, "WidgetSocketMessage", WidgetSocketMessage)
    return result
