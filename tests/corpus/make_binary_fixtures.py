"""Regenerate report.pdf and memo.docx in this folder (needs fpdf2 and python-docx).

Run `python tests/corpus/make_binary_fixtures.py`; the output is byte-for-byte stable, so a
re-run shows no diff unless the script or the libraries changed.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

REPORT_PAGES = [
    (
        "Quarterly Report: Harbour Ferry Service",
        "Summary. The ferry carried more passengers this quarter than in any quarter since "
        "the service began. Morning sailings were full on most weekdays, and the new "
        "timetable reduced waiting times at the mainland terminal. Page one marker: ALPHA.",
    ),
    (
        "Operations",
        "Both vessels completed their scheduled maintenance without delaying a sailing. "
        "Fuel use per crossing fell slightly after the hull cleaning in the second month. "
        "Three crossings were cancelled because of high winds. Page two marker: BRAVO.",
    ),
    (
        "Outlook",
        "Bookings for the summer season are ahead of last year. The board recommends a "
        "trial of a late evening sailing on Fridays and a review of bicycle capacity on "
        "the smaller vessel. Page three marker: CHARLIE.",
    ),
]


def make_pdf(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(FIXED_TIME)
    pdf.set_title("Quarterly Report")
    for title, body in REPORT_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, body, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.created = FIXED_TIME.replace(tzinfo=None)
    document.core_properties.modified = FIXED_TIME.replace(tzinfo=None)
    document.add_heading("Memo: Library Renovation", level=0)
    document.add_paragraph(
        "To all staff. The reading room will close for renovation from the first of March. "
        "This memo explains what changes and what stays the same."
    )
    document.add_heading("Timeline", level=1)
    document.add_paragraph(
        "Work starts with the roof and the windows, then the floor, then the shelving. "
        "The builders expect the whole job to take ten weeks."
    )
    table = document.add_table(rows=1, cols=3)
    header = table.rows[0].cells
    header[0].text, header[1].text, header[2].text = "Phase", "Weeks", "Area"
    for phase, weeks, area in [
        ("Roof and windows", "1-4", "Reading room"),
        ("Floor", "5-7", "Reading room"),
        ("Shelving", "8-10", "Stacks"),
    ]:
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = phase, weeks, area
    document.add_heading("Temporary arrangements", level=1)
    document.add_heading("Study space", level=2)
    document.add_paragraph(
        "The community hall will host a temporary study space with forty seats and power "
        "sockets at every table."
    )
    document.add_heading("Returns", level=2)
    document.add_paragraph("Book returns move to the side entrance on Mill Street.")
    document.add_paragraph("")  # an empty paragraph, which extraction skips
    document.add_paragraph("Questions go to the facilities team.")
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_stable_zip(buffer.getvalue()))


def _stable_zip(data: bytes) -> bytes:
    """The same zip with fixed member timestamps, so regenerating gives identical bytes."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            stable = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            stable.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(stable, source.read(info.filename))
    return out.getvalue()


if __name__ == "__main__":
    make_pdf(HERE / "report.pdf")
    make_docx(HERE / "memo.docx")
    print("wrote", HERE / "report.pdf", "and", HERE / "memo.docx")
