"""`censusbot staff import`: exit codes 0/1/2 and the report, run in-process on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli.main import main
from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.staff import Staff
from demo.roster import synthetic_roster, write_csv, write_xlsx
from tests.conftest import ZHENGZHOU

HEADER = "staff_id,name,role,unit_code,phone,org,valid_to,status\n"


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database with the Zhengzhou organisation loaded via the CLI."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["org", "load", str(ZHENGZHOU)]) == 0
    return sqlite_url


def stored(url: str) -> dict[str, tuple[str, str]]:
    """staff_id -> (phone, status) as stored."""
    async def read() -> dict[str, tuple[str, str]]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                rows = (await session.scalars(select(Staff))).all()
                return {s.staff_id: (s.phone, s.status) for s in rows}
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_all_rows_imported_exit_0(db: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rows = synthetic_roster(["410102", "410105"], per_unit=30, seed=3)
    path = write_csv(rows, tmp_path / "roster.csv")
    assert main(["staff", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "imported 60 rows (60 created, 0 updated, 0 unchanged), rejected 0 rows" in out
    assert "rejected:" not in out and len(out.splitlines()) < 5  # accepted rows summarised
    assert len(stored(db)) == 60
    xlsx = write_xlsx(rows, tmp_path / "roster.xlsx")
    assert main(["staff", "import", str(xlsx)]) == 0
    assert "imported 60 rows (0 created, 0 updated, 60 unchanged)" in capsys.readouterr().out


def test_some_rows_rejected_exit_1_good_rows_kept(db: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "ZZ-1,王伟,普查员,410102,13800000001,,,\n"
                    "ZZ-2,李娜,普查员,999999,13800000002,,,\n"
                    "ZZ-3,张敏,boss,410102,123,,,\n", encoding="utf-8")
    assert main(["staff", "import", str(path)]) == 1
    out = capsys.readouterr().out
    assert "rejected: Row 3, column unit_code: unit code 999999 is not in the organisation" in out
    assert "rejected: Row 4, column role: unknown role boss" in out
    assert "rejected: Row 4, column phone: 123 is not a valid phone number" in out
    assert "imported 1 rows (1 created, 0 updated, 0 unchanged), rejected 2 rows" in out
    assert stored(db) == {"ZZ-1": ("+8613800000001", "active")}


def test_revocation_by_reimport(db: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "ZZ-1,王伟,普查员,410102,13800000001,,,\n", encoding="utf-8")
    assert main(["staff", "import", str(path)]) == 0
    path.write_text(HEADER + "ZZ-1,王伟,普查员,410102,13800000001,,,注销\n", encoding="utf-8")
    assert main(["staff", "import", "--all", str(path)]) == 0
    out = capsys.readouterr().out
    assert "row 2: ZZ-1 updated (status)" in out
    assert stored(db)["ZZ-1"][1] == "revoked"


def test_dry_run_saves_nothing(db: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "ZZ-1,王伟,普查员,410102,13800000001,,,\n", encoding="utf-8")
    assert main(["staff", "import", "--dry-run", str(path)]) == 0
    assert "dry run: nothing was saved" in capsys.readouterr().out
    assert stored(db) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This file is a PNG image, not a roster"),
        (b"", "The file is empty."),
        ("姓名,电话\n王伟,13800000001\n".encode(), "required columns missing: staff_id, role"),
    ],
)
def test_unusable_file_exit_2(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              content: bytes, message: str) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    assert main(["staff", "import", str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "nothing was changed" in captured.err
    assert captured.out == ""
    assert stored(db) == {}


def test_missing_file_exit_2(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staff", "import", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_codes_refused_without_the_secret(db: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Codes made with a made-up key would never verify in the bot: refuse instead."""
    monkeypatch.delenv("CENSUSBOT_SECRET", raising=False)
    assert main(["staff", "codes", "--unit", "410100"]) == 2
    assert "CENSUSBOT_SECRET is not set" in capsys.readouterr().err
