from django.urls import path

from apps.builder.api import views

FLOW = "orgs/<str:org_id>/flows/<str:flow_id>"

urlpatterns = [
    path("node-types/", views.NodeTypeListView.as_view(), name="node-type-list"),
    path("node-types/ports/", views.NodePortsView.as_view(), name="node-type-ports"),
    path("orgs/<str:org_id>/flows/", views.FlowListView.as_view(), name="flow-list"),
    # Before the detail route, which would otherwise take "import" for a flow id.
    path("orgs/<str:org_id>/flows/import/", views.FlowImportView.as_view(), name="flow-import"),
    path("orgs/<str:org_id>/flows/callable/", views.FlowCallableListView.as_view(), name="flow-callable-list"),
    path(f"{FLOW}/", views.FlowDetailView.as_view(), name="flow-detail"),
    path(f"{FLOW}/draft/", views.FlowDraftView.as_view(), name="flow-draft"),
    path(f"{FLOW}/validate/", views.FlowValidateView.as_view(), name="flow-validate"),
    path(f"{FLOW}/versions/", views.FlowVersionListView.as_view(), name="flow-version-list"),
    path(f"{FLOW}/versions/<int:number>/", views.FlowVersionDetailView.as_view(), name="flow-version-detail"),
    path(
        f"{FLOW}/versions/<int:number>/restore/",
        views.FlowVersionRestoreView.as_view(),
        name="flow-version-restore",
    ),
    path(f"{FLOW}/rollback/", views.FlowRollbackView.as_view(), name="flow-rollback"),
    path(f"{FLOW}/diff/", views.FlowDiffView.as_view(), name="flow-diff"),
    path(f"{FLOW}/export/", views.FlowExportView.as_view(), name="flow-export"),
    path(f"{FLOW}/duplicate/", views.FlowDuplicateView.as_view(), name="flow-duplicate"),
]
