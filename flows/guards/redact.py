"""Placeholders for what a check found, and the way back for the one reply that may show them.

`redact` replaces each finding with `[EMAIL_1]`-style tokens (the same value gets the same token
within a text). The mapping back lives only in memory, in the run that made it: a policy that
allows it (`reversible`) restores the values in the reply shown to that visitor, and nothing that
is stored ever holds the mapping or the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flows.guards.findings import Finding

_TOKEN = re.compile(r"\[([A-Z_]+)_(\d+)\]")


@dataclass
class Redacted:
    text: str
    mapping: dict[str, str] = field(default_factory=dict)  # placeholder -> original (memory only)

    def restore(self, text: str) -> str:
        return restore(text, self.mapping)


def redact(text: str, findings: list[Finding], *, mapping: dict[str, str] | None = None) -> Redacted:
    mapping = dict(mapping or {})
    by_value = {value: token for token, value in mapping.items()}
    counters: dict[str, int] = {}
    for token in mapping:
        if (m := _TOKEN.fullmatch(token)) is not None:
            counters[m.group(1)] = max(counters.get(m.group(1), 0), int(m.group(2)))
    parts: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < cursor:
            continue  # overlapping findings: the first one wins
        value = text[finding.start : finding.end]
        known = by_value.get(value)
        if known is None:
            counters[finding.label] = counters.get(finding.label, 0) + 1
            token = f"[{finding.label}_{counters[finding.label]}]"
            by_value[value], mapping[token] = token, value
        else:
            token = known
        parts.extend((text[cursor : finding.start], token))
        cursor = finding.end
    parts.append(text[cursor:])
    return Redacted("".join(parts), mapping)


def restore(text: str, mapping: dict[str, str]) -> str:
    if not mapping:
        return text
    return _TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def restore_value(value: object, mapping: dict[str, str]) -> object:
    """`restore` through the strings of a JSON-like value (an event's outputs)."""
    if not mapping:
        return value
    if isinstance(value, str):
        return restore(value, mapping)
    if isinstance(value, list):
        return [restore_value(item, mapping) for item in value]
    if isinstance(value, dict):
        return {key: restore_value(item, mapping) for key, item in value.items()}
    return value


# The longest text a placeholder can be (`[STREET_ADDRESS_12]`): what a stream may hold back.
_LONGEST_TOKEN = 40
_PARTIAL = re.compile(r"\[[A-Z_]*\d*$")


class StreamRestorer:
    """`restore` for text that arrives in pieces (streamed tokens): a piece that ends inside a
    placeholder (`... at [EMA`) is held back until the placeholder is whole. `mapping` is read at
    each piece, so placeholders added later in the run (the answer's own) restore too."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self.pending = ""

    def feed(self, piece: str) -> str:
        text = self.pending + piece
        self.pending = ""
        partial = _PARTIAL.search(text, max(0, len(text) - _LONGEST_TOKEN))
        if partial is not None:
            text, self.pending = text[: partial.start()], text[partial.start() :]
        return restore(text, self.mapping)

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return restore(text, self.mapping)
