"""The deployment files: Kubernetes manifests schema-checked offline (kubernetes-validate ships the
JSON schemas), and compose.yaml, the manifests and the multi-host harness set the same variables."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from apps.config import env
from tests.multihost.harness import environment_for

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33"
# Knobs only the harness turns (shorter upkeep tick, a local stand-in model it may reach).
HARNESS_ONLY = {
    "TRELLIS_EGRESS_ALLOW",
    "TRELLIS_PERIODIC_SECONDS",
    "TRELLIS_RUN_ORPHAN_SECONDS",
    "TRELLIS_KNOWLEDGE_LEASE_SECONDS",
    "OMP_NUM_THREADS",
}


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            [document] = list(yaml.safe_load_all(path.read_text()))
            found[path.name] = document
    return found


def by_kind(kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests().values() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("name", sorted(manifests()))
def test_k8s_manifest_is_valid_against_the_kubernetes_schema(name: str) -> None:
    kubernetes_validate.validate(manifests()[name], KUBERNETES_VERSION, strict=True)  # raises if invalid


def test_k8s_schema_check_catches_a_wrong_field() -> None:
    broken = by_kind("Deployment", "trellis-web")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_k8s_kustomization_lists_every_manifest_in_one_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(manifests())
    namespaced = [m for m in manifests().values() if m["kind"] != "Namespace"]
    assert {m["metadata"]["namespace"] for m in namespaced} == {kustomization["namespace"]}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_k8s_web_is_ready_on_readyz_scaled_on_cpu_and_kept_available() -> None:
    web, worker = by_kind("Deployment", "trellis-web"), by_kind("Deployment", "trellis-worker")
    assert _container(web)["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "--no-worker" in _container(web)["command"] and "serve" in _container(web)["command"]
    assert _container(worker)["command"][-1] == "run_huey"
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = by_kind("HorizontalPodAutoscaler", "trellis-web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "trellis-web"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    for deployment in (web, worker):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [pdb] = [
            m
            for m in manifests().values()
            if m["kind"] == "PodDisruptionBudget" and m["spec"]["selector"]["matchLabels"] == labels
        ]
        assert pdb["spec"].get("minAvailable", 1) >= 1
    service = by_kind("Service", "trellis-web")
    assert service["spec"]["selector"] == web["spec"]["template"]["metadata"]["labels"]


def test_k8s_secrets_hold_the_keys_and_the_external_services() -> None:
    secret = by_kind("Secret", "trellis-secrets")["stringData"]
    assert {"SECRET_KEY", "TRELLIS_ENCRYPTION_KEY", "METRICS_TOKEN", "DATABASE_URL", "REDIS_URL"} == set(secret)
    config = by_kind("ConfigMap", "trellis-config")["data"]
    assert not set(config) & set(secret), "a variable both in the ConfigMap and the Secret"
    for deployment in ("trellis-web", "trellis-worker"):
        sources = _container(by_kind("Deployment", deployment))["envFrom"]
        assert {"trellis-config", "trellis-secrets"} == {
            (s.get("configMapRef") or s.get("secretRef"))["name"] for s in sources
        }


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_compose_k8s_and_the_harness_set_the_same_variables() -> None:
    services = _compose()["services"]
    compose_vars = set(services["web"]["environment"])
    assert compose_vars == set(services["worker"]["environment"]) == set(services["migrate"]["environment"])
    k8s_vars = set(by_kind("Secret", "trellis-secrets")["stringData"]) | set(
        by_kind("ConfigMap", "trellis-config")["data"]
    )
    assert k8s_vars == compose_vars, (sorted(k8s_vars - compose_vars), sorted(compose_vars - k8s_vars))
    assert compose_vars <= env.READ, sorted(compose_vars - env.READ)
    service = SimpleNamespace(url="tcp://service")
    harness = set(environment_for(service, service, 1)) - set(os.environ)  # type: ignore[arg-type]
    harness_vars = {k for k in harness if k.startswith(("TRELLIS_", "DATABASE_", "REDIS_", "SECRET_", "ALLOWED_"))}
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TRELLIS_ENCRYPTION_KEY"} <= harness_vars
    assert harness_vars - HARNESS_ONLY <= compose_vars, sorted(harness_vars - HARNESS_ONLY - compose_vars)


def test_compose_scales_web_and_worker_behind_the_balancer() -> None:
    services = _compose()["services"]
    for name in ("web", "worker"):
        assert "ports" not in services[name] and "container_name" not in services[name]  # --scale works
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["balancer"]["volumes"] == ["./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert services["balancer"]["ports"] == ["8000:8000"]


def test_balancer_configuration_is_valid() -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "haproxy is not installed: run `make system-deps`"
    result = subprocess.run(
        [haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
