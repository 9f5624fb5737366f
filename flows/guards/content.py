"""Content checks from word and pattern lists: built-in categories plus a policy's own lists.

Lists, not a model: they are predictable, and a policy can add its own words or regular
expressions (run with a timeout, like the branch node's). A moderation model is a separate,
slower check (the LLM classifier route of a branch node, or an endpoint) and not part of this.
"""

from __future__ import annotations

import regex

from flows.guards.findings import Finding

REGEX_TIMEOUT_S = 0.05

CATEGORIES: dict[str, tuple[str, ...]] = {
    "violence": (
        "kill you",
        "murder",
        "shoot up",
        "bomb threat",
        "make a bomb",
        "build a bomb",
        "pipe bomb",
        "stab you",
        "behead",
    ),
    "self_harm": ("kill myself", "suicide", "self-harm", "self harm", "end my life", "cut myself"),
    "hate": ("subhuman", "ethnic cleansing", "gas the", "white power", "racial purity"),
    "sexual": ("explicit sex", "porn", "nude photos", "sexual content with"),
    "weapons": (
        "untraceable gun",
        "ghost gun",
        "3d printed gun",
        "convert to full auto",
        "nerve agent",
        "sarin",
        "ricin",
        "anthrax",
    ),
    "drugs": ("synthesize meth", "cook meth", "make fentanyl", "synthesise meth"),
    "profanity": ("fuck", "shit", "bitch", "asshole", "cunt", "motherfucker"),
}


def _word_pattern(words: tuple[str, ...] | list[str]) -> regex.Pattern[str]:
    return regex.compile(r"\b(?:" + "|".join(regex.escape(w) for w in words) + r")\b", regex.IGNORECASE)


_COMPILED = {name: _word_pattern(words) for name, words in CATEGORIES.items()}


def scan_content(
    text: str,
    *,
    categories: list[str] | None = None,
    words: list[str] | None = None,
    patterns: list[str] | None = None,
) -> list[Finding]:
    found: list[Finding] = []
    for name in categories if categories is not None else list(CATEGORIES):
        compiled = _COMPILED.get(name)
        if compiled is not None:
            found.extend(Finding("content", name, m.start(), m.end(), 0.9) for m in compiled.finditer(text))
    if words:
        found.extend(Finding("content", "words", m.start(), m.end(), 1.0) for m in _word_pattern(words).finditer(text))
    for pattern in patterns or []:
        try:
            found.extend(
                Finding("content", "pattern", m.start(), m.end(), 1.0)
                for m in regex.finditer(pattern, text, flags=regex.IGNORECASE, timeout=REGEX_TIMEOUT_S)
            )
        except (TimeoutError, regex.error):
            continue
    return found
