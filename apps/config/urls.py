"""HTTP routes. Every route needs authentication except PUBLIC_ROUTE_NAMES (tested)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.config.health import healthz, readyz, spa_index
from apps.config.metrics import metrics_view

# The explicit allowlist of routes reachable without credentials. The route-inventory test
# fails for any other route that answers without authentication.
PUBLIC_ROUTE_NAMES = frozenset(
    {
        "healthz",
        "readyz",
        "metrics",
        "spa",
        "auth-csrf",
        "auth-login",
        "auth-logout",
        "invitation-accept",
        "auth-email-verify",  # the link from the mail: its one-time token is the credential
        # apps/widgets: Origin-checked, token-authenticated, published versions only (invariant 4)
        "widget-script",
        "widget-hosted",
        "widget-session",
    }
)

# An error no view or middleware handled: JSON, and 503 for a database that is busy or down.
handler500 = "apps.config.exception_handler.server_error"
# A path no route matches: JSON under /api/ (not Django's HTML page).
handler404 = "apps.config.exception_handler.not_found"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("apps.tenancy.api.urls")),
    path("api/v1/", include("apps.builder.api.urls")),
    path("api/v1/", include("apps.serving.api.urls")),
    path("api/v1/", include("apps.runs.api.urls")),
    path("api/v1/", include("apps.knowledge.api.urls")),
    path("api/v1/", include("apps.widgets.api.urls")),
    path("api/v1/", include("apps.guardrails.api.urls")),
    path("api/v1/", include("apps.integrations.api.urls")),
    path("api/v1/", include("apps.observability.api.urls")),
    path("api/v1/", include("apps.evaluation.api.urls")),
    path("", include("apps.widgets.urls")),
    re_path(r"^(?!api/|ws/|static/)(?P<path>.*)$", spa_index, name="spa"),
]
