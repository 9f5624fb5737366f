from django.urls import path

from apps.serving.api import catalog_views as cv
from apps.serving.api import deployment_views as dv
from apps.serving.api import views
from apps.serving.api.stream_view import model_test_stream_view

urlpatterns = [
    path("orgs/<str:org_id>/models/", views.ModelEndpointListView.as_view(), name="model-list"),
    path("orgs/<str:org_id>/models/<int:endpoint_id>/", views.ModelEndpointDetailView.as_view(), name="model-detail"),
    path("orgs/<str:org_id>/models/<int:endpoint_id>/test/", views.ModelEndpointTestView.as_view(), name="model-test"),
    path(
        "orgs/<str:org_id>/models/<int:endpoint_id>/test/stream/",
        model_test_stream_view,
        name="model-test-stream",
    ),
    path("orgs/<str:org_id>/models/stats/", dv.ModelStatsView.as_view(), name="model-stats"),
    path("orgs/<str:org_id>/models/discover/", cv.ModelDiscoverView.as_view(), name="model-discover"),
    path("orgs/<str:org_id>/model-calls/", dv.ModelCallListView.as_view(), name="model-call-list"),
    path("orgs/<str:org_id>/model-calls/export/", cv.ModelCallExportView.as_view(), name="model-call-export"),
    path("orgs/<str:org_id>/model-quota/", dv.QuotaView.as_view(), name="model-quota"),
    path("orgs/<str:org_id>/model-budgets/", dv.ModelBudgetListView.as_view(), name="model-budget-list"),
    path(
        "orgs/<str:org_id>/model-budgets/<int:budget_id>/",
        dv.ModelBudgetDetailView.as_view(),
        name="model-budget-detail",
    ),
    path("orgs/<str:org_id>/stored-models/", dv.StoredModelListView.as_view(), name="stored-model-list"),
    path(
        "orgs/<str:org_id>/stored-models/<int:stored_id>/",
        dv.StoredModelDetailView.as_view(),
        name="stored-model-detail",
    ),
    path("orgs/<str:org_id>/deployments/", dv.DeploymentListView.as_view(), name="deployment-list"),
    path(
        "orgs/<str:org_id>/deployments/<int:deployment_id>/",
        dv.DeploymentDetailView.as_view(),
        name="deployment-detail",
    ),
    path(
        "orgs/<str:org_id>/deployments/<int:deployment_id>/actions/",
        dv.DeploymentActionView.as_view(),
        name="deployment-action",
    ),
    path(
        "orgs/<str:org_id>/deployments/<int:deployment_id>/log/", dv.DeploymentLogView.as_view(), name="deployment-log"
    ),
]
