"""Sections -> chunks, deterministically (a resumed job must cut exactly the same chunks).

Strategies (LlamaIndex node parsers): sentence-aware with overlap (`SentenceSplitter`),
Markdown/heading-aware (`MarkdownNodeParser`, oversized sections split by sentences), and fixed
token windows (`TokenTextSplitter`). Every chunk keeps its page, heading path and character
offsets in the document's text (sections joined by a blank line).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from apps.knowledge.models import ChunkStrategy
from apps.knowledge.parsing import Section

SECTION_GAP = "\n\n"
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
MIN_CHUNK_SIZE, MAX_CHUNK_SIZE = 32, 2048


@dataclass(frozen=True)
class ChunkDraft:
    text: str
    page: int | None
    start_char: int
    end_char: int
    token_count: int
    heading_path: list[str] = field(default_factory=list)
    anchor: str = ""


@dataclass(frozen=True)
class ChunkSettings:
    strategy: str = ChunkStrategy.SENTENCE
    size: int = 256
    overlap: int = 32

    def __post_init__(self) -> None:
        if not MIN_CHUNK_SIZE <= self.size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} tokens")
        if not 0 <= self.overlap < self.size // 2 + 1:
            raise ValueError("chunk overlap must be at least 0 and at most half the chunk size")


@cache
def _tokenizer() -> Any:
    from llama_index.core.utils import get_tokenizer

    return get_tokenizer()


def count_tokens(text: str) -> int:
    return len(_tokenizer()(text))


def _splitter(settings: ChunkSettings) -> Any:
    from llama_index.core.node_parser import SentenceSplitter, TokenTextSplitter

    if settings.strategy == ChunkStrategy.TOKEN:
        return TokenTextSplitter(chunk_size=settings.size, chunk_overlap=settings.overlap, separator=" ")
    return SentenceSplitter(chunk_size=settings.size, chunk_overlap=settings.overlap)


def _pieces(text: str, settings: ChunkSettings) -> list[str]:
    """The chunk texts of one section, in order."""
    splitter = _splitter(settings)
    if settings.strategy != ChunkStrategy.MARKDOWN:
        return [piece for piece in splitter.split_text(text) if piece.strip()]
    from llama_index.core import Document as LlamaDocument
    from llama_index.core.node_parser import MarkdownNodeParser

    pieces: list[str] = []
    for node in MarkdownNodeParser().get_nodes_from_documents([LlamaDocument(text=text)]):
        body = node.get_content()
        if count_tokens(body) <= settings.size:
            pieces.append(body)
        else:
            pieces += splitter.split_text(body)
    return [piece for piece in pieces if piece.strip()]


def _headings(text: str) -> tuple[list[int], list[list[str]]]:
    """Where each Markdown heading starts and the heading path in force from there."""
    offsets: list[int] = []
    paths: list[list[str]] = []
    stack: list[tuple[int, str]] = []
    for match in HEADING.finditer(text):
        level = len(match.group(1))
        stack = [(lvl, title) for lvl, title in stack if lvl < level] + [(level, match.group(2).strip())]
        offsets.append(match.start())
        paths.append([title for _, title in stack])
    return offsets, paths


def chunk_sections(
    sections: Sequence[Section], settings: ChunkSettings, *, limit: int | None = None
) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    base = 0
    for section in sections:
        offsets, paths = _headings(section.text)
        cursor = 0
        for piece in _pieces(section.text, settings):
            found = section.text.find(piece, cursor)
            if found < 0:  # the splitter normalised whitespace: fall back to its first words
                found = max(cursor, section.text.find(piece[:40], cursor))
            start, end = found, min(len(section.text), found + len(piece))
            cursor = start + 1
            # The section the chunk's text ends in: where its last words (the passage) belong.
            where = bisect.bisect_right(offsets, max(start, end - 1)) - 1
            path = paths[where] if where >= 0 else []
            drafts.append(
                ChunkDraft(
                    text=piece,
                    page=section.page,
                    start_char=base + start,
                    end_char=base + end,
                    token_count=count_tokens(piece),
                    heading_path=path,
                    anchor=_anchor(section, path),
                )
            )
            if limit is not None and len(drafts) >= limit:
                return drafts
        base += len(section.text) + len(SECTION_GAP)
    return drafts


def chunker_warm() -> None:
    """Import and build what the first document would (llama_index's splitters and tokenizer:
    about 3 s on a 2-core machine), so that a worker's first ingestion is not slower than the rest."""
    # Longer than a chunk, so that the sentence splitter's tokenizer (nltk punkt) loads too.
    sample = "# Warm-up\n\n" + "One sentence. Another sentence, a little longer than the first one. " * 20
    for strategy in ChunkStrategy:
        chunk_sections([Section(text=sample, page=None)], ChunkSettings(strategy, MIN_CHUNK_SIZE, 0))


def _anchor(section: Section, path: list[str]) -> str:
    """The innermost heading of the path that has an anchor (HTML ids)."""
    for title in reversed(path):
        if title in section.anchors:
            return section.anchors[title]
    return ""


def embedding_text(text: str, *, title: str, heading_path: list[str]) -> str:
    """What is embedded for a chunk: the document's title and the heading path, then the text
    (a passage read on its own often lacks the subject its headings name)."""
    if heading_path[:1] == [title]:
        title = ""
    prefix = "\n".join(part for part in (title, " > ".join(heading_path)) if part)
    return f"{prefix}\n\n{text}" if prefix else text


@dataclass(frozen=True)
class PreviewChunk:
    text: str
    page: int | None
    heading_path: list[str]
    start_char: int
    end_char: int
    token_count: int
    overlap_chars: int
    overlap_tokens: int


def chunk_preview(
    sections: Sequence[Section], settings: ChunkSettings, *, limit: int
) -> tuple[list[PreviewChunk], bool]:
    """The first `limit` chunks the sections would make, each with how much of it repeats the
    previous chunk's end (the overlap), and whether there were more."""
    drafts = chunk_sections([x for x in sections if x.text.strip()], settings, limit=limit + 1)
    chunks: list[PreviewChunk] = []
    previous_end = -1
    for draft in drafts[:limit]:
        overlap = max(0, min(previous_end - draft.start_char, len(draft.text)))
        chunks.append(
            PreviewChunk(
                text=draft.text,
                page=draft.page,
                heading_path=draft.heading_path,
                start_char=draft.start_char,
                end_char=draft.end_char,
                token_count=draft.token_count,
                overlap_chars=overlap,
                overlap_tokens=count_tokens(draft.text[:overlap]) if overlap else 0,
            )
        )
        previous_end = draft.end_char
    return chunks, len(drafts) > limit
