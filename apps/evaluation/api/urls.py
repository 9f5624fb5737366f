from django.urls import path

from apps.evaluation.api import views

ORG = "orgs/<str:org_id>"
DATASET = f"{ORG}/datasets/<str:dataset_id>"
EVALUATION = f"{ORG}/evaluations/<str:evaluation_id>"

urlpatterns = [
    path(f"{ORG}/datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path(f"{DATASET}/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path(f"{DATASET}/versions/", views.DatasetVersionListView.as_view(), name="dataset-version-list"),
    path(f"{DATASET}/items/", views.DatasetItemsView.as_view(), name="dataset-items"),
    path(f"{DATASET}/upload/", views.DatasetUploadView.as_view(), name="dataset-upload"),
    path(f"{DATASET}/from-production/", views.DatasetFromProductionView.as_view(), name="dataset-from-production"),
    path(f"{ORG}/evaluations/", views.EvaluationListView.as_view(), name="evaluation-list"),
    # Before the detail route, which would otherwise take "estimate" for an id.
    path(f"{ORG}/evaluations/estimate/", views.EvaluationEstimateView.as_view(), name="evaluation-estimate"),
    path(f"{EVALUATION}/", views.EvaluationDetailView.as_view(), name="evaluation-detail"),
    path(f"{EVALUATION}/cancel/", views.EvaluationCancelView.as_view(), name="evaluation-cancel"),
    path(f"{EVALUATION}/items/", views.EvaluationItemsView.as_view(), name="evaluation-items"),
    path(f"{EVALUATION}/export/", views.EvaluationExportView.as_view(), name="evaluation-export"),
    path(
        f"{EVALUATION}/samples/<int:sample_id>/grade/", views.SampleGradeView.as_view(), name="evaluation-sample-grade"
    ),
    path(f"{ORG}/review-queue/", views.ReviewQueueView.as_view(), name="review-queue"),
    path(f"{ORG}/flows/<str:flow_id>/gate/", views.FlowGateView.as_view(), name="flow-gate"),
    path(f"{ORG}/flows/<str:flow_id>/gate/run/", views.FlowGateRunView.as_view(), name="flow-gate-run"),
]
