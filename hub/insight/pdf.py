"""The monthly report as a PDF, drawn by fpdf2 (pure Python, no browser or system library
needed on the office machine) with the DejaVu Sans font that ships with matplotlib, so names
and dashes outside Latin-1 print as written. The chart is the weekly report's PNG."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from hub.insight.areas import month_label, short_day
from hub.insight.monthly import MonthlyReport
from hub.insight.participation import LEVEL_LABELS, Level, counted, median_minutes
from hub.insight.scorecard import HOURS, RATE, Part
from hub.insight.sla import SlaCount, median_days
from hub.insight.weekly import draw_chart


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _value(part: Part) -> str:
    if part.value is None:
        return "-"
    if part.unit == RATE:
        return counted(part.numerator, part.denominator)
    if part.unit == HOURS:
        return f"{part.value:.1f} jam (dari {part.denominator})".replace(".", ",", 1)
    return f"{part.value:g}"


def _sla_cells(label: str, count: SlaCount) -> list[str]:
    verify, resolve = median_days(count.days_to_verify), median_days(count.days_to_resolve)
    return [
        label,
        str(count.tickets),
        counted(count.verified_on_time, count.verify_measured),
        counted(count.resolved_on_time, count.resolve_measured),
        str(count.overdue_open),
        "-" if verify is None else f"{verify:g}",
        "-" if resolve is None else f"{resolve:g}",
    ]


def _heading(pdf: Any, text: str, size: int = 13) -> None:
    pdf.set_font("DejaVu", "B", size)
    pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)


def _table(pdf: Any, header: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=5) as grid:
        head = grid.row()
        for cell in header:
            head.cell(cell)
        for values in rows:
            row = grid.row()
            for cell in values:
                row.cell(cell)
    pdf.ln(3)


def _participation(pdf: Any, report: MonthlyReport, month: str) -> None:
    total, levels = report.summary.total, report.summary.levels
    _heading(pdf, "Partisipasi ketua RT")
    median = median_minutes(total.ack_minutes)
    lines = [
        f"Ketua RT: {report.summary.members} ("
        + ", ".join(f"{label} {levels[key]}" for key, label in LEVEL_LABELS.items())
        + ")",
        f"Dikonfirmasi: {counted(total.acknowledged, total.ack_asked)}",
        f"Dibaca: {counted(total.read, total.broadcasts)}",
        f"Median waktu konfirmasi: {'-' if median is None else f'{median:g} menit'}",
        f"Suara jajak pendapat: {counted(total.poll_votes, total.polls)}",
    ]
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    if report.weeks:
        png = draw_chart(report.weeks, f"Konfirmasi per minggu, {month}", "Dikonfirmasi (%)")
        pdf.image(io.BytesIO(png), w=170)
        pdf.ln(2)
    if report.silent:
        _heading(pdf, "Ketua RT yang perlu dihubungi", 11)
        _table(
            pdf,
            ["Nama", "Wilayah", "Tingkat", "Dikonfirmasi", "Telepon"],
            [[r.name, r.area_path or "", "tak terjangkau" if r.level == Level.UNREACHABLE
              else "pasif", counted(r.tally.acknowledged, r.tally.ack_asked), r.phone or ""]
             for r in report.silent],
            (30, 55, 25, 35, 30),
        )  # fmt: skip


def _scorecard(pdf: Any, report: MonthlyReport) -> None:
    _heading(pdf, "Rapor lima dimensi")
    for dimension in report.scorecard.dimensions:
        _heading(pdf, dimension.label, 11)
        rows = [[p.label, _value(p), p.formula] for p in dimension.parts]
        if dimension.combined is not None and dimension.combined.value is not None:
            value = f"{round(dimension.combined.value * 100)}%"
            rows.append(["Gabungan", value, dimension.combined.formula])
        _table(pdf, ["Bagian", "Nilai", "Rumus"], rows, (45, 40, 90))
        for note in dimension.notes:
            pdf.multi_cell(0, 5, f"Catatan {note.area}: {note.text}", new_x="LMARGIN",
                           new_y="NEXT")  # fmt: skip


def _sla(pdf: Any, report: MonthlyReport) -> None:
    _heading(pdf, "Tiket menurut kategori (SLA, hari kerja)")
    rows = [_sla_cells(r.label, r.count) for r in report.sla.rows if r.count.tickets]
    rows.append(_sla_cells("Semua", report.sla.total))
    _table(
        pdf,
        ["Kategori", "Tiket", "Diperiksa tepat waktu", "Ditutup tepat waktu", "Lewat batas",
         "Median periksa", "Median tutup"],
        rows,
        (38, 14, 34, 34, 18, 19, 18),
    )  # fmt: skip


def draw_pdf(report: MonthlyReport, title: str, hub_name: str) -> bytes:
    """The PDF's bytes (CPU-bound: call it in a thread)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    month = month_label(report.month)
    _heading(pdf, f"Laporan partisipasi dan layanan: {month}", 15)
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(
        0, 6,
        f"{title}\n{short_day(report.period.first)} - {short_day(report.period.last)} · {hub_name}",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(2)
    _participation(pdf, report, month)
    _scorecard(pdf, report)
    _sla(pdf, report)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(
        0, 4,
        "Rasio selalu ditulis bersama jumlahnya; tingkat ketua RT ditetapkan setelah cukup "
        "pengumuman. Rumus tiap bagian rapor tertulis di sampingnya.",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    return bytes(pdf.output())


async def report_pdf(report: MonthlyReport, title: str, hub_name: str) -> bytes:
    return await asyncio.to_thread(draw_pdf, report, title, hub_name)
