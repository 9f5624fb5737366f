from django.urls import path

from apps.knowledge.api import views

KB = "orgs/<str:org_id>/knowledge-bases/<str:kb_id>"
DOC = f"{KB}/documents/<str:document_id>"

urlpatterns = [
    path("orgs/<str:org_id>/knowledge-bases/", views.KnowledgeBaseListView.as_view(), name="knowledge-base-list"),
    # Before the `<kb_id>` routes, or "chunk-preview" would be read as a knowledge base id.
    path(
        "orgs/<str:org_id>/knowledge-bases/chunk-preview/",
        views.SampleChunkPreviewView.as_view(),
        name="knowledge-sample-chunk-preview",
    ),
    path(
        "orgs/<str:org_id>/knowledge-bases/embedding-models/",
        views.EmbeddingModelsView.as_view(),
        name="knowledge-embedding-models",
    ),
    path(f"{KB}/", views.KnowledgeBaseDetailView.as_view(), name="knowledge-base-detail"),
    path(f"{KB}/reembed/", views.ReembedView.as_view(), name="knowledge-base-reembed"),
    path(f"{KB}/reembed/cancel/", views.ReembedCancelView.as_view(), name="knowledge-base-reembed-cancel"),
    path(f"{KB}/reembed/resume/", views.ReembedResumeView.as_view(), name="knowledge-base-reembed-resume"),
    path(f"{KB}/reindex/", views.KnowledgeBaseReindexView.as_view(), name="knowledge-base-reindex"),
    path(f"{KB}/search/", views.KnowledgeSearchView.as_view(), name="knowledge-search"),
    path(f"{KB}/chunk-preview/", views.ChunkPreviewView.as_view(), name="knowledge-chunk-preview"),
    path(f"{KB}/documents/", views.DocumentListView.as_view(), name="document-list"),
    path(f"{DOC}/", views.DocumentDetailView.as_view(), name="document-detail"),
    path(f"{DOC}/retry/", views.DocumentRetryView.as_view(), name="document-retry"),
    path(f"{DOC}/replace/", views.DocumentReplaceView.as_view(), name="document-replace"),
    path(f"{DOC}/chunks/", views.DocumentChunksView.as_view(), name="document-chunks"),
    path(f"{KB}/questions/", views.TestQuestionsView.as_view(), name="knowledge-test-questions"),
    path(f"{KB}/evaluate/", views.EvaluateView.as_view(), name="knowledge-evaluate"),
    path(f"{KB}/sources/", views.SourceListView.as_view(), name="knowledge-source-list"),
    path(f"{KB}/sources/<str:source_id>/", views.SourceDetailView.as_view(), name="knowledge-source-detail"),
    path(f"{KB}/sources/<str:source_id>/sync/", views.SourceSyncView.as_view(), name="knowledge-source-sync"),
]
