"""An S3-compatible bucket source as a builder uses it: Chromium, uvicorn, the huey worker,
PostgreSQL + pgvector, the bundled embedding model, and a real S3 server process (moto's, a
third-party emulator) on 127.0.0.1 with IAM authentication switched on, so a wrong secret is
refused the way a real bucket refuses it.

The S3 server's port and one where nothing listens were reserved and allowed through the outbound
policy before the live server and the worker started (conftest `bucket_ports`: the operator's
allow-list, as a deployment would set it). Everything runs where it runs in production: the form
posts to the live server, the sync and the ingestion run in the worker, and progress reaches the
page over the socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.knowledge.models import Document, KnowledgeBase, Source, SourceStatus
from apps.tenancy.access import Actor
from apps.tenancy.models import Membership, Organization, Role
from apps.tenancy.services import organization_create

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long bucket passphrase 7"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "knowledge-bucket"
INGEST_TIMEOUT_MS = 120_000
BUCKET, PREFIX, REGION = "handbook", "docs/", "eu-west-1"


@dataclass
class S3:
    url: str
    key_id: str
    secret: str
    client: Any

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=key, Body=body)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the S3 server did not start") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def s3_server(bucket_ports: tuple[int, int]) -> Iterator[S3]:
    """moto's S3 server on the reserved port; an IAM user with an S3 policy and its key pair are
    made first, then authentication is switched on (every later request must be signed with a key
    the server knows, by its secret)."""
    port = bucket_ports[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
        url = f"http://127.0.0.1:{port}"
        anonymous = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "x"}
        iam = boto3.client("iam", aws_secret_access_key="x", **anonymous)
        iam.create_user(UserName="trellis-reader")
        key = iam.create_access_key(UserName="trellis-reader")["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="trellis-reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
        httpx.post(f"{url}/moto-api/reset-auth", content=b"0").raise_for_status()
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield S3(url, key["AccessKeyId"], key["SecretAccessKey"], client)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(s3_server: S3) -> Iterator[S3]:
    """The bucket's objects for one test, removed afterwards."""
    yield s3_server
    for entry in s3_server.client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3_server.client.delete_object(Bucket=BUCKET, Key=entry["Key"])


def _html(title: str, passage: str) -> bytes:
    return (
        f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{passage}</p>"
        "<p>The rest of the page describes the usual procedure in general terms.</p></main></body></html>"
    ).encode()


@pytest.fixture
def builder() -> Organization:
    """An organization whose member "mika" is a builder (editor), not an admin."""
    owner = User.objects.create_user("noor", "noor@example.test", PASSWORD)
    organization: Organization = organization_create(actor=Actor(user=owner, api_key=None), name="Lock Keepers")
    mika = User.objects.create_user("mika", "mika@example.test", PASSWORD)
    Membership.objects.create(organization=organization, user=mika, role=Role.EDITOR)
    return organization


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open_new_base(page: Any, name: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("mika")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=30_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    page.get_by_role("button", name="New knowledge base").first.click()
    dialog = page.get_by_role("dialog", name="New knowledge base")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("region", name="Sources")).to_be_visible()


def _fill_bucket(dialog: Any, *, endpoint: str, key_id: str, secret: str, name: str) -> None:
    dialog.get_by_role("radio", name="S3-compatible bucket").check()
    dialog.get_by_label("Bucket", exact=True).fill(BUCKET)
    dialog.get_by_label("Prefix (optional)").fill(PREFIX)
    dialog.get_by_label("Endpoint URL (empty for Amazon S3)").fill(endpoint)
    dialog.get_by_label("Region").fill(REGION)
    dialog.get_by_label("Path-style addressing (MinIO and most self-hosted servers)").check()
    dialog.get_by_label("Access key ID").fill(key_id)
    dialog.get_by_label("Secret access key").fill(secret)
    dialog.get_by_label("Name (optional)").fill(name)


