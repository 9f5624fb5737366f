"""What a check reports: a finding with its place in the text, never the matched value itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # "pii", "injection", "content", "canary", "link", "schema"
    label: str  # the entity ("EMAIL", "PERSON"), attack class ("override") or category
    start: int
    end: int
    score: float  # 0..1

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end

    def to_dict(self) -> dict[str, object]:
        return {"check": self.check, "label": self.label, "start": self.start, "end": self.end, "score": self.score}


def without_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep the highest-scoring (then longest) finding where several cover the same characters."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start)):
        if not any(finding.overlaps(other) for other in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
