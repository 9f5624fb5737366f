"""Importing a model into the store: the API answers at once (`importing`), the queue task copies
with progress and a checksum, a failed copy says why and leaves nothing behind, a model still
importing cannot be deployed, and removal refuses while a deployment uses it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from apps.serving import model_copy
from apps.serving.model_copy import stored_model_copy
from apps.serving.models import StoredModel
from apps.tenancy.models import Role
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 12_000)  # 3 MB
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    return folder


def _url(member: Member) -> str:
    return f"/api/v1/orgs/{member.organization.id}/stored-models/"


def test_an_import_reports_progress_then_its_checksum(
    org_a: Member, model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_copy, "PROGRESS_EVERY_BYTES", 1 << 20)  # a report per MB of the 3 MB
    with override_settings(MODEL_DIRS=[str(tmp_path / "models")], MODEL_STORE_DIR=tmp_path / "store"):
        client = org_a.client()
        response = client.post(_url(org_a), {"name": "tiny", "origin": str(model_folder)}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "importing" and body["sha256"] == ""
        total = sum(p.stat().st_size for p in model_folder.rglob("*") if p.is_file())
        assert body["size_bytes"] == total and body["copied_bytes"] == 0
        listed = client.get(_url(org_a)).json()
        assert [(m["name"], m["status"]) for m in listed] == [("tiny", "importing")]

        with CaptureQueriesContext(connection) as queries:
            stored = stored_model_copy(body["id"])  # what the queue worker runs

    assert stored.status == "ready" and stored.copied_bytes == stored.size_bytes == total
    copied = Path(stored.path)
    assert (copied / "tokenizer" / "vocab.txt").read_text() == "a\nb\n"
    digest = hashlib.sha256()
    for file in sorted(p for p in copied.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(copied)).encode())
        digest.update(file.read_bytes())
    assert stored.sha256 == digest.hexdigest()
    # Progress on the way: copied_bytes written after each MB copied, before the final update.
    progress = [q["sql"] for q in queries.captured_queries if '"copied_bytes" = ' in q["sql"]]
    assert len(progress) >= 3, progress


def test_a_second_copier_of_the_same_import_leaves_the_first_ones_folder_alone(
    org_a: Member, model_folder: Path, tmp_path: Path
) -> None:
    """The e2e import once ran twice at once (the worker's task and a direct call): the second
    deleted the folder the first was writing and both ended `failed`. While another session holds
    the import's lock, a copy call returns the row untouched and writes nothing."""
    import psycopg

    with override_settings(MODEL_DIRS=[str(tmp_path / "models")], MODEL_STORE_DIR=tmp_path / "store"):
        body = org_a.client().post(_url(org_a), {"name": "twice", "origin": str(model_folder)}, format="json").json()
        target = Path(StoredModel.objects.get(pk=body["id"]).path)
        target.mkdir(parents=True)
        (target / "being-written").write_text("the first copier's file")
        params = connection.get_connection_params()
        dsn = {k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
        with psycopg.connect(**dsn, autocommit=True) as first:  # the first copier, in another session
            first.execute("SELECT pg_advisory_lock(%s, %s)", [model_copy.COPY_LOCK, body["id"]])
            stored = stored_model_copy(body["id"])
            assert stored.status == "importing" and stored.copied_bytes == 0
            assert (target / "being-written").read_text() == "the first copier's file"
            first.execute("SELECT pg_advisory_unlock(%s, %s)", [model_copy.COPY_LOCK, body["id"]])
        stored = stored_model_copy(body["id"])  # the lock free again: this call copies
    assert stored.status == "ready" and not (target / "being-written").exists()


def test_a_failed_import_says_why_and_leaves_no_files(org_a: Member, model_folder: Path, tmp_path: Path) -> None:
    with override_settings(MODEL_DIRS=[str(tmp_path / "models")], MODEL_STORE_DIR=tmp_path / "store"):
        body = org_a.client().post(_url(org_a), {"name": "gone", "origin": str(model_folder)}, format="json").json()
        (model_folder / "model.safetensors").unlink()
        (model_folder / "config.json").unlink()  # gone between the request and the copy
        stored = stored_model_copy(body["id"])
    assert stored.status == "failed" and "The import failed" in stored.status_reason
    assert not Path(stored.path).exists()


def test_a_model_still_importing_cannot_be_deployed_and_removal_checks_use(
    org_a: Member, model_folder: Path, tmp_path: Path, add_member: Callable[..., Member]
) -> None:
    with override_settings(MODEL_DIRS=[str(tmp_path / "models")], MODEL_STORE_DIR=tmp_path / "store"):
        client = org_a.client()
        body = client.post(_url(org_a), {"name": "tiny", "origin": str(model_folder)}, format="json").json()
        deploy = {"name": "tiny-dep", "stored_model": body["id"], "port": 18_123}
        url = f"/api/v1/orgs/{org_a.organization.id}/deployments/"
        refused = client.post(url, deploy, format="json")
        assert refused.status_code == 400 and refused.json()["code"] == "stored_model_not_ready"
        stored_model_copy(body["id"])
        assert client.post(url, {**deploy, "desired_state": "stopped"}, format="json").status_code == 201
        in_use = client.delete(f"{_url(org_a)}{body['id']}/")
        assert in_use.status_code == 409 and in_use.json()["code"] == "stored_model_in_use"
        viewer = add_member(org_a.organization, Role.VIEWER).client()
        assert viewer.post(_url(org_a), {"name": "x", "origin": str(model_folder)}, format="json").status_code == 403
        assert viewer.delete(f"{_url(org_a)}{body['id']}/").status_code == 403


def test_bad_imports_are_refused_before_anything_is_written(org_a: Member, org_b: Member, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with override_settings(MODEL_DIRS=[str(tmp_path / "models")], MODEL_STORE_DIR=tmp_path / "store"):
        client = org_a.client()
        cases = [
            ({"name": "a", "origin": str(outside)}, 400, "model_dir_not_allowed"),
            ({"name": "a", "origin": str(tmp_path / "models" / "missing")}, 400, "invalid"),
            ({"name": "not a slug!", "origin": "smollm2-gguf"}, 400, None),
        ]
        for payload, status, code in cases:
            response = client.post(_url(org_a), payload, format="json")
            assert response.status_code == status, (payload, response.content)
            assert code is None or response.json()["code"] == code
    assert StoredModel.objects.count() == 0
    assert org_b.client().delete(f"{_url(org_b)}999999/").status_code == 404
