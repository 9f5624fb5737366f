"""The parser process: `python -m apps.knowledge.sandbox FILE TYPE` prints the sections as JSON;
`python -m apps.knowledge.sandbox --serve` is a pooled worker answering one request a line.

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


NOISE_TAGS = [
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "form", "button", "select",
    "input", "dialog", "nav", "aside",
]  # fmt: skip
NOISE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar", "toolbar"}
NOISE_NAMES = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|breadcrumbs?|sidebar|sidenav|toc|tocs|table-of-contents|"
    r"footer|masthead|related|relbar|pagination|pager|prev|next|skip|cookies?|share|social|headerlink|"
    r"edit-?this(?:-page)?|site-header|page-header|page-footer|site-footer)(?:$|[-_\s])",
    re.IGNORECASE,
)
LINK_DENSE = 0.7  # share of a block's text inside links above which it is a link list (nav, TOC)
TABLE_HEADER_EVERY = 20  # rows: a long table repeats its header row so each chunk has one


def _heading_anchor(tag: Any) -> str:
    """The id a link to this heading uses: its own, a child anchor's, or its section's."""
    if tag.get("id"):
        return str(tag["id"])
    inner = tag.find(lambda t: t.name == "a" and (t.get("id") or t.get("name")))
    if inner is not None:
        return str(inner.get("id") or inner.get("name"))
    parent = tag.parent
    if parent is not None and parent.name in ("section", "div", "article") and parent.get("id"):
        first = parent.find(list(HEADING_TAGS))
        if first is tag:
            return str(parent["id"])
    return ""


def _table_text(table: Any) -> str:
    """Cells separated by ' | ', one row a line; the header row repeated every
    TABLE_HEADER_EVERY rows so a chunk cut from a long table keeps its column names."""
    rows = []
    for row in table.find_all("tr"):
        cells = [re.sub(r"\s+", " ", cell.get_text(" ", strip=True)) for cell in row.find_all(["th", "td"])]
        if any(cells):
            rows.append((cells, bool(row.find("th")) or row.find_parent("thead") is not None))
    if not rows:
        return ""
    header = " | ".join(rows[0][0]) if rows[0][1] else ""
    lines = []
    for i, (cells, _) in enumerate(rows):
        if header and i and i % TABLE_HEADER_EVERY == 0:
            lines.append(header)
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def _is_noise(tag: Any, total: int) -> bool:
    if tag.name in HEADING_TAGS or tag.name in ("html", "body", "main", "article"):
        return False
    role = str(tag.get("role") or "").lower()
    names = " ".join([*(tag.get("class") or []), str(tag.get("id") or "")])
    named = role in NOISE_ROLES or NOISE_NAMES.search(names) is not None
    page_frame = tag.name in ("header", "footer") and tag.find_parent(["article", "main"]) is None
    if not named and not page_frame:
        return False
    # never drop most of the page (a wrapper named "has-sidebar" holds the content)
    return len(tag.get_text(" ", strip=True)) < total / 2


def _is_link_list(tag: Any) -> bool:
    links = tag.find_all("a")
    if len(links) < 3:
        return False
    text = len(tag.get_text(" ", strip=True))
    linked = sum(len(a.get_text(" ", strip=True)) for a in links)
    return text > 0 and linked / text >= LINK_DENSE and text < 5000


def parse_html(path: Path) -> list[dict[str, Any]]:
    """BeautifulSoup, structure-aware: navigation, site headers/footers, sidebars, tables of
    contents and other link lists dropped; headings kept as Markdown `#` lines (with their
    anchors) so the heading-aware chunker and citations see the structure; table cells separated;
    code blocks fenced; the <title> kept as the document's title."""
    return _html_sections(path.read_text(encoding="utf-8", errors="replace"))


def _html_sections(markup: str) -> list[dict[str, Any]]:
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(markup, "html.parser")
    except Exception as exc:
        raise Refused("corrupt_file", f"The HTML cannot be read: {exc}") from None
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(NOISE_TAGS):
        tag.decompose()
    root = soup.find("main") or soup.find(True, {"role": "main"})
    if root is None:
        articles = soup.find_all("article")
        root = articles[0] if len(articles) == 1 else (soup.body or soup)
    total = len(root.get_text(" ", strip=True))
    for tag in root.find_all(True):
        if tag.decomposed:
            continue
        if _is_noise(tag, total) or (tag.name in ("ul", "ol", "div", "p", "table") and _is_link_list(tag)):
            tag.decompose()
    for tag in root.find_all("table"):
        tag.replace_with(f"\n\n{_table_text(tag)}\n\n")
    for tag in root.find_all("pre"):
        tag.replace_with(f"\n\n```\n{tag.get_text().strip(chr(10))}\n```\n\n")
    anchors: dict[str, str] = {}
    for name, level in HEADING_TAGS.items():
        for tag in root.find_all(name):
            text = tag.get_text(" ", strip=True)
            anchor = _heading_anchor(tag)
            if text and anchor:
                anchors.setdefault(text, anchor)
            tag.replace_with(f"\n\n{'#' * level} {text}\n\n" if text else "\n")
            if not title and level == 1:
                title = text
    for tag in root.find_all("li"):
        tag.insert_before("\n- ")
    for tag in root.find_all(["p", "li", "tr", "blockquote", "div", "br", "dt", "dd", "section"]):
        tag.insert_after("\n")
    text = re.sub(r"[ \t]+", " ", root.get_text())
    text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
    sections = _sections([(text, None)])
    if sections:
        sections[0].update({"anchors": anchors, "title": title[:255]})
    return sections


MIN_MAIN_CHARS = 200  # less main content than this: trafilatura missed it; the whole page is parsed


