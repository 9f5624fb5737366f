"""Port types: what flows along an edge, and which connections make sense."""

from __future__ import annotations

from enum import StrEnum


class PortType(StrEnum):
    TEXT = "text"  # a string
    MESSAGES = "messages"  # a list of chat messages (LangChain BaseMessage)
    DOCUMENTS = "documents"  # a list of LangChain Documents with citation metadata
    JSON = "json"  # any JSON value
    ANY = "any"  # accepts anything (output, merge)


# source type -> target types it may feed. Documents and messages render to text where a
# prompt or an output wants text; text becomes one user message where messages are wanted;
# anything may feed ANY; JSON renders to text.
_COMPATIBLE: dict[PortType, frozenset[PortType]] = {
    PortType.TEXT: frozenset({PortType.TEXT, PortType.JSON, PortType.MESSAGES, PortType.ANY}),
    PortType.MESSAGES: frozenset({PortType.MESSAGES, PortType.TEXT, PortType.ANY}),
    PortType.DOCUMENTS: frozenset({PortType.DOCUMENTS, PortType.TEXT, PortType.ANY}),
    PortType.JSON: frozenset({PortType.JSON, PortType.TEXT, PortType.ANY}),
    PortType.ANY: frozenset({PortType.ANY, PortType.TEXT, PortType.JSON}),
}


def compatible(source: PortType, target: PortType) -> bool:
    return target in _COMPATIBLE[source]
