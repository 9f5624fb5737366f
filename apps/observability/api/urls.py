from django.urls import path

from apps.observability.api import views

ALERT = "orgs/<str:org_id>/alerts/<str:rule_id>"

urlpatterns = [
    path("orgs/<str:org_id>/alerts/", views.AlertRuleListView.as_view(), name="alert-rule-list"),
    path(f"{ALERT}/", views.AlertRuleDetailView.as_view(), name="alert-rule-detail"),
    path(f"{ALERT}/events/", views.AlertEventListView.as_view(), name="alert-event-list"),
    path("orgs/<str:org_id>/runs/", views.RunListView.as_view(), name="run-list"),
    path("orgs/<str:org_id>/runs/stats/", views.RunStatsView.as_view(), name="run-stats"),
    path("orgs/<str:org_id>/runs/<str:run_id>/", views.RunDetailView.as_view(), name="run-detail"),
    path("orgs/<str:org_id>/feedback/", views.FeedbackListView.as_view(), name="feedback-list"),
    path("orgs/<str:org_id>/conversations/", views.ConversationListView.as_view(), name="conversation-list"),
    path(
        "orgs/<str:org_id>/conversations/export/",
        views.ConversationExportView.as_view(),
        name="conversation-export",
    ),
    path(
        "orgs/<str:org_id>/conversations/<str:session_id>/",
        views.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
]
