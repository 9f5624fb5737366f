from django.urls import path

from apps.guardrails.api import views

ORG = "orgs/<str:org_id>"

urlpatterns = [
    path(f"{ORG}/guard-policies/", views.PolicyListView.as_view(), name="guard-policy-list"),
    path(f"{ORG}/guard-policies/defaults/", views.PolicyDefaultsView.as_view(), name="guard-policy-defaults"),
    path(f"{ORG}/guard-policies/test/", views.PolicyTestView.as_view(), name="guard-policy-test"),
    path(f"{ORG}/guard-policies/<str:policy_id>/", views.PolicyDetailView.as_view(), name="guard-policy-detail"),
    path(f"{ORG}/guard-hits/", views.HitListView.as_view(), name="guard-hit-list"),
    path(f"{ORG}/guard-hits/summary/", views.HitSummaryView.as_view(), name="guard-hit-summary"),
]
