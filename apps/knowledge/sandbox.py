"""The parser process: `python -m apps.knowledge.sandbox FILE TYPE` prints the sections as JSON.

Invariant 8: uploaded files are only ever parsed here, in a child process that
`apps.knowledge.parsing` starts with an address-space and CPU-time limit and a wall-clock timeout.
A hostile file can at worst crash or exhaust this process; the worker reads a reason instead.
No Django here: the child imports only the LlamaIndex readers it needs.
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
MAX_ZIP_ENTRIES = 10_000
HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _sections(texts: list[tuple[str, int | None]]) -> list[dict[str, Any]]:
    return [{"text": text, "page": page} for text, page in texts if text and text.strip()]


def _check_zip(path: Path) -> None:
    """Refuse zip bombs before any reader inflates them (DOCX is a zip)."""
    if not zipfile.is_zipfile(path):
        raise Refused("corrupt_file", "The file is not a valid Word document (it is not a zip container).")
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise Refused(
                "decompression_bomb", f"The document holds {len(entries)} parts; the limit is {MAX_ZIP_ENTRIES}."
            )
        unzipped = sum(entry.file_size for entry in entries)
        packed = max(1, sum(entry.compress_size for entry in entries))
        if unzipped > MAX_UNZIPPED_BYTES or (unzipped > 10 * 1024 * 1024 and unzipped / packed > MAX_ZIP_RATIO):
            raise Refused(
                "decompression_bomb",
                f"The document would expand to {unzipped // (1024 * 1024)} MB from {packed // 1024} KB "
                "(a decompression bomb); it was not opened.",
            )
        if "word/document.xml" not in archive.namelist():
            raise Refused("corrupt_file", "The file is a zip archive but not a Word document.")


def parse_pdf(path: Path) -> list[dict[str, Any]]:
    import pypdf
    from llama_index.readers.file.docs.base import PDFReader

    if not path.read_bytes()[:1024].lstrip().startswith(b"%PDF"):
        raise Refused("corrupt_file", "The file is not a PDF (no %PDF header).")
    try:
        probe = pypdf.PdfReader(path)
        encrypted = probe.is_encrypted
    except Exception as exc:
        raise Refused("corrupt_file", f"The PDF cannot be read: {exc}") from None
    if encrypted:
        raise Refused("encrypted_pdf", "The PDF is encrypted (password-protected); upload an unprotected copy.")
    try:
        pages = PDFReader().load_data(path)
    except Exception as exc:
        raise Refused("corrupt_file", f"The PDF cannot be read: {exc}") from None
    return _sections([(page.text, number) for number, page in enumerate(pages, start=1)]) or _no_text(
        "The PDF has no extractable text (a scan?)."
    )


def parse_docx(path: Path) -> list[dict[str, Any]]:
    _check_zip(path)
    from llama_index.readers.file.docs.base import DocxReader

    try:
        documents = DocxReader().load_data(path)
    except Exception as exc:
        raise Refused("corrupt_file", f"The Word document cannot be read: {exc}") from None
    return _sections([(re.sub(r"\n{3,}", "\n\n", d.text), None) for d in documents])


def parse_text(path: Path) -> list[dict[str, Any]]:
    from llama_index.readers.file.flat.base import FlatReader

    try:
        documents = FlatReader().load_data(path)
    except UnicodeDecodeError:
        raise Refused("corrupt_file", "The file is not UTF-8 text.") from None
    return _sections([(d.text, None) for d in documents])


def parse_csv(path: Path) -> list[dict[str, Any]]:
    from llama_index.readers.file.tabular.base import CSVReader

    try:
        documents = CSVReader(concat_rows=True).load_data(path)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused("corrupt_file", f"The CSV cannot be read: {exc}") from None
    return _sections([(d.text, None) for d in documents])


def parse_html(path: Path) -> list[dict[str, Any]]:
    """BeautifulSoup (what LlamaIndex's HTML reader uses), keeping headings as Markdown `#` lines
    so the heading-aware chunker and citations see the document's structure."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
    except Exception as exc:
        raise Refused("corrupt_file", f"The HTML cannot be read: {exc}") from None
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    for name, level in HEADING_TAGS.items():
        for tag in soup.find_all(name):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all(["p", "li", "tr", "pre", "blockquote", "div", "br"]):
        tag.insert_after("\n")
    root = soup.body or soup
    text = re.sub(r"[ \t]+", " ", root.get_text())
    text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
    return _sections([(text, None)])


def _no_text(message: str) -> list[dict[str, Any]]:
    raise Refused("no_text", message)


PARSERS = {
    "pdf": parse_pdf,
    "docx": parse_docx,
    "markdown": parse_text,
    "text": parse_text,
    "csv": parse_csv,
    "html": parse_html,
}


def main(argv: list[str]) -> int:
    path, file_type = Path(argv[1]), argv[2]
    try:
        parser = PARSERS.get(file_type)
        if parser is None:
            raise Refused("unsupported_type", f"Files of type {file_type!r} are not supported.")
        sections = parser(path)
        if not sections:
            raise Refused("no_text", "The file contains no text.")
        result: dict[str, Any] = {"sections": sections}
    except Refused as refused:
        result = {"error": refused.code, "message": refused.message}
    except MemoryError:
        result = {"error": "too_large_to_parse", "message": "Parsing the file needed more memory than allowed."}
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
