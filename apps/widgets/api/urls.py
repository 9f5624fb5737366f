from django.urls import path

from apps.widgets.api import views
from apps.widgets.openai_api import flow_openai_chat_view, openai_models_view, org_openai_chat_view

WIDGET = "orgs/<str:org_id>/widgets/<str:widget_id>"

urlpatterns = [
    path("orgs/<str:org_id>/widgets/", views.WidgetListView.as_view(), name="widget-list"),
    path(f"{WIDGET}/", views.WidgetDetailView.as_view(), name="widget-detail"),
    path(f"{WIDGET}/rotate-key/", views.WidgetRotateKeyView.as_view(), name="widget-rotate-key"),
    path(f"{WIDGET}/analytics/", views.WidgetAnalyticsView.as_view(), name="widget-analytics"),
    # OpenAI-compatible: the SDK appends /chat/completions to base_url ".../flows/<flow>/openai".
    path(
        "orgs/<str:org_id>/flows/<str:flow_id>/openai/chat/completions",
        flow_openai_chat_view,
        name="flow-openai-chat",
    ),
    # GET .../models lists the published flows (the SDK's client.models.list()); the organization's
    # base URL ".../orgs/<org>/openai" serves every published flow, `model` naming it.
    path("orgs/<str:org_id>/flows/<str:flow_id>/openai/models", openai_models_view, name="flow-openai-models"),
    path("orgs/<str:org_id>/openai/models", openai_models_view, name="openai-models"),
    path("orgs/<str:org_id>/openai/chat/completions", org_openai_chat_view, name="openai-chat"),
]
