"""Untrusted spreadsheets: cheap checks before any parser sees the file.

An XLSX file is a ZIP archive of XML parts. Before it is opened we check, from the ZIP
directory and the first bytes of each sheet only: the file size, the number of parts, the
total unpacked size, the compression ratio of every part (a "zip bomb" packs gigabytes into
kilobytes), and each sheet's declared dimension (`<dimension ref="A1:XFD1048576"/>` makes
parsers allocate every cell). Each refusal names the rule and the limit (`SheetRefused`).
Parsing then runs in a separate process with a memory and time budget
(bot/services/shared/sandbox.py).
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.services.shared import sandbox
from bot.services.shared.errors import DomainError

DIMENSION_RE = re.compile(
    rb"<(?:\w+:)?dimension\s+ref=\"\$?([A-Z]{1,3})\$?(\d{1,7})(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?\"")
SHEET_PART_RE = re.compile(r"^xl/worksheets/[^/]+\.xml$")
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class SheetLimits:
    """What an uploaded spreadsheet may be, and what parsing it may cost."""

    max_bytes: int = 2 * 1024 * 1024
    max_parts: int = 300
    max_unpacked: int = 60 * 1024 * 1024
    max_ratio: float = 150.0  # unpacked / packed, for parts larger than `ratio_floor`
    ratio_floor: int = 1024 * 1024
    max_rows: int = 5000
    max_cols: int = 60
    memory_bytes: int = 1024 * 1024 * 1024  # address space of the parsing process
    seconds: float = 20.0  # wall-clock budget of the parsing process


REPORT_LIMITS = SheetLimits()
ROSTER_LIMITS = SheetLimits(max_bytes=40 * 1024 * 1024, max_unpacked=400 * 1024 * 1024,
                            max_rows=300_000, max_cols=60, memory_bytes=4 * 1024 ** 3,
                            seconds=300.0)


class SheetRefused(DomainError):
    """The file breaks one of the limits; nothing was read from it."""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"


def column_index_from_string(letters: str) -> int:
    """1 for A, 27 for AA, 16384 for XFD."""
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - 64)
    return index


def declared_size(head: bytes) -> tuple[int, int] | None:
    """(rows, columns) a sheet's XML declares in its <dimension>, if it declares one."""
    m = DIMENSION_RE.search(head)
    if not m:
        return None
    c1, r1, c2, r2 = m.groups()
    first_col, first_row = column_index_from_string(c1.decode()), int(r1)
    last_col = column_index_from_string(c2.decode()) if c2 else first_col
    last_row = int(r2) if r2 else first_row
    return (max(last_row, first_row), max(last_col, first_col))


def N_(message: str) -> str:
    """Mark a message id for translation (translated where it is shown)."""
    return message


TOO_BIG = N_("The file is %(size)s MB; at most %(limit)s MB is accepted.")
TOO_MANY_PARTS = N_("The workbook has %(count)s parts; at most %(limit)s are accepted. Save it "
                    "again as a plain .xlsx file.")
UNPACKS_TOO_BIG = N_("The workbook unpacks to %(size)s MB; at most %(limit)s MB is accepted.")
ZIP_BOMB = N_("The workbook is compressed %(ratio)s times, which only a damaged or malicious "
              "file does; it was not opened.")
DECLARED_TOO_BIG = N_("A sheet of the workbook declares %(rows)s rows and %(cols)s columns; at "
                      "most %(max_rows)s rows and %(max_cols)s columns are accepted. Delete the "
                      "empty rows and columns and save it again.")
NOT_XLSX = N_("This file is not an Excel workbook (.xlsx). Send /report template for the form "
              "to fill in.")
TOO_MANY_ROWS = N_("The sheet has more than %(max_rows)s rows or %(max_cols)s columns; split it "
                   "or delete the empty rows and columns.")
WORKER_MESSAGES = {
    "memory": N_("Reading this workbook needed more memory than an uploaded file may use, so "
                 "it was refused. Save only the form as a plain .xlsx file and send it again."),
    "time": N_("Reading this workbook took longer than an uploaded file may take, so it was "
               "refused. Save only the form as a plain .xlsx file and send it again."),
    "crash": N_("This workbook is damaged and cannot be read. Save it again as a plain .xlsx "
                "file and send it again."),
}


def check_xlsx(data: bytes, limits: SheetLimits) -> None:
    """Refuse a workbook that is too big, a zip bomb, or declares an oversized sheet."""
    if len(data) > limits.max_bytes:
        raise SheetRefused(TOO_BIG, size=_mb(len(data)), limit=_mb(limits.max_bytes))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_parts:
                raise SheetRefused(TOO_MANY_PARTS, count=len(infos), limit=limits.max_parts)
            unpacked = sum(i.file_size for i in infos)
            if unpacked > limits.max_unpacked:
                raise SheetRefused(UNPACKS_TOO_BIG, size=_mb(unpacked),
                                   limit=_mb(limits.max_unpacked))
            for info in infos:
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
                    raise SheetRefused(ZIP_BOMB, ratio=int(ratio))
            for info in infos:
                if not SHEET_PART_RE.match(info.filename):
                    continue
                with zf.open(info) as part:
                    size = declared_size(part.read(HEAD_BYTES))
                if size and (size[0] > limits.max_rows or size[1] > limits.max_cols):
                    raise SheetRefused(DECLARED_TOO_BIG, rows=size[0], cols=size[1],
                                       max_rows=limits.max_rows, max_cols=limits.max_cols)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise SheetRefused(NOT_XLSX) from exc


def check_rows(count: int, cols: int, limits: SheetLimits) -> None:
    """Refuse a sheet whose actual rows or columns exceed the limits (counted while reading)."""
    if count > limits.max_rows or cols > limits.max_cols:
        raise SheetRefused(TOO_MANY_ROWS, max_rows=limits.max_rows, max_cols=limits.max_cols)


def _check_then_parse(func: Callable[..., Any], data: bytes, limits: SheetLimits,
                      args: tuple[Any, ...]) -> Any:
    check_xlsx(data, limits)
    try:
        return sandbox.run_blocking(func, data, *args, memory=limits.memory_bytes,
                                    seconds=limits.seconds)
    except sandbox.WorkerFailed as exc:
        raise SheetRefused(WORKER_MESSAGES.get(exc.reason, WORKER_MESSAGES["crash"])) from exc


async def parse_untrusted(func: Callable[..., Any], data: bytes, *args: Any,
                          limits: SheetLimits = REPORT_LIMITS) -> Any:
    """Check `data`, then run `func(data, *args)` in a limited worker process; the event loop
    stays free meanwhile. SheetRefused (or the parser's own DomainError) on a bad file."""
    return await asyncio.to_thread(_check_then_parse, func, data, limits, args)
