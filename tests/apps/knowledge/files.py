"""Real documents made by the tests: PDF (fpdf2), DOCX (python-docx), Markdown, HTML, CSV, and
the bad files the sandbox must refuse."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from django.core.files.uploadedfile import SimpleUploadedFile

FILLER = (
    "Members of the cooperative meet on the first Monday of each month. Minutes are kept by the "
    "secretary and shared within a week. Questions about membership go to the front desk. "
)
PASSAGES = {
    "pdf": "The aurora observation permit costs forty two crowns and is valid for one winter season.",
    "docx": "Beekeepers must register every hive with the valley council before the spring equinox.",
    "md": "The lighthouse keeper rotates the fresnel lens manually during northern storms.",
    "html": "Glacier tours depart from the blue hut at dawn and return before the afternoon melt.",
}


def pdf_bytes(passage: str = PASSAGES["pdf"], *, pages: int = 3, passage_page: int = 2) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # the same bytes every time
    pdf.set_font("Helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {number}. " + FILLER * 3, new_x="LMARGIN", new_y="NEXT")
        if number == passage_page:
            pdf.multi_cell(0, 6, passage, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def encrypted_pdf_bytes() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Secret text", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def docx_bytes(passage: str = PASSAGES["docx"]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Valley council rules", level=1)
    document.add_paragraph(FILLER * 2)
    document.add_paragraph(passage)
    document.add_paragraph(FILLER)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def markdown_bytes(passage: str = PASSAGES["md"]) -> bytes:
    return (
        f"# Coastal handbook\n\n{FILLER}\n\n## Lighthouse\n\n### Storm duty\n\n{passage}\n\n## Harbour\n\n{FILLER}\n"
    ).encode()


def html_bytes(passage: str = PASSAGES["html"]) -> bytes:
    return (
        "<!doctype html><html><head><title>Tours</title><script>var tracking = 'glacier glacier';</script>"
        f"</head><body><h1>Mountain tours</h1><p>{FILLER}</p><h2>Glacier walks</h2><p>{passage}</p></body></html>"
    ).encode()


def csv_bytes() -> bytes:
    return b"name,role\nAda,engineer\nGrace,admiral\n"


def zip_bomb_docx() -> bytes:
    """A .docx whose one part inflates 1000:1 to 300 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(300):
                part.write(block)
    return out.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def good_files() -> list[SimpleUploadedFile]:
    return [
        upload("permits.pdf", pdf_bytes()),
        upload("council.docx", docx_bytes()),
        upload("coast.md", markdown_bytes()),
        upload("tours.html", html_bytes()),
    ]