def parse_web(path: Path) -> list[dict[str, Any]]:
    """A crawled web page: trafilatura finds the main content (dropping navigation, headers,
    footers, comments and boilerplate that carry no class names), keeping headings, lists, tables
    and code as HTML; that HTML then goes through `parse_html`. Heading anchors and the <title>
    come from the original page (trafilatura drops ids). A page where trafilatura finds too little
    is parsed whole."""
    import trafilatura

    markup = path.read_text(encoding="utf-8", errors="replace")
    main = trafilatura.extract(
        markup,
        output_format="html",
        include_tables=True,
        include_formatting=True,
        include_links=False,
        include_comments=False,
        include_images=False,
        favor_recall=True,
    )
    whole = _html_sections(markup)
    if not main or len(re.sub(r"<[^>]+>|\s+", "", main)) < MIN_MAIN_CHARS:
        return whole
    sections = _html_sections(main)
    if sections and whole:
        sections[0]["anchors"] = whole[0].get("anchors", {})
        sections[0]["title"] = whole[0].get("title", "") or sections[0].get("title", "")
    return sections or whole


MAX_LINKS_PER_PAGE = 2000


def extract_links(path: Path) -> dict[str, Any]:
    """The crawler's link extraction, kept out of the worker like all parsing of fetched bytes:
    `path` is a JSON manifest [{"file", "url"}]; answers, per page, its absolute http(s) links
    (after <base href>, fragments dropped) and whether <meta name="robots"> says nofollow/noindex."""
    from urllib.parse import urldefrag, urljoin

    from bs4 import BeautifulSoup

    pages = json.loads(path.read_text())
    out = []
    for page in pages:
        markup = (path.parent / page["file"]).read_text(encoding="utf-8", errors="replace")
        soup = BeautifulSoup(markup, "html.parser")
        robots = " ".join(
            str(m.get("content") or "").lower()
            for m in soup.find_all("meta", attrs={"name": re.compile("^(robots|trellisbot)$", re.I)})
        )
        base = soup.find("base", href=True)
        base_url = urljoin(page["url"], str(base["href"])) if base is not None else page["url"]
        links: list[str] = []
        if "nofollow" not in robots and "none" not in robots:
            for anchor in soup.find_all("a", href=True):
                rel = " ".join(anchor.get("rel") or []).lower()
                if "nofollow" in rel:
                    continue
                url = urldefrag(urljoin(base_url, str(anchor["href"]).strip())).url
                if url.startswith(("http://", "https://")) and url not in links:
                    links.append(url)
                if len(links) >= MAX_LINKS_PER_PAGE:
                    break
        out.append({"links": links, "noindex": "noindex" in robots or "none" in robots})
    return {"pages": out}


MAX_SITEMAP_URLS = 50_000


def extract_sitemap(path: Path) -> dict[str, Any]:
    """A sitemap (urlset) or sitemap index: its <loc> URLs. Python's expat refuses entity
    expansion bombs; a file that is not XML answers `corrupt_file`."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(path.read_bytes())  # noqa: S314 - sandboxed, expat >= 2.4 limits expansion
    except ElementTree.ParseError as exc:
        raise Refused("corrupt_file", f"The sitemap is not valid XML: {exc}") from None
    index = root.tag.rsplit("}", 1)[-1] == "sitemapindex"
    locs = [
        (element.text or "").strip()
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == "loc" and (element.text or "").strip()
    ][:MAX_SITEMAP_URLS]
    return {"sitemaps": locs, "urls": []} if index else {"sitemaps": [], "urls": locs}


EXTRACTORS = {"links": extract_links, "sitemap": extract_sitemap}


def _no_text(message: str) -> list[dict[str, Any]]:
    raise Refused("no_text", message)


PARSERS = {
    "pdf": parse_pdf,
    "docx": parse_docx,
    "markdown": parse_text,
    "text": parse_text,
    "csv": parse_csv,
    "html": parse_html,
    "web": parse_web,
}


def handle(path: Path, mode: str) -> dict[str, Any]:
    """One request: the sections of a file, an extractor's answer, or {"error", "message"}."""
    try:
        if mode in EXTRACTORS:
            return EXTRACTORS[mode](path)
        parser = PARSERS.get(mode)
        if parser is None:
            raise Refused("unsupported_type", f"Files of type {mode!r} are not supported.")
        sections = parser(path)
        if not sections:
            raise Refused("no_text", "The file contains no text.")
        return {"sections": sections}
    except Refused as refused:
        return {"error": refused.code, "message": refused.message}
    except MemoryError:
        return {"error": "too_large_to_parse", "message": "Parsing the file needed more memory than allowed."}


def _cpu_budget(seconds: int) -> None:
    """This request may use `seconds` more CPU time: the soft RLIMIT_CPU moves up to the CPU time
    used so far plus that (never above the hard limit the parent set when it started the worker),
    so a runaway parse gets SIGXCPU as a one-off child would."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def serve() -> int:
    """A pooled worker (`python -m apps.knowledge.sandbox --serve`): one JSON request a line on
    stdin ({"path", "mode", "cpu_seconds"}), one JSON answer a line on stdout, until stdin closes
    (the parent went away or recycled the worker). It runs under the same address-space and CPU
    limits as a one-off child; after a MemoryError it answers and exits (its heap is not trusted
    for the next document)."""
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        _cpu_budget(int(request["cpu_seconds"]))
        result = handle(Path(request["path"]), str(request["mode"]))
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()
        if result.get("error") == "too_large_to_parse":
            return 0
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--serve"]:
        return serve()
    sys.stdout.write(json.dumps(handle(Path(argv[1]), argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
