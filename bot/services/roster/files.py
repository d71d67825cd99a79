"""Read a roster file (CSV in UTF-8 / UTF-8 with BOM / GB18030 / UTF-16, or XLSX) into raw rows.

This module knows nothing about roster columns: it turns bytes into a list of
(row number, cells) and refuses, with a specific reason, anything that is not a usable table.
Row numbers are those a spreadsheet program shows (1-based, blank rows counted).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.services.shared import sheet_guard
from bot.services.shared.errors import DomainError


def N_(message: str) -> str:
    """Mark a string for translation without translating it now."""
    return message


class RosterFileError(DomainError):
    """The file as a whole cannot be used as a roster; nothing was changed."""

    def render(self, gettext: Any, *, escape: bool = True) -> str:
        """The message in the caller's language; the file-kind parameter is translated too."""
        params = {k: gettext(v) if k == "what" else v for k, v in self.params.items()}
        text: str = gettext(self.message)
        return text % params if params else text


# Leading bytes of formats people send by mistake, and what to call them.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", N_("a PNG image")),
    (b"\xff\xd8\xff", N_("a JPEG image")),
    (b"GIF87a", N_("a GIF image")),
    (b"GIF89a", N_("a GIF image")),
    (b"%PDF", N_("a PDF document")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", N_("an old Excel .xls or an encrypted workbook")),
    (b"\x1f\x8b", N_("a gzip archive")),
    (b"7z\xbc\xaf\x27\x1c", N_("a 7-Zip archive")),
    (b"Rar!\x1a\x07", N_("a RAR archive")),
    (b"{\\rtf", N_("an RTF document")),
)
TEXT_DELIMITERS = (",", "\t", ";", "，")


@dataclass(frozen=True)
class RawTable:
    """The rows of a file: (spreadsheet row number, cells), blank rows already left out."""

    kind: str  # "csv" or "xlsx"
    encoding: str | None
    rows: list[tuple[int, tuple[Any, ...]]]
    sheet: str | None = None


def _is_blank(cells: tuple[Any, ...]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read_tables(data: bytes) -> list[RawTable]:
    """File bytes as tables (one per non-empty XLSX sheet, one for CSV); RosterFileError if none."""
    if not data.strip(b" \t\r\n\x00") or data in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                                   codecs.BOM_UTF16_BE):
        raise RosterFileError(N_("The file is empty."))
    for magic, what in SIGNATURES:
        if data.startswith(magic):
            raise RosterFileError(
                N_("This file is %(what)s, not a roster: send a CSV or XLSX file."), what=what)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _read_xlsx(data)
    return [_read_csv(data)]


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise RosterFileError(
        N_("Cannot read the file's text: it is neither UTF-8 nor GB18030. Save it as CSV "
           "(UTF-8) or XLSX and try again."))


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f")
    return "\x00" in sample or bad > max(2, len(sample) // 1000)


def _read_csv(data: bytes) -> RawTable:
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if not utf16 and b"\x00" in data[:65536]:
        raise RosterFileError(
            N_("This file is not a CSV or XLSX table (it holds binary data)."))
    text, encoding = _decode(data)
    if _looks_binary(text):
        raise RosterFileError(
            N_("This file is not a CSV or XLSX table (it holds binary data)."))
    head = [ln for ln in text[:65536].splitlines()[:50]
            if ln.strip() and not ln.lstrip().startswith("#")][:10]
    counts = {d: sum(ln.count(d) for ln in head) for d in TEXT_DELIMITERS}
    delimiter = max(TEXT_DELIMITERS, key=lambda d: counts[d])
    if not counts[delimiter]:
        delimiter = ","
    rows: list[tuple[int, tuple[Any, ...]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            cells = tuple(record)
            if not _is_blank(cells):
                rows.append((number, cells))
    except csv.Error as exc:
        raise RosterFileError(
            N_("The CSV file is malformed near row %(row)s: %(reason)s."),
            row=reader.line_num, reason=str(exc)) from exc
    return RawTable(kind="csv", encoding=encoding, rows=rows)


def _xlsx_rows(ws: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    limits = sheet_guard.ROSTER_LIMITS
    for number, values in enumerate(ws.iter_rows(values_only=True,
                                                 max_row=limits.max_rows + 1,
                                                 max_col=limits.max_cols), start=1):
        sheet_guard.check_rows(number, 0, limits)
        cells = tuple(values)
        if not _is_blank(cells):
            yield number, cells


def _read_xlsx(data: bytes) -> list[RawTable]:
    from openpyxl import load_workbook  # imported lazily: only XLSX needs it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RosterFileError(N_("The file looks like a ZIP archive but is damaged.")) from exc
    if "xl/workbook.xml" not in names:
        raise RosterFileError(
            N_("This ZIP file is not an Excel workbook (XLSX): send a CSV or XLSX file."))
    try:
        sheet_guard.check_xlsx(data, sheet_guard.ROSTER_LIMITS)
    except sheet_guard.SheetRefused as exc:
        raise RosterFileError(exc.message, **exc.params) from exc
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        raise RosterFileError(
            N_("Cannot open the Excel workbook: %(reason)s."), reason=str(exc)[:200]) from exc
    try:
        sheets = []
        for ws in wb.worksheets:
            rows = list(_xlsx_rows(ws))
            if rows:
                sheets.append((ws.title, rows))
    except sheet_guard.SheetRefused as exc:
        raise RosterFileError(exc.message, **exc.params) from exc
    except Exception as exc:
        raise RosterFileError(
            N_("Cannot open the Excel workbook: %(reason)s."), reason=str(exc)[:200]) from exc
    finally:
        wb.close()
    if not sheets:
        raise RosterFileError(N_("The file is empty."))
    return [RawTable(kind="xlsx", encoding=None, rows=rows, sheet=title)
            for title, rows in sheets]
