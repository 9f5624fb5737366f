from django.urls import path

from apps.observability.api import views

urlpatterns = [
    path("orgs/<str:org_id>/runs/", views.RunListView.as_view(), name="run-list"),
    path("orgs/<str:org_id>/runs/<str:run_id>/", views.RunDetailView.as_view(), name="run-detail"),
    path("orgs/<str:org_id>/feedback/", views.FeedbackListView.as_view(), name="feedback-list"),
]
