from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - fixtures
from tests.apps.widgets.conftest import make_widget  # noqa: F401 - fixtures
