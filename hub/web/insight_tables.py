"""The participation tables as the dashboard shows them and as CSV or XLSX downloads.

One definition per table (its columns in Bahasa Indonesia, then a row per item), shared by the
pages and the API's `?format=csv|xlsx`, so a download holds exactly what the page shows. Every
file goes through hub/core/exports.py: no cell a spreadsheet could run as a formula.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.core.errors import ValidationFailed
from hub.core.exports import csv_writer, write_xlsx
from hub.insight.areas import AreaTotal, Ranked, Week
from hub.insight.participation import LEVEL_LABELS, Level, MemberRow, Period, Tally, figures

FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Table:
    name: str  # names the file: partisipasi-<name>-<from>-<to>.csv
    header: Sequence[str]
    rows: list[list[Any]]


# The figures every row carries, in this order, after the row's own columns.
FIGURE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("broadcasts", "Pengumuman"),
    ("failed", "Gagal terkirim"),
    ("read", "Dibaca"),
    ("read_rate", "Rasio baca"),
    ("ack_asked", "Diminta konfirmasi"),
    ("acknowledged", "Dikonfirmasi"),
    ("ack_rate", "Rasio konfirmasi"),
    ("ack_rate_low", "Batas bawah rasio konfirmasi (95%)"),
    ("median_ack_minutes", "Median menit sampai konfirmasi"),
    ("reminders", "Pengingat"),
    ("opted_out", "Berhenti berlangganan"),
    ("polls", "Jajak pendapat"),
    ("poll_votes", "Suara"),
    ("complaints", "Aduan"),
    ("service_requests", "Permohonan layanan"),
)


def _figures(t: Tally) -> list[Any]:
    shown = figures(t)
    return [_round(shown[key]) for key, _ in FIGURE_COLUMNS]


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def level_label(level: Level | None) -> str:
    return LEVEL_LABELS[level.value if level else "insufficient"]


def members_table(rows: Iterable[MemberRow]) -> Table:
    header = ["Nama", "Wilayah", "Masih menjabat", "Tingkat", "Telepon"]
    return Table(
        "ketua-rt",
        [*header, *(label for _, label in FIGURE_COLUMNS)],
        [
            [r.name, r.area_path or "", "ya" if r.holds_seat else "tidak", level_label(r.level),
             r.phone or "", *_figures(r.tally)]
            for r in rows
        ],
    )  # fmt: skip


def _levels(t: AreaTotal) -> list[int]:
    return [t.levels[key] for key in LEVEL_LABELS]


LEVEL_COLUMNS = [f"Ketua RT {label}" for label in LEVEL_LABELS.values()]


def areas_table(totals: Iterable[AreaTotal]) -> Table:
    return Table(
        "wilayah",
        ["Wilayah", "Jenis", "Ketua RT", *LEVEL_COLUMNS, *(label for _, label in FIGURE_COLUMNS)],
        [
            [t.area.path, t.area.kind.value, t.rt_heads, *_levels(t), *_figures(t.total)]
            for t in totals
        ],
    )


def ranking_table(ranked: Iterable[Ranked]) -> Table:
    header = ["Peringkat", "Wilayah", "Ketua RT", *LEVEL_COLUMNS]
    return Table(
        "peringkat",
        [*header, *(label for _, label in FIGURE_COLUMNS)],
        [
            [r.rank if r.rank is not None else "", r.total.area.path, r.total.rt_heads,
             *_levels(r.total), *_figures(r.total.total)]
            for r in ranked
        ],
    )  # fmt: skip


def weeks_table(weeks: Iterable[Week]) -> Table:
    return Table(
        "mingguan",
        ["Minggu mulai", "Pengumuman", "Dibaca", "Rasio baca", "Diminta konfirmasi",
         "Dikonfirmasi", "Rasio konfirmasi"],
        [
            [w.start.isoformat(), w.broadcasts, w.read, _round(w.read_rate), w.ack_asked,
             w.acknowledged, _round(w.ack_rate)]
            for w in weeks
        ],
    )  # fmt: skip


def wanted_format(query: Any) -> str | None:
    """`?format=csv|xlsx` (None: the page or JSON); 422 for anything else."""
    wanted = query.get("format", "")
    if wanted in ("", "json", "html"):
        return None
    if wanted not in FORMATS:
        raise ValidationFailed("format: csv or xlsx", field="format")
    return str(wanted)


_UNSAFE = re.compile(r"[^a-z0-9-]+")


def download(table: Table, fmt: str, period: Period, area: str = "") -> web.Response:
    """The table as a file to save, named by what it holds."""
    parts = ["partisipasi", table.name, _UNSAFE.sub("-", area.lower()).strip("-"),
             period.first.isoformat(), period.last.isoformat()]  # fmt: skip
    filename = "-".join(p for p in parts if p) + f".{fmt}"
    writers: dict[str, Callable[[Table], tuple[bytes, str]]] = {"csv": _csv, "xlsx": _xlsx}
    body, content_type = writers[fmt](table)
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8" if fmt == "csv" else None,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv(table: Table) -> tuple[bytes, str]:
    stream = io.StringIO()
    writer = csv_writer(stream, lineterminator="\r\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    # With the byte order mark, Excel opens the file as UTF-8 (names with é, ñ stay whole).
    return ("\ufeff" + stream.getvalue()).encode(), "text/csv"


def _xlsx(table: Table) -> tuple[bytes, str]:
    stream = io.BytesIO()
    write_xlsx(stream, table.header, table.rows)
    return stream.getvalue(), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
