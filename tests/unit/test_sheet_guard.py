"""Untrusted spreadsheets: refused before parsing, parsed in a process with a budget."""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from openpyxl import Workbook

from bot.services.reports.xlsx import read_report_xlsx
from bot.services.shared import sandbox, sheet_guard
from bot.services.shared.sheet_guard import SheetLimits, SheetRefused, check_xlsx


def small_workbook() -> bytes:
    """An ordinary one-sheet workbook."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["hello", 1])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rewrite(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The workbook with some parts replaced (or added)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = change.pop(info.filename, None) if info.filename in change else None
            dst.writestr(info.filename, body if body is not None else src.read(info.filename))
        for name, body in change.items():
            dst.writestr(name, body or b"")
    return out.getvalue()


def declared_bomb() -> bytes:
    """A few KB that declare a sheet of 1,048,576 rows by 16,384 columns."""
    data = small_workbook()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    sheet = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', sheet)
    return rewrite(data, {"xl/worksheets/sheet1.xml": sheet})


def zip_bomb() -> bytes:
    """A workbook carrying a part that unpacks 1,000 times its packed size."""
    return rewrite(small_workbook(), {"xl/media/image1.bin": b"\0" * (8 * 1024 * 1024)})


def test_an_ordinary_workbook_passes() -> None:
    check_xlsx(small_workbook(), SheetLimits())


def test_the_declared_dimension_is_refused() -> None:
    data = declared_bomb()
    assert len(data) < 10_000
    with pytest.raises(SheetRefused) as err:
        check_xlsx(data, SheetLimits())
    assert err.value.message == sheet_guard.DECLARED_TOO_BIG
    assert err.value.params["rows"] == 1048576 and err.value.params["cols"] == 16384


def test_a_zip_bomb_is_refused() -> None:
    with pytest.raises(SheetRefused) as err:
        check_xlsx(zip_bomb(), SheetLimits())
    assert err.value.message == sheet_guard.ZIP_BOMB


def test_size_and_unpacked_total_are_refused() -> None:
    with pytest.raises(SheetRefused) as err:
        check_xlsx(small_workbook(), SheetLimits(max_bytes=1000))
    assert err.value.message == sheet_guard.TOO_BIG
    with pytest.raises(SheetRefused) as err:
        check_xlsx(zip_bomb(), SheetLimits(max_unpacked=1024 * 1024))
    assert err.value.message == sheet_guard.UNPACKS_TOO_BIG


def test_not_a_zip_is_refused_as_not_a_workbook() -> None:
    with pytest.raises(SheetRefused) as err:
        check_xlsx(b"PK\x03\x04 broken", SheetLimits())
    assert err.value.message == sheet_guard.NOT_XLSX


def test_rows_beyond_the_limit_are_refused_while_reading() -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for n in range(30):
        ws.append([n])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(SheetRefused) as err:
        read_report_xlsx(buf.getvalue(), "en", SheetLimits(max_rows=20))
    assert err.value.message == sheet_guard.TOO_MANY_ROWS


def hog() -> int:
    """Allocate far more than the budget."""
    blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]
    return len(blocks)


def spin() -> None:
    """Never finish."""
    while True:
        time.sleep(0.01)


def boom(_data: bytes) -> None:
    """Raise a domain error in the child."""
    raise SheetRefused(sheet_guard.TOO_BIG, size="9", limit="2")


def test_the_worker_has_a_memory_budget() -> None:
    with pytest.raises(sandbox.WorkerFailed) as err:
        sandbox.run_blocking(hog, memory=512 * 1024 * 1024, seconds=30)
    assert err.value.reason == "memory"


def test_the_worker_has_a_time_budget() -> None:
    started = time.monotonic()
    with pytest.raises(sandbox.WorkerFailed) as err:
        sandbox.run_blocking(spin, memory=512 * 1024 * 1024, seconds=1.0)
    assert err.value.reason == "time" and time.monotonic() - started < 10


def test_domain_errors_come_back_from_the_worker() -> None:
    with pytest.raises(SheetRefused) as err:
        sandbox.run_blocking(boom, b"", memory=512 * 1024 * 1024, seconds=30)
    assert err.value.params == {"size": "9", "limit": "2"}
