"""Spreadsheet and CSV cells that are data only: no formula from anything a person typed.

OWASP "CSV injection": a cell starting with = + - @ tab or carriage return may be read as a
formula by Excel, LibreOffice or WPS. Every text cell the bot writes goes through `safe_text`
(such a cell gets a leading single quote, as OWASP advises), and XLSX text cells are stored
with the string type explicitly so openpyxl never writes them as formulas. Numbers and dates
the bot validated itself stay numbers and dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
MAX_CELL = 32767  # Excel's limit on the characters of one cell


def safe_text(value: Any) -> str:
    """`value` as text that no spreadsheet program evaluates (empty for None)."""
    if value is None:
        return ""
    text = str(value)[:MAX_CELL - 1]
    if text.startswith(FORMULA_LEADS):
        return "'" + text
    return text


def safe_value(value: Any) -> Any:
    """Numbers, dates and None as they are; anything else through `safe_text`."""
    if value is None:
        return None
    if isinstance(value, int | float | date | datetime) and not isinstance(value, bool):
        return value
    return safe_text(value)


def csv_row(values: Iterable[Any]) -> list[str]:
    """A CSV row of data-only text cells."""
    return [safe_text(v) if not isinstance(v, int | float) or isinstance(v, bool) else str(v)
            for v in values]


def append_row(ws: Any, values: Sequence[Any]) -> None:
    """Append a row to an openpyxl worksheet; text cells are stored as strings, never formulas."""
    ws.append([safe_value(v) for v in values])
    row = ws.max_row
    for col, value in enumerate(values, start=1):
        if isinstance(safe_value(value), str):
            ws.cell(row=row, column=col).data_type = "s"
