from django.urls import path

from apps.integrations.api import views

ORG = "orgs/<str:org_id>"

urlpatterns = [
    path(f"{ORG}/secrets/", views.SecretListView.as_view(), name="secret-list"),
    path(f"{ORG}/secrets/<str:secret_id>/", views.SecretDetailView.as_view(), name="secret-detail"),
    path(f"{ORG}/variables/", views.VariableListView.as_view(), name="variable-list"),
    path(f"{ORG}/variables/<str:variable_id>/", views.VariableDetailView.as_view(), name="variable-detail"),
    path(f"{ORG}/mcp-servers/", views.McpServerListView.as_view(), name="mcp-server-list"),
    path(f"{ORG}/mcp-servers/<str:server_id>/", views.McpServerDetailView.as_view(), name="mcp-server-detail"),
    path(
        f"{ORG}/mcp-servers/<str:server_id>/refresh/",
        views.McpServerRefreshView.as_view(),
        name="mcp-server-refresh",
    ),
    path(f"{ORG}/tool-sets/", views.ToolSetListView.as_view(), name="tool-set-list"),
    path(f"{ORG}/tool-sets/<str:tool_set_id>/", views.ToolSetDetailView.as_view(), name="tool-set-detail"),
    path(f"{ORG}/integration-tools/", views.ToolListView.as_view(), name="integration-tool-list"),
]
