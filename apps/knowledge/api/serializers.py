from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.knowledge.chunking import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE
from apps.knowledge.models import (
    ChunkStrategy,
    Document,
    FileType,
    KnowledgeBase,
    Language,
    ReembedJob,
    Source,
    SourceKind,
)
from apps.knowledge.rerank import MAX_RERANK_DOCUMENTS
from apps.knowledge.search import (
    HYBRID_DEPTH,
    KEYWORD_WEIGHT,
    MAX_K,
    MAX_QUERY_CHARS,
    MODES,
    RERANK_TOP_N,
    VECTOR_WEIGHT,
)

MAX_PREVIEW_TEXT = 200_000
MAX_SAMPLE_TEXT = 20_000  # a pasted sample for the create dialog's preview, not a document


class KnowledgeBaseCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1)
    description = serializers.CharField(max_length=2000, allow_blank=True, default="")
    embedding_model = serializers.CharField(
        max_length=64,
        default="local",
        help_text="'local' (built in) or an embedding endpoint's alias; fixed at creation",
    )
    chunk_strategy = serializers.ChoiceField(choices=ChunkStrategy.choices, default=ChunkStrategy.SENTENCE)
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, default=256)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, default=32)
    language = serializers.ChoiceField(
        choices=Language.choices, default=Language.ENGLISH, help_text="Stemming and stop words of keyword search"
    )
    bm25_k1 = serializers.FloatField(min_value=0, max_value=10, default=1.2, help_text="BM25 term-frequency saturation")
    bm25_b = serializers.FloatField(min_value=0, max_value=1, default=0.75, help_text="BM25 length normalisation")


class KnowledgeBaseUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1, required=False)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    embedding_model = serializers.CharField(
        max_length=64, required=False, help_text="Only the current one: another model is a re-embed job (reembed/)"
    )
    chunk_strategy = serializers.ChoiceField(choices=ChunkStrategy.choices, required=False)
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, required=False)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    bm25_k1 = serializers.FloatField(min_value=0, max_value=10, required=False)
    bm25_b = serializers.FloatField(min_value=0, max_value=1, required=False)


class KnowledgeBaseOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    document_count = serializers.IntegerField(read_only=True)
    ready_count = serializers.IntegerField(read_only=True)
    failed_count = serializers.IntegerField(read_only=True)
    active_count = serializers.IntegerField(read_only=True, help_text="Documents queued, parsing or embedding")

    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "name",
            "description",
            "embedding_model",
            "embedding_dims",
            "chunk_strategy",
            "chunk_size",
            "chunk_overlap",
            "language",
            "bm25_k1",
            "bm25_b",
            "settings_version",
            "document_count",
            "ready_count",
            "failed_count",
            "active_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DocumentOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Document
        fields = [
            "id",
            "name",
            "file_type",
            "size_bytes",
            "checksum",
            "version",
            "status",
            "error_code",
            "error_message",
            "progress",
            "page_count",
            "chunk_count",
            "source",
            "source_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class UploadOut(serializers.Serializer):  # type: ignore[type-arg]
    document = DocumentOut()
    created = serializers.BooleanField(help_text="False: the same file was already in this knowledge base")


class UploadIn(serializers.Serializer):  # type: ignore[type-arg]
    files = serializers.ListField(child=serializers.FileField(), help_text="One or more files")


class ReplaceIn(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField()


class ChunkOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    ordinal = serializers.IntegerField()
    text = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    start_char = serializers.IntegerField()
    end_char = serializers.IntegerField()
    token_count = serializers.IntegerField()
    anchor = serializers.CharField()
    document_version = serializers.IntegerField()


class ChunkPageOut(serializers.Serializer):  # type: ignore[type-arg]
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ChunkOut(many=True)


class SearchIn(StrictSerializer):
    query = serializers.CharField(max_length=MAX_QUERY_CHARS, min_length=1)
    mode = serializers.ChoiceField(choices=list(MODES), default="hybrid")
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=5)
    score_threshold = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    documents = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100)
    file_types = serializers.ListField(
        child=serializers.ChoiceField(choices=[t for t in FileType.values if t != FileType.UNKNOWN]),
        required=False,
        max_length=10,
    )
    vector_weight = serializers.FloatField(min_value=0, max_value=10, default=VECTOR_WEIGHT, help_text="Hybrid only")
    keyword_weight = serializers.FloatField(min_value=0, max_value=10, default=KEYWORD_WEIGHT, help_text="Hybrid only")
    depth = serializers.IntegerField(
        min_value=1, max_value=MAX_K, default=HYBRID_DEPTH, help_text="Hybrid: how deep each list is fused"
    )
    rerank = serializers.SlugField(
        max_length=64, required=False, allow_null=True, help_text="A model endpoint alias to rerank the results with"
    )
    rerank_top_n = serializers.IntegerField(
        min_value=1, max_value=MAX_RERANK_DOCUMENTS, default=RERANK_TOP_N, help_text="How many results are reranked"
    )