def test_e2e_bucket_source_syncs_indexes_searches_and_resyncs_changes(
    page: Any, builder: Organization, bucket: S3, huey_worker: None, live_url: str
) -> None:
    locks = b"# Locks\n\nThe canal lock at Saint-Malo opens two hours before high water.\n\nThe keeper logs it.\n"
    bucket.put("docs/locks.md", locks)
    bucket.put("docs/ferries.html", _html("Ferries", "The night ferry to Jersey leaves at eleven."))
    bucket.put("docs/tides.txt", b"Spring tides flood the salt marsh twice a month.\n")
    bucket.put("other/outside.md", b"# Outside\n\nNot under the prefix.\n")
    sources_seen: list[Any] = []  # every answer of the sources API the page received
    page.on("response", lambda answer: "/sources/" in answer.url and sources_seen.append(answer))

    _open_new_base(page, "Harbour handbook")
    sources = page.get_by_role("region", name="Sources")
    expect(sources).to_contain_text("S3-compatible bucket")  # the empty state says what a source can be

    # the form, at 800 px wide: nothing sticks out sideways
    page.set_viewport_size({"width": 800, "height": 900})
    sources.get_by_role("button", name="Add a source").click()
    dialog = page.get_by_role("dialog", name="Add a source")
    _fill_bucket(dialog, endpoint=bucket.url, key_id=bucket.key_id, secret=bucket.secret, name="Handbook bucket")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 800
    _shot(page, "1-form-800px")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/sources/")) as posted:
        dialog.get_by_role("button", name="Add and sync").click()
    created = posted.value
    assert created.status == 202, created.text()
    body = created.json()
    assert (body["kind"], body["bucket"], body["prefix"], body["has_credentials"]) == ("s3", BUCKET, PREFIX, True)
    assert bucket.secret not in created.text() and "secret_access_key" not in body
    expect(dialog).to_be_hidden()

    # the worker lists and reads the bucket; the page follows the sync and each document's indexing
    row = sources.locator('li[data-source="Handbook bucket"]')
    status = row.get_by_role("status")
    expect(status).to_contain_text("3 found · 3 new · 0 changed · 0 unchanged · 0 removed", timeout=60_000)
    expect(row).to_contain_text("synced")
    expect(row).to_contain_text(f"s3://{BUCKET}/{PREFIX} at {bucket.url} · 3 documents")
    documents = page.get_by_role("table", name="Documents")
    expect(documents.locator("tr[data-document]")).to_have_count(3)
    for name in ("docs/locks.md", "docs/ferries.html", "docs/tides.txt"):
        line = documents.locator(f'tr[data-document="{name}"]')
        expect(line.get_by_text("ready", exact=True)).to_be_visible(timeout=INGEST_TIMEOUT_MS)
        expect(page.get_by_label(f"{name} progress")).to_have_attribute("value", "1")
    first_sync = status.locator("time").get_attribute("datetime")
    _shot(page, "2-synced")

    search = page.get_by_role("region", name="Test a question")
    search.get_by_label("Question").fill("When does the canal lock at Saint-Malo open?")
    search.get_by_role("radio", name="keyword").check()
    hit = search.get_by_role("list", name="Results").get_by_role("listitem").first
    expect(hit).to_contain_text("docs/locks.md")
    expect(hit).to_contain_text("opens two hours before high water")

    # one object changes, one goes away; "Sync now" re-reads only what changed
    bucket.put("docs/tides.txt", b"Neap tides leave the oyster beds dry at noon.\n")
    bucket.client.delete_object(Bucket=BUCKET, Key="docs/ferries.html")
    time.sleep(1)  # the last sync's instant is to the millisecond: make the new one surely later
    row.get_by_role("button", name="Sync now").click()
    expect(status).to_contain_text("2 found · 0 new · 1 changed · 1 unchanged · 1 removed", timeout=60_000)
    expect(row).to_contain_text("· 2 documents")
    second_sync = status.locator("time").get_attribute("datetime")
    assert first_sync and second_sync and second_sync > first_sync
    expect(documents.locator('tr[data-document="docs/ferries.html"]')).to_have_count(0)
    expect(documents.locator("tr[data-document]")).to_have_count(2)
    changed = documents.locator('tr[data-document="docs/tides.txt"]')
    expect(changed).to_contain_text("v2")
    expect(changed.get_by_text("ready", exact=True)).to_be_visible(timeout=INGEST_TIMEOUT_MS)
    search.get_by_label("Question").fill("oyster beds neap tides")
    search.get_by_role("button", name="Search").click()
    expect(search.get_by_role("list", name="Results").get_by_role("listitem").first).to_contain_text("docs/tides.txt")
    search.get_by_label("Question").fill("night ferry to Jersey")
    search.get_by_role("button", name="Search").click()
    expect(search.get_by_text("No chunk matches.")).to_be_visible()
    _shot(page, "3-resynced")

    # the secret is nowhere: not in the page, not in any answer of the sources API it received
    assert bucket.secret not in page.content()
    assert len(sources_seen) >= 2
    for answer in sources_seen:
        assert bucket.secret not in answer.text()
    source = Source.objects.get(name="Handbook bucket")
    assert bucket.secret not in source.credentials_encrypted
    assert set(Document.objects.filter(source=source).values_list("source_key", flat=True)) == {
        "docs/locks.md",
        "docs/tides.txt",
    }


def test_e2e_bucket_source_wrong_secret_or_unreachable_endpoint_explains_and_stores_nothing(
    page: Any, builder: Organization, bucket: S3, bucket_ports: tuple[int, int], huey_worker: None, live_url: str
) -> None:
    bucket.put("docs/locks.md", b"# Locks\n\nThe lock opens at dawn.\n")
    _open_new_base(page, "Refusals")
    sources = page.get_by_role("region", name="Sources")
    cases = (
        ("Wrong secret", bucket.url, "not-the-secret", "The bucket refused the secret access key"),
        ("Nobody there", f"http://127.0.0.1:{bucket_ports[1]}", bucket.secret, "Check the bucket's endpoint URL"),
    )
    for name, endpoint, secret, reason in cases:
        sources.get_by_role("button", name="Add a source").click()
        dialog = page.get_by_role("dialog", name="Add a source")
        _fill_bucket(dialog, endpoint=endpoint, key_id=bucket.key_id, secret=secret, name=name)
        dialog.get_by_role("button", name="Add and sync").click()
        expect(dialog).to_be_hidden()
        row = sources.locator(f'li[data-source="{name}"]')
        expect(row).to_contain_text("failed", timeout=60_000)
        expect(row.locator(".kb-error")).to_contain_text(reason)
        expect(row).to_contain_text("· 0 documents")
        assert secret not in page.content()
    _shot(page, "4-refused")
    expect(page.get_by_text("No documents yet")).to_be_visible()
    knowledge_base = KnowledgeBase.objects.get(name="Refusals")
    assert Document.objects.filter(knowledge_base=knowledge_base).count() == 0
    failed = dict(Source.objects.filter(knowledge_base=knowledge_base).values_list("name", "error_code"))
    assert failed == {"Wrong secret": "bucket_access_denied", "Nobody there": "egress_failed"}
    assert Source.objects.filter(knowledge_base=knowledge_base, status=SourceStatus.FAILED).count() == 2
