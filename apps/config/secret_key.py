"""SECRET_KEY for local use: generated once and kept in the data folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# Keys that must never run in production (Django's startproject prefix, ours, empty).
INSECURE_PREFIXES = ("django-insecure", "change-me", "changeme", "dev", "secret")


def local_secret_key(data_dir: Path) -> str:
    return local_secret(data_dir, "secret_key")


def local_secret(data_dir: Path, name: str) -> str:
    """A random secret generated once into `data_dir/name` (0600) and read from there after."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the same start won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def is_insecure(key: str) -> bool:
    return len(key) < 40 or key.lower().startswith(INSECURE_PREFIXES)