class SearchHitOut(serializers.Serializer):  # type: ignore[type-arg]
    chunk_id = serializers.IntegerField()
    document_id = serializers.UUIDField()
    document_name = serializers.CharField()
    file_type = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    start_char = serializers.IntegerField()
    end_char = serializers.IntegerField()
    ordinal = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
    vector_rank = serializers.IntegerField(allow_null=True)
    keyword_rank = serializers.IntegerField(allow_null=True)
    title = serializers.CharField(help_text="The document's title (HTML <title>, first heading, or its name)")
    anchor = serializers.CharField(help_text="HTML: the id of the chunk's section (link to #anchor); empty if none")
    passage = serializers.CharField(help_text="The sentences of the chunk that hold the most query terms")
    rerank_score = serializers.FloatField(allow_null=True, help_text="The reranker's score, when reranked")


class SearchOut(serializers.Serializer):  # type: ignore[type-arg]
    hits = SearchHitOut(many=True)
    terms = serializers.ListField(child=serializers.CharField(), help_text="Query words as matched (stems)")


class PreviewIn(StrictSerializer):
    text = serializers.CharField(max_length=MAX_PREVIEW_TEXT, required=False, allow_blank=True)
    document = serializers.UUIDField(required=False, help_text="Preview on a parsed document of this base")
    chunk_strategy = serializers.ChoiceField(choices=ChunkStrategy.choices, default=ChunkStrategy.SENTENCE)
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, default=256)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, default=32)


