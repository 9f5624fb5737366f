"""Guardrails, pure: personal-data recognizers, injection heuristics, content lists, output checks,
redaction, and the policy that combines them. No Django, no database, no model download."""

from flows.guards.findings import Finding
from flows.guards.injection import InjectionResult, scan_injection
from flows.guards.pii import ALL_ENTITIES, PATTERN_ENTITIES, scan_pii
from flows.guards.policy import GuardPolicy, Hit, Verdict, guard_text
from flows.guards.redact import Redacted, redact, restore

__all__ = [
    "ALL_ENTITIES",
    "PATTERN_ENTITIES",
    "Finding",
    "GuardPolicy",
    "Hit",
    "InjectionResult",
    "Redacted",
    "Verdict",
    "guard_text",
    "redact",
    "restore",
    "scan_injection",
    "scan_pii",
]
