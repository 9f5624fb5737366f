from collections.abc import Callable
from typing import Any

import pytest

from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - fixtures
from tests.apps.widgets.conftest import make_widget  # noqa: F401 - fixtures
from tests.conftest import Member


@pytest.fixture
def echo_widget(
    org_a: Member,
    endpoint: Callable[..., Any],  # noqa: F811 - the fixture imported above
    publish_flow: Callable[..., Any],  # noqa: F811
    make_widget: Callable[..., Any],  # noqa: F811
) -> dict[str, Any]:
    """A published chat flow on a widget, its model the stand-in that repeats what it was sent."""
    endpoint(model="standin-echo")
    return dict(make_widget(publish_flow()["id"]))
