"""S3-compatible bucket sources against a real S3 server process (moto's, a third-party emulator
started here as its own HTTP server on 127.0.0.1), reached through the egress policy (this test
alone allows its host:port), with the sandboxed parser, the real embedding model and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.db import transaction

from apps.knowledge.models import Document, KnowledgeBase, Source, SourceStatus
from apps.knowledge.search import knowledge_search
from apps.knowledge.sources import request_sync, source_sync
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db
KEY_ID, SECRET = "AKIATRELLISTEST", "s3-secret-that-must-not-leak"


class S3:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="eu-west-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )

    def put(self, key: str, body: bytes, bucket: str = "manuals") -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.2)
        yield S3(port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3(s3_server: S3) -> Iterator[S3]:
    """A fresh bucket "manuals" on the server, emptied and removed afterwards."""
    s3_server.client.create_bucket(Bucket="manuals", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield s3_server
    listed = s3_server.client.list_objects_v2(Bucket="manuals").get("Contents", [])
    for entry in listed:
        s3_server.client.delete_object(Bucket="manuals", Key=entry["Key"])
    s3_server.client.delete_bucket(Bucket="manuals")


@pytest.fixture
def allow_s3(s3_server: S3) -> Iterator[None]:
    before = settings.EGRESS_ALLOW
    settings.EGRESS_ALLOW = [*before, f"127.0.0.1:{s3_server.port}"]
    yield
    settings.EGRESS_ALLOW = before


def sources_url(member: Member, kb: KnowledgeBase) -> str:
    return f"/api/v1/orgs/{member.organization.id}/knowledge-bases/{kb.id}/sources/"


def sync(source_id: Any) -> str:
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source_id)
        queued = source.status == SourceStatus.QUEUED
        generation = source.sync_generation if queued else request_sync(source, enqueue=lambda *_: None)
    return source_sync(source_id, generation)


def bucket_body(s3: S3, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "s3",
        "endpoint_url": s3.url,
        "bucket": "manuals",
        "prefix": "docs/",
        "region": "eu-west-1",
        "path_style": True,
        "access_key_id": KEY_ID,
        "secret_access_key": SECRET,
        **extra,
    }


def markdown(title: str, passage: str) -> bytes:
    return f"# {title}\n\n{passage}\n\nThe rest of the page describes the usual procedure in general terms.\n".encode()


def test_s3_bucket_sync_lists_the_prefix_fetches_and_indexes(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], s3: S3, allow_s3: None
) -> None:
    s3.put("docs/locks.md", markdown("Locks", "The canal lock at Saint-Malo opens two hours before high water."))
    ferries = b"<p>The night ferry to Jersey leaves from the granite pier at eleven.</p>"
    s3.put("docs/guide/ferries.html", b"<html><head><title>Ferries</title></head><body><main><h1>Ferries</h1>"
           + ferries + b"</main></body></html>")  # fmt: skip
    s3.put("docs/tool.exe", b"MZ\x90\x00")  # not a supported type: not fetched
    s3.put("other/outside.md", markdown("Outside", "Outside the prefix."))
    kb = make_kb(org_a)
    answer = org_a.client().post(sources_url(org_a, kb), bucket_body(s3), format="json")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert (body["kind"], body["bucket"], body["prefix"], body["path_style"], body["has_credentials"]) == (
        "s3",
        "manuals",
        "docs/",
        True,
        True,
    )
    assert SECRET not in answer.content.decode() and "secret_access_key" not in body
    stored = Source.objects.get(pk=body["id"])
    assert SECRET not in stored.credentials_encrypted and KEY_ID not in stored.credentials_encrypted
    assert SECRET not in org_a.client().get(f"{sources_url(org_a, kb)}{body['id']}/").content.decode()

    assert sync(body["id"]) == "ok"
    source = Source.objects.get(pk=body["id"])
    assert (source.status, source.found, source.added, source.removed) == (SourceStatus.OK, 2, 2, 0)
    keys = set(Document.objects.filter(source=source).values_list("source_key", flat=True))
    assert keys == {"docs/locks.md", "docs/guide/ferries.html"}
    assert sorted(ingest_pending(kb)) == ["ready", "ready"]
    hits = knowledge_search(knowledge_base=kb, query="night ferry Jersey granite pier", k=1, mode="hybrid").hits
    assert hits[0].document_name == "docs/guide/ferries.html" and hits[0].title == "Ferries"


def test_s3_resync_by_etag_reindexes_changed_objects_and_removes_deleted_ones(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], s3: S3, allow_s3: None
) -> None:
    s3.put("docs/a.md", markdown("A", "Anchors hold best in sand."))
    s3.put("docs/b.md", markdown("B", "Buoys mark the fairway."))
    s3.put("docs/c.md", markdown("C", "Charts are updated weekly."))
    kb = make_kb(org_a)
    source_id = org_a.client().post(sources_url(org_a, kb), bucket_body(s3), format="json").json()["id"]
    assert sync(source_id) == "ok"
    ingest_pending(kb)
    before = dict(Document.objects.filter(source_id=source_id).values_list("source_key", "generation"))

    s3.put("docs/b.md", markdown("B", "Buoys with a yellow cross mark a restricted zone."))
    s3.client.delete_object(Bucket="manuals", Key="docs/c.md")
    assert sync(source_id) == "ok"
    source = Source.objects.get(pk=source_id)
    assert (source.changed, source.removed, source.added, source.unchanged) == (1, 1, 0, 1)
    after = dict(Document.objects.filter(source_id=source_id).values_list("source_key", "generation"))
    assert set(after) == {"docs/a.md", "docs/b.md"}
    assert after["docs/a.md"] == before["docs/a.md"] and after["docs/b.md"] == before["docs/b.md"] + 1
    assert ingest_pending(kb) == ["ready"]
    hits = knowledge_search(knowledge_base=kb, query="yellow cross restricted zone", k=1, mode="keyword").hits
    assert hits[0].document_name == "docs/b.md"
    assert knowledge_search(knowledge_base=kb, query="charts updated weekly", k=3, mode="keyword").hits == []


def test_s3_internal_endpoint_refused_without_the_operators_allowance(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], s3: S3
) -> None:
    s3.put("docs/a.md", markdown("A", "Anchors hold best in sand."))
    kb = make_kb(org_a)
    answer = org_a.client().post(sources_url(org_a, kb), bucket_body(s3), format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "egress_refused"
    assert Source.objects.count() == 0


def test_s3_missing_bucket_fails_the_sync_with_a_reason_and_removes_nothing(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], s3: S3, allow_s3: None
) -> None:
    s3.put("docs/a.md", markdown("A", "Anchors hold best in sand."))
    kb = make_kb(org_a)
    source_id = org_a.client().post(sources_url(org_a, kb), bucket_body(s3), format="json").json()["id"]
    assert sync(source_id) == "ok"
    Source.objects.filter(pk=source_id).update(bucket="gone-bucket")
    assert sync(source_id) == "failed"
    source = Source.objects.get(pk=source_id)
    assert source.error_code == "bucket_not_found" and "gone-bucket" in source.error_message
    assert Document.objects.filter(source_id=source_id).count() == 1


def test_s3_bad_input_is_a_400_and_stores_nothing(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], s3: S3, allow_s3: None
) -> None:
    kb = make_kb(org_a)
    url = sources_url(org_a, kb)
    for bad in (
        {**bucket_body(s3), "bucket": ""},
        {**bucket_body(s3), "bucket": "../etc"},
        {**bucket_body(s3), "secret_access_key": ""},
        {**bucket_body(s3), "endpoint_url": "not a url"},
        {**bucket_body(s3), "url": s3.url},
    ):
        answer = org_a.client().post(url, bad, format="json")
        assert answer.status_code == 400, (bad, answer.content)
        assert answer.json()["code"] and answer.json()["message"]
    assert Source.objects.count() == 0


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        ("SignatureDoesNotMatch", 403, "does not match the access key ID"),
        ("InvalidAccessKeyId", 403, "does not know this access key ID"),
        ("AccessDenied", 403, "may list and read the bucket"),
        ("", 401, "refused this access key (401)"),
    ],
)
def test_s3_refused_keys_are_explained_for_people(error: str, status: int, says: str) -> None:
    from botocore.exceptions import ClientError

    from apps.knowledge.s3 import _client_error

    refused = ClientError({"Error": {"Code": error}, "ResponseMetadata": {"HTTPStatusCode": status}}, "ListObjectsV2")
    code, message = _client_error(refused, "manuals")
    assert code == "bucket_access_denied" and says in message
