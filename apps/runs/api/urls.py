from django.urls import path

from apps.runs.api import views
from apps.runs.api.run_view import flow_run_view

# The runs list and one run's trace (`run-list`, `run-detail`) are served by apps.observability:
# they read widgets' feedback and visitors too, and widgets sit above runs.

urlpatterns = [
    path("orgs/<str:org_id>/flows/<str:flow_id>/run/", flow_run_view, name="flow-run"),
    path("orgs/<str:org_id>/runs/<str:run_id>/events/", views.RunEventListView.as_view(), name="run-events"),
    path("orgs/<str:org_id>/runs/<str:run_id>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path("orgs/<str:org_id>/sessions/", views.SessionListView.as_view(), name="session-list"),
    path("orgs/<str:org_id>/sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="session-detail"),
]
