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
