"""Checks on what the model answers: a leaked system prompt, links outside an allowlist, and
conformance to a JSON schema. (Personal data in the answer is flows/guards/pii.py, as for input.)"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]

from flows.guards.findings import Finding

CANARY_PREFIX = "trellis-canary-"
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]\"'`]+", re.IGNORECASE)
_SHINGLE = 8  # consecutive words of the system prompt that count as a leak


def canary_new() -> str:
    """A marker to put in a system prompt: it appearing in an answer means the prompt leaked."""
    return CANARY_PREFIX + secrets.token_hex(6)


def scan_canary(text: str, canary: str) -> list[Finding]:
    if not canary:
        return []
    return [Finding("canary", "canary", m.start(), m.end(), 1.0) for m in re.finditer(re.escape(canary), text)]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def scan_prompt_echo(text: str, system_prompt: str) -> list[Finding]:
    """Eight or more consecutive words of the system prompt repeated in the answer."""
    prompt_words = _words(system_prompt)
    if len(prompt_words) < _SHINGLE:
        return []
    shingles = {tuple(prompt_words[i : i + _SHINGLE]) for i in range(len(prompt_words) - _SHINGLE + 1)}
    answer = _words(text)
    for i in range(len(answer) - _SHINGLE + 1):
        if tuple(answer[i : i + _SHINGLE]) in shingles:
            return [Finding("canary", "prompt_echo", 0, len(text), 0.9)]
    return []


def host_allowed(host: str, allowlist: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for raw in allowlist:
        entry = raw.lower().strip()
        if entry.startswith("*."):
            if host.endswith(entry[1:]) or host == entry[2:]:
                return True
        elif host == entry:
            return True
    return False


def scan_links(text: str, allowlist: list[str]) -> list[Finding]:
    found = []
    for match in _URL.finditer(text):
        url = match.group()
        host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
        if not host_allowed(host, allowlist):
            found.append(Finding("link", "link", match.start(), match.end(), 1.0))
    return found


def scan_schema(text: str, schema: dict[str, Any]) -> list[Finding]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [Finding("schema", "not_json", 0, len(text), 1.0)]
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return [Finding("schema", "schema_mismatch", 0, len(text), 1.0)]
    except jsonschema.SchemaError:
        return [Finding("schema", "bad_schema", 0, len(text), 1.0)]
    return []
