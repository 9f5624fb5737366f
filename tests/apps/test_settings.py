"""Settings from the environment: production refusals, Redis switch, compose.yaml variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from apps.config import env

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.CHANNEL_LAYERS['default']['BACKEND'], s.HUEY['huey_class'], s.DATABASES['default']['HOST']]))"
)


def _settings_process(probe: str = PROBE, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TRELLIS_ENV"}}
    environment.update({"DJANGO_SETTINGS_MODULE": "apps.config.settings", **overrides})
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_settings_production_refuses_debug() -> None:
    result = _settings_process(
        TRELLIS_ENV="production", DEBUG="1", SECRET_KEY="x" * 60, DATABASE_URL="postgres://u:p@db/trellis"
    )
    assert result.returncode != 0
    assert "DEBUG is on" in result.stderr


def test_settings_production_refuses_default_or_missing_secret() -> None:
    for secret in ["", "django-insecure-" + "a" * 50, "short"]:
        result = _settings_process(TRELLIS_ENV="production", SECRET_KEY=secret, DATABASE_URL="postgres://u:p@db/t")
        assert result.returncode != 0, secret
        assert "SECRET_KEY" in result.stderr


def test_settings_production_with_real_secret_starts() -> None:
    result = _settings_process(
        TRELLIS_ENV="production",
        SECRET_KEY="Zq8" + "k3Jx9" * 12,
        DATABASE_URL="postgres://u:p@db:5432/trellis",
        REDIS_URL="redis://redis:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert "channels_redis.core.RedisChannelLayer" in result.stdout
    assert "huey.RedisHuey" in result.stdout


def test_settings_embedded_defaults_without_urls() -> None:
    result = _settings_process()
    assert result.returncode == 0, result.stderr
    assert "InMemoryChannelLayer" in result.stdout
    assert "huey.SqliteHuey" in result.stdout
    assert "/pg" in result.stdout  # the socket folder of the embedded server


def test_settings_local_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    from apps.config.secret_key import local_secret_key

    first = local_secret_key(tmp_path)
    assert len(first) >= 50
    assert local_secret_key(tmp_path) == first
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_compose_sets_only_variables_the_settings_read() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    trellis_services = ["web", "worker"]  # db, redis and vllm are configured by their own images
    set_vars: set[str] = set()
    for name in trellis_services:
        environment = compose["services"][name]["environment"]
        set_vars.update(environment.keys())
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TRELLIS_ENV"} <= set_vars
    assert set_vars <= env.READ, sorted(set_vars - env.READ)


def _asgi_gc_thresholds(**overrides: str) -> subprocess.CompletedProcess[str]:
    return _settings_process(probe="import gc, apps.config.asgi; print(gc.get_threshold())", **overrides)


def test_asgi_gc_thresholds_default_and_setting() -> None:
    default = _asgi_gc_thresholds()
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().splitlines()[-1] == "(20000, 20, 20)"
    chosen = _asgi_gc_thresholds(TRELLIS_GC_THRESHOLDS="20000, 2, 100")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip().splitlines()[-1] == "(20000, 2, 100)"


def test_asgi_gc_thresholds_refuses_bad_values() -> None:
    for bad in ["20000,20", "20000,0,20", "a,b,c", "20000,-1,20"]:
        result = _asgi_gc_thresholds(TRELLIS_GC_THRESHOLDS=bad)
        assert result.returncode != 0, bad
        assert "TRELLIS_GC_THRESHOLDS must be three positive integers" in result.stderr, bad
