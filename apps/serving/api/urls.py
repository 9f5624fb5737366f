from django.urls import path

from apps.serving.api import views

urlpatterns = [
    path("orgs/<str:org_id>/models/", views.ModelEndpointListView.as_view(), name="model-list"),
    path("orgs/<str:org_id>/models/<int:endpoint_id>/", views.ModelEndpointDetailView.as_view(), name="model-detail"),
    path("orgs/<str:org_id>/models/<int:endpoint_id>/test/", views.ModelEndpointTestView.as_view(), name="model-test"),
]
