# ruff: noqa: RUF001 - other scripts' letters and quotation marks are what these patterns are about
"""Quoted or discussed attacks (ADR 0008 wave 8): text ABOUT prompt injection quotes attacks as
examples ("phrases such as 'ignore previous instructions'", a training slide, search results about
jailbreaks, a pull request that adds a test fixture). Set 8's document false positives were mostly
such text. `mask_discussed` blanks the examples out of a text that discusses attacks, so the rules
and the model judge what the text itself asks of its reader:

- the text must be about attacks: a topic word (prompt injection, jailbreak, attacker, payload,
  phishing, red team, security training, ...; in the languages the rules cover) outside the
  examples themselves, or in a quoted name of a few words (a search query, a title);
- an example is a quoted span (straight, curly, guillemets, CJK corner brackets, backticks, a fenced
  code block) or what follows an example marker ("such as", "e.g.", "for example", "a classic
  example is", "z. B.", "par exemple", "por ejemplo", "例如", "例えば", "예를 들어", ...) up to the end of
  its sentence, each at most MAX_EXAMPLE characters.

A live attack that only wraps itself in quotes ('Assistant: "ignore your rules and ..."') has no
topic word and is left as written; an attack inside a discussion that also speaks to the reader
outside its quotes is judged on that part. The cost is a few regular expressions, linear in the
text (no nested quantifiers over the same characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_EXAMPLE = 400  # characters: a longer "quote" is the text itself, not an example in it
PLACEHOLDER = "[example]"
SHORT_NAME = 4  # words: a quoted search query or title that names the topic ("jailbreak prompts")


def _fast(alternatives: str, tail: str = "") -> re.Pattern[str]:
    """The alternatives (split at the top-level "|"), case-insensitive, behind a lookahead on their
    first letters: the engine skips every other position at once (about twice as fast on 2,000
    characters). Each alternative must begin with a literal letter, after an optional \\b."""
    firsts: set[str] = set()
    for alternative in alternatives.split("|"):
        head = alternative.removeprefix(r"\b")[:1]
        if not head or not (head.isalpha() or head.isdigit()):
            raise ValueError(f"an alternative must begin with a letter: {alternative!r}")
        firsts |= {head.lower(), head.upper()}
    return re.compile(rf"(?=[{''.join(sorted(firsts))}])(?:{alternatives}){tail}", re.IGNORECASE)


_TOPIC = _fast(
    r"prompt[- ]?injection|injection (?:attacks?|prompts?|payloads?)|\bjail ?break|\bjailbroken\b|"
    r"\battack(?:s|ers?|ing)?\b|\bpayloads?\b|\bphishing\b|social engineering|red[- ]team|\badversarial\b|"
    r"\bmalicious\b|\binjections?\b|false[- ]positives?|\bexploit(?:s|ed|ing)?\b|"
    r"security (?:training|awareness|review|research|advisory|team|test)|"
    r"\bowasp\b|\bllm0?1\b|\bthreat model|\bcve-\d|\bguardrails?\b|\bsafety filter|\bcontent filter|"
    r"\bdetector\b|\bclassifier\b|\btest (?:case|fixture|corpus)|\bfixtures?\b|\bexamples? of (?:an? )?"
    r"(?:attack|injection|jailbreak)|"
    # fr, es, pt, it, de, nl, pl, ru, tr, vi
    r"injection de (?:prompt|commande|consigne)|injection d'(?:invite|instructions?)|\battaque|"
    r"inyecci[oó]n de (?:prompt|instrucciones)|\bataque|inje[çc][ãa]o de (?:prompt|instru[çc][õo]es)|"
    r"iniezione di (?:prompt|istruzioni)|\binyecci[oó]n(?:es)?\b|\binje[çc][ãa]o\b|\binje[çc][õo]es\b|\biniezion[ei]\b|"
    r"\battacc[oh]i?\b|prompt-injektion|\bangriff|\bangreifer|"
    r"\baanval|\bwstrzykiwani|\batak|инъекци|джейлбрейк|\bатак|saldırı|enjeksiyon|"
    r"tấn công|chèn lệnh|chèn prompt|"
    # zh, ja, ko
    r"提示注入|提示词注入|越狱|攻击|注入攻击|プロンプトインジェクション|インジェクション|脱獄|攻撃|"
    r"프롬프트 인젝션|인젝션|탈옥|공격"
)

_N = MAX_EXAMPLE
_QUOTED = re.compile(
    rf"```[^`]{{1,{_N}}}```|`[^`\n]{{4,{_N}}}`|\"[^\"\n]{{4,{_N}}}\"|“[^”\n]{{4,{_N}}}”|„[^“”\n]{{4,{_N}}}[“”]|"
    rf"«[^»\n]{{4,{_N}}}»|「[^」\n]{{2,{_N}}}」|『[^』\n]{{2,{_N}}}』|(?<![\w])'[^'\n]{{8,{_N}}}'(?![\w])|‘[^’\n]{{4,{_N}}}’"
)

_MARKER = _fast(
    r"\bsuch as|\be\.g\.,?|\bfor example,?|\bfor instance,?|\ba (?:classic|typical|common|known|famous|simple) "
    r"(?:example|one|payload|attack|case) (?:is|reads|goes|would be)|\bone (?:classic|typical|common|known|"
    r"famous|simple) (?:example|one|payload|attack|case) (?:is|reads|goes|would be)|\bphrases? like|"
    r"\bsomething like|\bstrings? like|\blines? like|\bmessages? like|\bprompts? like|\bthings like|"
    r"\bz\. ?b\.|\bzum beispiel|\bbeispielsweise|\bpar exemple|\bcomme par exemple|\bdu type|\bpor ejemplo|"
    r"\bcomo por ejemplo|\bpor exemplo|\bad esempio|\bper esempio|\bbijvoorbeeld|\bna przykład|\bnaprzykład|"
    r"\bнапример|\börneğin|\bví dụ(?: như)?|例如|比如|譬如|例えば|たとえば|예를 들어|예컨대",
    r"\s*[:：]?\s*",
)
_SENTENCE_END = re.compile(r"[.!?。！？\n]")


_JSON_VALUE = re.compile(r'(?:"\s*:|[{\[]|\w\(|",)\s*$')  # after a key, a brace, a call's "(", a string
_JSON_KEY_BEFORE = re.compile(r"[{,]\s*$")
_JSON_KEY_AFTER = re.compile(r"\s*:")


def _is_json_string(text: str, start: int, end: int) -> bool:
    """A double-quoted JSON key or value (or a function's argument): data, not a quotation."""
    if text[start] != '"':
        return False
    before = text[max(0, start - 12) : start]
    if _JSON_VALUE.search(before) is not None:
        return True
    return _JSON_KEY_BEFORE.search(before) is not None and _JSON_KEY_AFTER.match(text, end) is not None


def _spans(text: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _QUOTED.finditer(text) if not _is_json_string(text, m.start(), m.end())]
    for marker in _MARKER.finditer(text):
        start = marker.end()
        end_match = _SENTENCE_END.search(text, start, start + MAX_EXAMPLE)
        end = end_match.start() if end_match is not None else min(len(text), start + MAX_EXAMPLE)
        if end - start >= 4:
            spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def discussed_spans(text: str) -> list[tuple[int, int]]:
    """The attack examples `text` quotes (start, end), when it discusses attacks; else none."""
    spans = _spans(text)
    if not spans:
        return []
    outside = []
    at = 0
    for start, end in spans:
        outside.append(text[at:start])
        at = end
    outside.append(text[at:])
    # A topic word outside the examples, or in a short quoted name (a search query, a title).
    names = [text[start:end] for start, end in spans if len(text[start:end].split()) <= SHORT_NAME]
    if _TOPIC.search(" ".join(outside + names)) is None:
        return []
    return spans


@dataclass(frozen=True)
class Masked:
    """A text with its quoted examples blanked out, and where they were (to map offsets back)."""

    text: str
    original: str
    spans: tuple[tuple[int, int], ...] = ()

    def position(self, at: int) -> int:
        """The offset in `original` of offset `at` in `text` (inside a placeholder: its example's start)."""
        shift = 0
        for start, end in self.spans:
            masked_start = start + shift
            if at < masked_start:
                break
            if at < masked_start + len(PLACEHOLDER):
                return start
            shift += len(PLACEHOLDER) - (end - start)
        return min(max(at - shift, 0), len(self.original))


def masked(text: str) -> Masked:
    """`text` with the attack examples it quotes blanked out (PLACEHOLDER), when it discusses attacks."""
    spans = discussed_spans(text)
    if not spans:
        return Masked(text, text)
    out = []
    at = 0
    for start, end in spans:
        out.append(text[at:start])
        out.append(PLACEHOLDER)
        at = end
    out.append(text[at:])
    return Masked("".join(out), text, tuple(spans))


def mask_discussed(text: str) -> str:
    """`text` with the attack examples it quotes blanked out, when it discusses attacks; else
    `text` unchanged."""
    return masked(text).text