class SamplePreviewIn(StrictSerializer):
    text = serializers.CharField(max_length=MAX_SAMPLE_TEXT, min_length=1, trim_whitespace=False)
    chunk_strategy = serializers.ChoiceField(choices=ChunkStrategy.choices, default=ChunkStrategy.SENTENCE)
    chunk_size = serializers.IntegerField(min_value=MIN_CHUNK_SIZE, max_value=MAX_CHUNK_SIZE, default=256)
    chunk_overlap = serializers.IntegerField(min_value=0, max_value=MAX_CHUNK_SIZE // 2, default=32)


class PreviewChunkOut(serializers.Serializer):  # type: ignore[type-arg]
    text = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    token_count = serializers.IntegerField()
    start_char = serializers.IntegerField(
        help_text="Where the chunk starts in the text (sections joined by a blank line)"
    )
    end_char = serializers.IntegerField()
    overlap_chars = serializers.IntegerField(help_text="How many of its first characters repeat the previous chunk")
    overlap_tokens = serializers.IntegerField()


class PreviewOut(serializers.Serializer):  # type: ignore[type-arg]
    chunks = PreviewChunkOut(many=True)
    truncated = serializers.BooleanField()


class EmbeddingModelOut(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="What a knowledge base's embedding_model takes: 'local' or the endpoint alias")
    name = serializers.CharField()
    dimensions = serializers.IntegerField(allow_null=True, help_text="Its vectors' size; null: it did not answer")
    problem = serializers.CharField(help_text="Why it cannot be used now (empty when it can)")


class ReembedIn(StrictSerializer):
    embedding_model = serializers.CharField(max_length=64, min_length=1, help_text="The model to move the base onto")


class ReembedJobOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = ReembedJob
        fields = [
            "id",
            "from_model",
            "target_model",
            "target_dims",
            "status",
            "done",
            "total",
            "error_code",
            "error_message",
            "attempts",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields


class ReembedStateOut(serializers.Serializer):  # type: ignore[type-arg]
    job = ReembedJobOut(allow_null=True, help_text="The newest re-embed job; null: never re-embedded")


class ReindexOut(serializers.Serializer):  # type: ignore[type-arg]
    documents = serializers.IntegerField()


class SourceCreateIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    name = serializers.CharField(max_length=120, allow_blank=True, default="")
    url = serializers.URLField(max_length=2000, required=False, default="", help_text="Web: a start page or sitemap")
    path = serializers.CharField(max_length=1000, required=False, default="", help_text="Folder: an absolute path")
    max_pages = serializers.IntegerField(min_value=1, max_value=10_000, default=50, help_text="Pages or files")
    max_depth = serializers.IntegerField(
        min_value=0, max_value=10, default=2, help_text="Web: link hops from the start"
    )
    sync_every_minutes = serializers.IntegerField(
        min_value=5, max_value=60 * 24 * 31, required=False, allow_null=True, default=None
    )
    endpoint_url = serializers.URLField(
        max_length=2000, required=False, default="", help_text="S3: the endpoint URL (empty: AWS)"
    )
    bucket = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$", required=False, default="", help_text="S3: the bucket name"
    )
    prefix = serializers.CharField(
        max_length=1024, required=False, default="", allow_blank=True, trim_whitespace=False,
        help_text="S3: only objects whose key starts with this",
    )  # fmt: skip
    region = serializers.RegexField(r"^[a-z0-9-]{0,64}$", required=False, default="", allow_blank=True)
    path_style = serializers.BooleanField(
        required=False, default=False, help_text="S3: the bucket in the path (MinIO, most self-hosted servers)"
    )
    access_key_id = serializers.CharField(max_length=256, required=False, default="", allow_blank=True)
    secret_access_key = serializers.CharField(
        max_length=256, required=False, default="", allow_blank=True, write_only=True,
        help_text="S3: stored encrypted, never shown again",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == SourceKind.S3:
            if not attrs.get("bucket"):
                raise serializers.ValidationError({"bucket": "Give the bucket's name."})
            if attrs.get("url"):
                raise serializers.ValidationError({"url": "For a bucket, give the endpoint as endpoint_url."})
            attrs["url"] = attrs.get("endpoint_url", "")
        attrs.pop("endpoint_url", None)
        if attrs["kind"] == SourceKind.WEB and not attrs.get("url"):
            raise serializers.ValidationError({"url": "Give the website's start page or sitemap URL."})
        if attrs["kind"] == SourceKind.FOLDER and not attrs.get("path"):
            raise serializers.ValidationError({"path": "Give the folder's absolute path on the server."})
        return attrs


class SourceUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=120, min_length=1, required=False)
    max_pages = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    max_depth = serializers.IntegerField(min_value=0, max_value=10, required=False)
    sync_every_minutes = serializers.IntegerField(min_value=5, max_value=60 * 24 * 31, required=False, allow_null=True)


class SourceErrorOut(serializers.Serializer):  # type: ignore[type-arg]
    item = serializers.CharField(help_text="The page URL or file path")
    code = serializers.CharField()
    message = serializers.CharField()


class SourceOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    sync_errors = SourceErrorOut(
        many=True, source="errors", help_text="What went wrong in the last sync, per page or file"
    )
    document_count = serializers.SerializerMethodField()
    has_credentials = serializers.SerializerMethodField(help_text="S3: an access key pair is stored")

    class Meta:
        model = Source
        fields = [
            "id",
            "kind",
            "name",
            "url",
            "path",
            "bucket",
            "prefix",
            "region",
            "path_style",
            "has_credentials",
            "max_pages",
            "max_depth",
            "sync_every_minutes",
            "status",
            "found",
            "added",
            "changed",
            "unchanged",
            "removed",
            "skipped",
            "sync_errors",
            "error_code",
            "error_message",
            "document_count",
            "last_sync_started_at",
            "last_sync_at",
            "next_sync_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_document_count(self, source: Source) -> int:
        return source.documents.count()

    def get_has_credentials(self, source: Source) -> bool:
        return bool(source.credentials_encrypted)


class TestQuestionIO(serializers.Serializer):  # type: ignore[type-arg]
    question = serializers.CharField(max_length=2000)
    expected = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        min_length=1,
        max_length=20,
        help_text="The documents that answer it: id, name, title, or a source's page URL / file path",
    )


class TestQuestionsIO(serializers.Serializer):  # type: ignore[type-arg]
    questions = TestQuestionIO(many=True, max_length=200)  # type: ignore[call-arg]


class EvaluateIn(StrictSerializer):
    questions = TestQuestionIO(many=True, max_length=200, required=False, help_text="Default: the saved questions")  # type: ignore[call-arg]
    dataset = serializers.UUIDField(
        required=False, help_text="Instead of questions: an evaluation dataset's items with expected sources"
    )
    dataset_version = serializers.IntegerField(min_value=1, required=False, help_text="Default: the latest")
    modes = serializers.ListField(
        child=serializers.ChoiceField(choices=list(MODES)), default=list(MODES), min_length=1, max_length=3
    )
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=10)
    bm25_k1 = serializers.FloatField(min_value=0, max_value=10, required=False, help_text="Default: the base's")
    bm25_b = serializers.FloatField(min_value=0, max_value=1, required=False, help_text="Default: the base's")
    vector_weight = serializers.FloatField(min_value=0, max_value=10, default=VECTOR_WEIGHT)
    keyword_weight = serializers.FloatField(min_value=0, max_value=10, default=KEYWORD_WEIGHT)
    depth = serializers.IntegerField(min_value=1, max_value=MAX_K, default=HYBRID_DEPTH)
    rerank = serializers.SlugField(max_length=64, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "dataset" in attrs and "questions" in attrs:
            raise serializers.ValidationError({"dataset": "Send questions or a dataset, not both."})
        if "dataset_version" in attrs and "dataset" not in attrs:
            raise serializers.ValidationError({"dataset_version": "Name the dataset too."})
        return attrs


class ModeScoreOut(serializers.Serializer):  # type: ignore[type-arg]
    mode = serializers.CharField()
    questions = serializers.IntegerField()
    hit_at_1 = serializers.FloatField()
    hit_at_5 = serializers.FloatField()
    hit_at_k = serializers.FloatField()
    mrr = serializers.FloatField(help_text="Mean reciprocal rank of the first expected document within k")
    p50_ms = serializers.FloatField()
    p95_ms = serializers.FloatField()


class QuestionResultOut(serializers.Serializer):  # type: ignore[type-arg]
    question = serializers.CharField()
    expected = serializers.ListField(child=serializers.CharField())
    unmatched = serializers.ListField(child=serializers.CharField(), help_text="Expected names no document has")
    ranks = serializers.DictField(child=serializers.IntegerField(allow_null=True), help_text="mode -> rank or null")


class EvaluateOut(serializers.Serializer):  # type: ignore[type-arg]
    k = serializers.IntegerField()
    bm25_k1 = serializers.FloatField()
    bm25_b = serializers.FloatField()
    scores = ModeScoreOut(many=True)
    questions = QuestionResultOut(many=True)
