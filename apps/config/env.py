"""Typed access to environment variables, recording every name the settings read.

The record lets a test prove that compose.yaml sets no variable the settings ignore.
"""

from __future__ import annotations

import os

READ: set[str] = set()


def text(name: str, default: str = "") -> str:
    READ.add(name)
    return os.environ.get(name, default)


def flag(name: str, default: bool = False) -> bool:
    raw = text(name, "1" if default else "0").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def integer(name: str, default: int) -> int:
    raw = text(name, str(default)).strip()
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def listing(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in text(name, default).split(",") if item.strip()]
