"""Prompt-injection and jailbreak heuristics, with a score and an attack class.

Each rule is a weighted pattern; a text's score is 1 - prod(1 - w) over the rules that match, so
one strong signal (an instruction override) or several weak ones (a role-play set-up and a fake
system header) cross the threshold. Encoded payloads (base64, hex, ROT13) are decoded and scanned
again. `source="document"` adds the rules for indirect injection: text in a retrieved chunk or a
tool result that addresses the model instead of the reader.

A heuristic, not a classifier: docs/adr/0008 says what it misses; docs/BENCHMARKS.md has its
recall and false-positive rate on tests/data/guardrails/.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass
from typing import Literal

from flows.guards.findings import Finding

Source = Literal["user", "document"]
ATTACK_CLASSES = ("override", "prompt_leak", "roleplay", "encoded", "tool_smuggling", "indirect")

_I = re.IGNORECASE | re.UNICODE
_OBJ_EN = (
    r"(?:instructions?|prompts?|rules|directives?|directions|guidelines|guidance|commands?|orders|context"
    r"|programming|guardrails|training|restrictions|constraints|policies|system message)"
)


@dataclass(frozen=True)
class Rule:
    attack: str
    pattern: re.Pattern[str]
    weight: float
    cased: bool = False  # searched in the text as written; the others in its lower-case copy


def _lowered(pattern: str) -> str:
    """The pattern for lower-case text: letters lowered, escapes (\\S, \\W, \\B) kept."""
    return re.sub(r"\\.|[^\\]+", lambda m: m.group() if m.group().startswith("\\") else m.group().lower(), pattern)


def _rule(attack: str, pattern: str, weight: float, *, cased: bool = False) -> Rule:
    # Searching lower-cased text without IGNORECASE is several times faster in `re`.
    if cased:
        return Rule(attack, re.compile(pattern, re.UNICODE), weight, cased=True)
    return Rule(attack, re.compile(_lowered(pattern), re.UNICODE), weight)


OVERRIDE = (
    _rule(
        "override",
        rf"\b(?:ignore|disregard|forget|skip|drop|bypass|override|neglect|set aside|overlook|abandon|discard"
        rf"|throw out|pay no attention to|put aside|dismiss)\b[^.\n]{{0,40}}"
        rf"\b(?:previous|prior|above|earlier|preceding|all|your|system|original|initial|the developer'?s?)\b"
        rf"[^.\n]{{0,25}}\b{_OBJ_EN}",
        0.9,
    ),
    _rule(
        "override",
        rf"\b(?:do not|don't|stop)\s+(?:follow(?:ing)?|obey(?:ing)?)\s+(?:your|the|any|those)\s+"
        rf"(?:previous\s+|original\s+|system\s+)?{_OBJ_EN}",
        0.85,
    ),
    _rule("override", r"\b(?:new|updated|real|actual|revised)\s+(?:system\s+)?instructions?\s*(?::|are\b|follow)", 0.6),
    _rule(
        "override",
        r"\bfrom now on,?\s+(?:you(?:'re|\s+(?:are|will|must|shall|have))|respond|answer|act|ignore)",
        0.55,
    ),
    _rule("override", r"\byour (?:new|only|real) (?:task|goal|purpose|instructions?|role) (?:is|are)\b", 0.6),
    _rule(
        "override",
        r"\b(?:forget|wipe|reset|clear)\s+(?:everything|all)(?:\s+(?:you (?:were|have been) told|above|"
        r"before|previously|so far|i said))",
        0.8,
    ),
    # French, German, Spanish, Italian, Portuguese, Vietnamese, Chinese, Russian, Japanese
    _rule(
        "override",
        r"\b(?:ignore[zs]?|oublie[zs]?|ne tiens? pas compte d)[^.\n]{0,30}\b(?:instructions?|consignes|"
        r"règles|directives)\b[^.\n]{0,20}\b(?:précédentes|antérieures|ci-dessus|initiales|du système)?",
        0.9,
    ),
    _rule(
        "override",
        r"\b(?:ignorier(?:e|en sie)?|vergiss|vergessen sie|missachte)\b[^.\n]{0,30}\b(?:Anweisungen|"
        r"Instruktionen|Regeln|Vorgaben|Befehle|Anordnungen)\b",
        0.9,
    ),
    _rule(
        "override",
        r"\b(?:ignora|olvida|olvídate de|omite|ignore|esqueça|esqueca|dimentica)\b[^.\n]{0,30}\b"
        r"(?:instrucciones|instruções|instrucoes|istruzioni|reglas|regras|regole|indicaciones)\b",
        0.9,
    ),
    _rule(
        "override",
        r"(?:bỏ qua|phớt lờ|quên|lờ đi|không tuân theo)[^.\n]{0,30}(?:hướng dẫn|chỉ dẫn|chỉ thị|"
        r"lệnh|quy tắc|yêu cầu trước)",
        0.9,
    ),
    _rule(
        "override",
        r"(?:忽略|无视|忘记|忘掉|不要理会|不要遵守)[^。\n]{0,12}"
        r"(?:指令|指示|说明|规则|提示|要求|设定)",
        0.9,
    ),
    _rule("override", r"(?:игнорируй|игнорируйте|забудь|забудьте)[^.\n]{0,30}(?:инструкции|указания|правила)", 0.9),
    _rule("override", r"(?:以前|前|上記|これまで)の(?:指示|命令|ルール)を(?:無視|忘れ)", 0.9),
    _rule(
        "override",
        r"\b(?:ignore|disregard|forget|set aside|overlook|drop)\s+(?:whatever|everything|anything|all)\s+(?:you"
        r"(?:'ve| have)? (?:were|been)? ?(?:told|given|taught|instructed)|(?:they|the developers?|your creators?)"
        r" (?:told|gave|said))",
        0.85,
    ),
    _rule(
        "override",
        r"\b(?:the |your |these |those )?(?:rules|restrictions|guidelines|policies|filters) (?:don't|do not|no "
        r"longer|doesn't|does not) apply\b",
        0.7,
    ),
    _rule(
        "override",
        r"\b(?:obey|listen to|follow) (?:me|my (?:orders|commands|instructions)) (?:and not|not|instead of|rather "
        r"than|over) (?:the |your )?(?:developers?|creators?|company|system|rules|openai)",
        0.8,
    ),
    _rule("override", r"\b(?:vergiss|vergessen sie) alles\b", 0.7),
    _rule("override", r"\b(?:oublie|oubliez) tout\b[^.\n]{0,30}\b(?:dit|appris|instructions|règles)", 0.7),
)

PROMPT_LEAK = (
    _rule(
        "prompt_leak",
        r"\bwhat (?:instructions|rules|guidelines|directions|orders) (?:did|were|have) (?:the company|they|your "
        r"(?:developers?|creators?|company|owners?)|you)\b[^.\n?]{0,30}(?:give|given|told|set|get)",
        0.7,
    ),
    _rule(
        "prompt_leak",
        r"\b(?:print|show|dump|output|reveal|list|repeat)\b[^.\n]{0,30}\b(?:your |the )?(?:context window|"
        r"hidden (?:text|content|instructions)|everything (?:you were|you've been) (?:told|given))",
        0.75,
    ),
    _rule(
        "prompt_leak",
        r"\b(?:reveal|print|show|display|repeat|output|dump|leak|tell me|give me|write out|"
        r"recite|spell out|what (?:is|are|was|were))\b[^.\n?]{0,40}\b(?:system|initial|original|hidden|secret|"
        r"developer|pre-?)[\s-]?(?:prompt|instructions|message|rules|configuration)",
        0.85,
    ),
    _rule(
        "prompt_leak",
        r"\b(?:repeat|print|output|copy)\b[^.\n]{0,30}\b(?:the )?(?:text|words|everything|"
        r"content) (?:above|before (?:this|my)|preceding)",
        0.75,
    ),
    _rule(
        "prompt_leak",
        r"(?:montre|affiche|révèle|répète|zeig|gib|nenne|muestra|revela|repite|hiển thị|tiết lộ|"
        r"显示|输出|告诉我|打印)[^.\n。]{0,30}(?:prompt système|instructions (?:système|initiales)|Systemprompt|"
        r"System-Prompt|Systemanweisungen|prompt del sistema|instrucciones del sistema|lời nhắc hệ thống|"
        r"system prompt|系统提示|系统指令|初始指令)",
        0.85,
    ),
)

ROLEPLAY = (
    # Jailbreak names alone are weak (people ask what DAN is): they count with another signal.
    _rule(
        "roleplay",
        r"\b(?:turn off|disable|deactivate|switch off|remove|bypass)\s+(?:your |the |all |any )?(?:safety|content|"
        r"moderation|ethical)?\s*(?:filters?|guardrails|safeguards|restrictions|safety)\b",
        0.6,
    ),
    _rule("roleplay", r"\b(?:never|won't ever|will not ever|doesn't|does not) (?:refuse|refuses|say no)\b", 0.4),
    _rule(
        "roleplay", r"\b(?:DAN|STAN|DUDE|BetterDAN)\b|(?i:\bjailbreak(?:ed)?\b|\bdo anything now\b)", 0.35, cased=True
    ),
    _rule(
        "roleplay",
        r"\b(?:you are|you're|act as|pretend (?:to be|you are)|roleplay as|role-play as|behave like|"
        r"become|simulate|imagine you are)\b[^.\n]{0,60}\b(?:no|without|free (?:of|from)|not bound by|ignores?|"
        r"unrestricted|uncensored|unfiltered|unlimited|amoral|unethical|evil|jailbroken)\b",
        0.7,
    ),
    _rule(
        "roleplay",
        r"\b(?:answer|respond|reply|talk|speak|write)\w*\b[^.\n]{0,30}\b(?:without|with no|free of)\s+"
        r"(?:any\s+)?(?:restrictions?|filters?|limits?|censorship|rules|guidelines|warnings|refusing)",
        0.7,
    ),
    _rule(
        "roleplay",
        r"\b(?:no longer|not) (?:bound|restricted|limited) by (?:any |your |openai'?s? |the )?"
        r"(?:rules|guidelines|policies|restrictions|content polic(?:y|ies)|ethics)",
        0.8,
    ),
    _rule(
        "roleplay",
        r"\b(?:stay in character|never break character|two responses|both responses|"
        r"\[(?:🔓)?JAILBREAK\]|\[CLASSIC\]|answer as both)\b",
        0.55,
    ),
    _rule(
        "roleplay",
        r"\b(?:enable|enter|activate|switch to|turn on)\s+(?:god|unrestricted|jailbreak|sudo|"
        r"uncensored|evil)\s+mode\b",
        0.8,
    ),
    # Developer mode is also a phone setting: weak alone.
    _rule(
        "roleplay",
        r"\b(?:enable|enter|activate|switch to|turn on|you(?:'re| are) in)\s+(?:developer|dev|debug|"
        r"admin)\s+mode\b",
        0.4,
    ),
    _rule(
        "roleplay",
        r"\b(?:does not|doesn't|don't|do not|never|no longer) (?:have to |need to )?(?:abide by|follow|"
        r"obey|comply with) (?:any |the |its |your )?(?:rules|guidelines|policies|restrictions|laws)",
        0.6,
    ),
    _rule(
        "roleplay",
        r"\bhypothetical(?:ly)?\b[^.\n]{0,60}\b(?:no (?:rules|restrictions|filters)|without "
        r"(?:restrictions|rules|filters|any limits))",
        0.6,
    ),
    _rule(
        "roleplay",
        r"(?:tu es maintenant|du bist jetzt|ahora eres|bây giờ bạn là|你现在是)[^.\n。]{0,50}"
        r"(?:sans (?:restrictions|limites|filtre)|ohne (?:Einschränkungen|Regeln|Filter)|sin (?:restricciones|"
        r"reglas|filtros)|không (?:có )?(?:giới hạn|hạn chế|quy tắc)|没有(?:任何)?(?:限制|规则|约束))",
        0.8,
    ),
)

TOOL_SMUGGLING = (
    _rule("tool_smuggling", r"<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|?>", 0.85),
    _rule("tool_smuggling", r"</?(?:tool_call|function_call|tool_use|tool_result|system|instructions?)>", 0.7),
    _rule("tool_smuggling", r"\[/?INST\]|<<\/?SYS>>", 0.8),
    _rule("tool_smuggling", r"[\"'](?:tool_calls|function_call)[\"']\s*:", 0.7),
    _rule(
        "tool_smuggling",
        r"\{\s*[\"']name[\"']\s*:\s*[\"'][\w.-]+[\"']\s*,\s*[\"'](?:arguments|parameters|args)"
        r"[\"']\s*:",
        0.6,
    ),
    _rule("tool_smuggling", r"(?:^|\n)\s*(?:#{1,3}\s*)?(?:system|developer)\s*(?:message|prompt)?\s*:\s*\S", 0.55),
    _rule(
        "tool_smuggling",
        r"\b(?:call|invoke|execute|run|use)\s+(?:the\s+)?(?:tool|function)\s+[`'\"]?\w+[`'\"]?"
        r"[^.\n]{0,40}\b(?:with|using)\b[^.\n]{0,40}(?:https?://|rm -rf|DROP TABLE|/etc/passwd|api[_ ]?key|"
        r"password|secret)",
        0.75,
    ),
)

INDIRECT = (
    _rule(
        "indirect",
        r"\b(?:attention|note|message|instructions?|important|p\.?s\.?)\s*,?\s+(?:(?:to|for)\s+)?"
        r"(?:the\s+|any\s+|all\s+)?"
        r"(?:AI|A\.I\.|LLM|language model|assistant|chatbot|bot|GPT|model|agent)s?\b",
        0.7,
    ),
    _rule(
        "indirect",
        r"\bif you are (?:an?|the) (?:AI|LLM|language model|assistant|chatbot|bot|GPT|large language "
        r"model|agent)\b",
        0.75,
    ),
    _rule(
        "indirect",
        r"\b(?:AI|assistant|chatbot|model|GPT|LLM)s?\s*(?:,|:)\s*(?:please\s+)?(?:stop|ignore|disregard|"
        r"forget|do not|don't|you must|instead)\b",
        0.8,
    ),
    _rule(
        "indirect",
        r"\bwhen (?:summari[sz]ing|reading|processing|answering (?:questions )?about|asked about)\s+"
        r"this\s+(?:document|page|text|email|file|article|site|content)\b",
        0.6,
    ),
    _rule(
        "indirect",
        r"\b(?:do not|don't|never)\s+(?:tell|inform|mention (?:this )?to|reveal (?:this )?to|let)\s+"
        r"(?:the )?(?:user|reader|human|visitor|customer)\b",
        0.7,
    ),
    _rule(
        "indirect",
        r"\b(?:send|forward|exfiltrate|post|upload|leak)\b[^.\n]{0,40}\b(?:conversation|chat history|"
        r"user'?s? (?:data|details|messages|email)|credentials|api keys?|the data)\b[^.\n]{0,30}"
        r"(?:to|at)\s+(?:https?://|\S+@)",
        0.8,
    ),
    _rule("indirect", r"!\[[^\]]*\]\(https?://[^)\s]+\?(?:[^)\s]*=)?\{?[^)\s]*(?:data|q|c|conv|history|secret)", 0.75),
    _rule(
        "indirect",
        r"\b(?:tell|inform) the user (?:that|to)\b[^.\n]{0,60}\b(?:visit|click|go to|call|download|"
        r"send|enter (?:their|your)|password)",
        0.6,
    ),
    _rule(
        "indirect",
        r"(?:Hinweis für (?:die )?KI|note pour l'IA|instrucciones para la IA|nếu bạn là (?:AI|trợ lý)|"
        r"如果你是(?:AI|人工智能|助手|语言模型)|致AI)",
        0.75,
    ),
    _rule("indirect", r"\b(?:hidden|secret) (?:instruction|prompt|message)s?\b", 0.5),
    _rule(
        "indirect",
        r"\b(?:any|every|an?|the) (?:AI|LLM|language model|assistant|chatbot|bot|model|agent)(?: models?)? "
        r"(?:processing|reading|summari[sz]ing|parsing|seeing|analy[sz]ing) (?:this|these)\b",
        0.75,
    ),
    _rule(
        "indirect",
        r"\bif (?:an?|any|the) (?:AI|LLM|language model|assistant|chatbot|bot|model|agent) (?:is )?(?:reading|"
        r"processing|sees|reads)\b",
        0.75,
    ),
)

ENCODED_HINT = _rule(
    "encoded",
    r"\b(?:decode|decrypt|base64|rot13|rot-13|hex(?:adecimal)?)\b[^.\n]{0,60}\b(?:follow|execute|obey|do what|"
    r"carry out|run|comply|act on|perform)\b",
    0.55,
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){16,}\b")

# Words that every decoded attack the rules can catch contains one of; a decoded text without any
# is not searched.
_WORTH_DECODING = re.compile(
    r"ignor|disregard|forget|instruction|prompt|rule|restrict|system|dan\b|developer|jailbreak|filter|secret|password"
)
USER_RULES = (*OVERRIDE, *PROMPT_LEAK, *ROLEPLAY, *TOOL_SMUGGLING, ENCODED_HINT)
DOCUMENT_RULES = (*USER_RULES, *INDIRECT)
MAX_DECODED = 4  # encoded candidates decoded per text


@dataclass(frozen=True)
class InjectionResult:
    score: float
    findings: tuple[Finding, ...]

    @property
    def attacks(self) -> list[str]:
        return sorted({f.label for f in self.findings})


def _matches(text: str, rules: tuple[Rule, ...], offset: int = 0, span: tuple[int, int] | None = None) -> list[Finding]:
    found = []
    lowered = text.lower()
    for rule in rules:
        match = rule.pattern.search(text if rule.cased else lowered)
        if match is not None:
            start, end = span if span is not None else (match.start() + offset, match.end() + offset)
            found.append(Finding("injection", rule.attack, start, end, rule.weight))
    return found


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8 or sum(ch.isprintable() or ch.isspace() for ch in text) < 0.9 * len(text):
        return None
    return text


def _decoded(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Encoded stretches of the text, decoded: base64 and hex blocks, and the whole text as ROT13."""
    out: list[tuple[str, tuple[int, int]]] = []
    for match in list(_BASE64.finditer(text))[:MAX_DECODED]:
        chunk = match.group()
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(raw)) is not None:
            out.append((decoded, match.span()))
    for match in list(_HEX.finditer(text))[:MAX_DECODED]:
        try:
            raw = bytes.fromhex(re.sub(r"[ :]", "", match.group()))
        except ValueError:
            continue
        if (decoded := _printable(raw)) is not None:
            out.append((decoded, match.span()))
    out.append((codecs.encode(text, "rot13"), (0, len(text))))
    return out


def scan_injection(text: str, *, source: Source = "user") -> InjectionResult:
    rules = DOCUMENT_RULES if source == "document" else USER_RULES
    findings = _matches(text, rules)
    if not any(f.label in ("override", "prompt_leak") for f in findings):
        for decoded, span in _decoded(text):
            if not _WORTH_DECODING.search(decoded.lower()):
                continue  # nothing an attack would say: skip the rules (the ROT13 of plain text, mostly)
            for inner in _matches(decoded, (*OVERRIDE, *PROMPT_LEAK, *ROLEPLAY), span=span):
                findings.append(Finding("injection", "encoded", inner.start, inner.end, max(inner.score, 0.8)))
    score = 1.0
    for finding in findings:
        score *= 1.0 - finding.score
    return InjectionResult(round(1.0 - score, 3), tuple(findings))
