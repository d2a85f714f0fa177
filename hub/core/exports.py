"""Cells of every spreadsheet the hub writes (CSV and XLSX), made safe to open in Excel or Calc.

A roster name such as `=HYPERLINK("http://evil","klik")`, `+1+1` or `@SUM(A1)` would otherwise
run as a formula on the staff member's computer (CSV/formula injection). Every CSV the hub writes
goes through `csv_writer`, every XLSX through `write_xlsx`; nothing calls `csv.writer` directly.

CSV: a text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
single quote, as OWASP recommends. Phone numbers (`+62812...`) are text cells like any other and
get the quote too: without it a spreadsheet reads `+62812...` as the number 62812... (the `+`
lost, often shown as 6.28E+10), with it the number stays whole and readable, and `hub roster
import` drops the quote again (`unquote_cell`), so an exported file can be imported back.

XLSX: every text cell is written as a string cell, which spreadsheets never evaluate, with
Excel's own "quote prefix" flag on those that begin like a formula so that editing the cell does
not turn it into one either; the value itself is kept exactly (no visible quote), and phone
numbers stay text (`+62812...`, not a number).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO, Any

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

# What a spreadsheet takes for the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(text: str) -> bool:
    """True when a spreadsheet could take the text for a formula."""
    return text.startswith(FORMULA_STARTS)


def safe_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs: `=1+1` is written `'=1+1`; None is ""."""
    if value is None:
        return ""
    if isinstance(value, int | float):  # bool included: numbers are values, never formulas
        return value
    text = str(value)
    return "'" + text if looks_like_formula(text) else text


def unquote_cell(text: str) -> str:
    """A cell read back as it was before `safe_cell`: `'+62812...` is `+62812...` again."""
    if text.startswith("'") and looks_like_formula(text[1:]):
        return text[1:]
    return text


class SafeCsvWriter:
    """`csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, stream: IO[str], **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([_one_line_break(safe_cell(value)) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def _one_line_break(cell: object) -> object:
    # The csv module quotes a field with a bare CR only when CR is in the line terminator: with
    # "\n" one would end the row unquoted, and what follows ("=HYPERLINK(...)") would begin a
    # row of its own, past safe_cell. LF is always quoted.
    if isinstance(cell, str) and "\r" in cell:
        return cell.replace("\r\n", "\n").replace("\r", "\n")
    return cell


def csv_writer(stream: IO[str], **fmtparams: Any) -> SafeCsvWriter:
    """The one way the hub writes CSV: like `csv.writer`, with formula-safe cells."""
    return SafeCsvWriter(stream, **fmtparams)


def write_xlsx(stream: IO[bytes], header: Sequence[str], rows: Iterable[Iterable[object]]) -> None:
    """Write one sheet: the header, then the rows; text as text cells, never as formulas."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([_xlsx_cell(sheet, value) for value in header])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(stream)


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value
    # openpyxl refuses control characters, and would store "=..." as a formula: force a string.
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell
